"""``/v1/keys``: admins manage their team's API keys."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from heso import errors
from heso.auth import members, service
from heso.auth.access import current_principal, require
from heso.auth.schemas import KeyCreatedSchema, KeyCreateSchema, KeyPageSchema, KeySchema, WhoAmISchema
from heso.extensions import db

blp = Blueprint("keys", __name__, url_prefix="/v1/keys",
                description="API keys of your team (admin scope; `/v1/keys/me`: any key).")


@blp.route("")
class Keys(MethodView):
    @require("admin")
    @blp.response(200, KeyPageSchema)
    def get(self) -> dict[str, Any]:
        """List the team's API keys (never their secrets)."""
        keys = service.list_keys(current_principal().team_id)
        return {"data": keys, "has_more": False, "next_cursor": None}

    @require("admin", "approver", "ops")
    @blp.arguments(KeyCreateSchema)
    @blp.response(201, KeyCreatedSchema)
    def post(self, data: dict) -> Any:
        """Create a key; the response holds the key itself, shown this once only.

        An admin creates team keys, or a member's personal key with ``member_id``. Any other
        member creates only personal keys for themselves, within their role."""
        principal = current_principal()
        member_id = data.pop("member_id", None)
        if not principal.allows("admin"):
            if principal.member_id is None or member_id not in (None, principal.member_id):
                raise errors.Forbidden("Only an admin creates team keys or another member's keys; "
                                       "a member creates personal keys for themselves.")
            member_id = principal.member_id
        member = members.get(principal.team_id, member_id) if member_id else None
        key, token = service.create_key(principal.team_id, member=member, **data)
        db.session.commit()
        key.key = token
        return key


@blp.route("/me")
class KeyMe(MethodView):
    @require(*service.SCOPES)
    @blp.response(200, WhoAmISchema)
    def get(self) -> dict[str, Any]:
        """The calling key itself (any scope): its id, scopes, team, expiry, and agent if it is an agent's."""
        return service.whoami(current_principal())


@blp.route("/<key_id>")
class KeyById(MethodView):
    @require("admin")
    @blp.response(200, KeySchema)
    def get(self, key_id: str) -> Any:
        """One key."""
        return service.get_key(current_principal().team_id, key_id)

    @require("admin")
    @blp.response(200, KeySchema)
    def delete(self, key_id: str) -> Any:
        """Revoke a key: it answers 401 KEY_REVOKED from now on."""
        key = service.revoke_key(current_principal().team_id, key_id)
        db.session.commit()
        return key
