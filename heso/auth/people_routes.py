"""``/v1/auth`` (sign-in, sessions), ``/v1/members`` and ``/v1/teams/me/settings``."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from heso import errors
from heso.auth import accounts, members, sessions, signin
from heso.auth.access import current_principal, require
from heso.auth.models import Session
from heso.auth.people_schemas import (
    AccountLinkCodeSchema,
    InvitedMemberSchema,
    LinkedAccountListSchema,
    LinkSchema,
    MemberInviteSchema,
    MemberPageSchema,
    MemberQuerySchema,
    MemberSchema,
    MemberUpdateSchema,
    MeSchema,
    SessionStartedSchema,
    SignedOutSchema,
    SignInRequestSchema,
    SignInSentSchema,
    SignInVerifySchema,
    TeamSettingsSchema,
    TeamSettingsUpdateSchema,
)
from heso.extensions import db

auth_blp = Blueprint("auth", __name__, url_prefix="/v1/auth",
                     description="Sign in by email (code or link), sessions, sign out.")
members_blp = Blueprint("members", __name__, url_prefix="/v1/members",
                        description="The people of your team: invite, list, change roles, disable.")
teams_blp = Blueprint("teams", __name__, url_prefix="/v1/teams",
                      description="Your team's settings.")

ANY_MEMBER = ("approver", "ops", "viewer", "agent", "delegate")
_STARTED = SessionStartedSchema()


def _address() -> str:
    return request.remote_addr or "unknown"


def _started(signed_in: signin.SignedIn) -> Response:
    """The session as JSON, and as cookies for a browser."""
    response = jsonify(_STARTED.dump({
        "token": signed_in.token, "expires_at": signed_in.session.expires_at,
        "csrf_token": sessions.csrf_token(signed_in.session.id), "member": signed_in.member,
        "team": signed_in.team}))
    sessions.set_cookies(response, signed_in.token, signed_in.session.id)
    response.headers["Cache-Control"] = "no-store"
    return response


@auth_blp.route("/email/request")
class EmailRequest(MethodView):
    @auth_blp.doc(security=[])
    @auth_blp.arguments(SignInRequestSchema)
    @auth_blp.response(200, SignInSentSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Mail a sign-in code and link. The answer is the same whether or not the address is a member's."""
        signin.request_code(data["email"])
        return {"sent": True, "email": data["email"],
                "message": "If this address belongs to a member, a code and a link are on their way."}


@auth_blp.route("/email/verify")
class EmailVerify(MethodView):
    @auth_blp.doc(security=[])
    @auth_blp.arguments(SignInVerifySchema)
    @auth_blp.response(200, SessionStartedSchema)
    def post(self, data: dict[str, Any]) -> Response:
        """Trade the mailed code for a session (401 INVALID_CODE; 429 after too many wrong codes)."""
        return _started(signin.verify_code(data["email"], data["code"], _address(), data["team_id"],
                                           request.headers.get("User-Agent", "")))


@auth_blp.route("/link")
class SignInLink(MethodView):
    @auth_blp.doc(security=[])
    @auth_blp.arguments(LinkSchema)
    @auth_blp.response(200, SessionStartedSchema)
    def post(self, data: dict[str, Any]) -> Response:
        """Trade the mailed sign-in link's token for a session."""
        return _started(signin.use_link(data["token"], "sign_in", _address(), data["team_id"],
                                        request.headers.get("User-Agent", "")))


@auth_blp.route("/invite/accept")
class InviteAccept(MethodView):
    @auth_blp.doc(security=[])
    @auth_blp.arguments(LinkSchema)
    @auth_blp.response(200, SessionStartedSchema)
    def post(self, data: dict[str, Any]) -> Response:
        """Accept an invite (the token of the mailed link): the member becomes active and signed in."""
        return _started(signin.use_link(data["token"], "invite", _address(), None,
                                        request.headers.get("User-Agent", "")))


@auth_blp.route("/me")
class Me(MethodView):
    @require("admin", *ANY_MEMBER)
    @auth_blp.response(200, MeSchema)
    def get(self) -> dict[str, Any]:
        """Who is calling: the member (null for a key that belongs to nobody), team, credential, scopes."""
        principal = current_principal()
        session = db.session.get(Session, principal.key_id) if principal.credential == "session" else None
        return {"member": members.get(principal.team_id, principal.member_id) if principal.member_id else None,
                "team": members.settings(principal.team_id), "credential": principal.credential,
                "scopes": sorted(principal.scopes),
                "session_expires_at": session.expires_at if session else None,
                "csrf_token": sessions.csrf_token(session.id) if session else None}


def _signed_out(count: int) -> Response:
    response = jsonify({"signed_out": count})
    sessions.clear_cookies(response)
    return response


@auth_blp.route("/session")
class CurrentSession(MethodView):
    @require("admin", *ANY_MEMBER)
    @auth_blp.response(200, SignedOutSchema)
    def delete(self) -> Response:
        """Sign out: this session's token answers 401 from now on."""
        principal = current_principal()
        if principal.credential != "session":
            # 403, not 422: the request is well formed, its credential cannot do this (as for
            # DELETE /v1/auth/sessions with a team key).
            raise errors.Forbidden("Sign-out ends a session; this request used an API key "
                                   "(revoke a key with DELETE /v1/keys/{id}).")
        sessions.revoke(principal.team_id, principal.key_id)
        db.session.commit()
        return _signed_out(1)


@auth_blp.route("/sessions")
class AllSessions(MethodView):
    @require("admin", *ANY_MEMBER)
    @auth_blp.response(200, SignedOutSchema)
    def delete(self) -> Response:
        """Sign out everywhere: every session of the calling member ends."""
        principal = current_principal()
        if principal.member_id is None:
            raise errors.Forbidden("This key belongs to no member: there are no sessions to end.")
        count = sessions.revoke_all(principal.member_id)
        db.session.commit()
        return _signed_out(count)


def _caller_member_id() -> str:
    principal = current_principal()
    if principal.member_id is None:
        raise errors.Forbidden("This key belongs to no member: sign in, or use a personal key.")
    return principal.member_id


@auth_blp.route("/accounts")
class LinkedAccounts(MethodView):
    @require("admin", *ANY_MEMBER)
    @auth_blp.response(200, LinkedAccountListSchema)
    def get(self) -> dict[str, Any]:
        """The chat accounts (Telegram, Discord, …) you linked: a button pressed there answers as you."""
        return {"data": accounts.accounts_of(_caller_member_id())}


@auth_blp.route("/accounts/<string(maxlength=64):channel>/code")
class AccountLinkCode(MethodView):
    @require("admin", *ANY_MEMBER)
    @auth_blp.response(201, AccountLinkCodeSchema)
    def post(self, channel: str) -> dict[str, Any]:
        """A one-time code (15 minutes) that links the chat account you send it from to you."""
        from heso.channels import registry, service

        member_id = _caller_member_id()
        plugin = registry.get(channel)
        if plugin is None:
            raise errors.UnsupportedChannel(f"Channel {channel!r} is not installed.")
        code, expires_at = accounts.new_code(current_principal().team_id, member_id, channel)
        config = service.stored_config(current_principal().team_id, channel) or {}
        return {"channel": channel, "code": code, "expires_at": expires_at,
                "link_url": plugin.account_link_url(code, config)}


@auth_blp.route("/accounts/<string(maxlength=64):channel>")
class LinkedAccount(MethodView):
    @require("admin", *ANY_MEMBER)
    @auth_blp.response(204)
    def delete(self, channel: str) -> None:
        """Unlink your account in ``channel``: its buttons no longer answer as you."""
        accounts.unlink(_caller_member_id(), channel)


@members_blp.route("")
class Members(MethodView):
    @require("admin", "ops", "approver", "viewer")
    @members_blp.arguments(MemberQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @members_blp.response(200, MemberPageSchema)
    def get(self, **filters: Any) -> dict[str, Any]:
        """The team's members (invited, active and disabled)."""
        return {"data": members.list_members(current_principal().team_id, **filters), "has_more": False,
                "next_cursor": None}

    @require("admin")
    @members_blp.arguments(MemberInviteSchema)
    @members_blp.response(201, InvitedMemberSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Invite a person: an email with a single-use link, valid 7 days (409 if already a member)."""
        principal = current_principal()
        member = members.add(principal.team_id, data["email"], data["role"], data["name"],
                             invited_by=principal.member_email or f"key:{principal.key_id}")
        db.session.commit()
        member.invite_sent = signin.invite(member, members.settings(principal.team_id),
                                           principal.member_email or "An administrator")
        return member


@members_blp.route("/<member_id>")
class MemberById(MethodView):
    @require("admin", "ops", "approver", "viewer")
    @members_blp.response(200, MemberSchema)
    def get(self, member_id: str) -> Any:
        """One member."""
        return members.get(current_principal().team_id, member_id)

    @require("admin")
    @members_blp.arguments(MemberUpdateSchema, required=False)
    @members_blp.response(200, MemberSchema)
    def patch(self, data: dict[str, Any], member_id: str) -> Any:
        """Change role, name or status (disabled: their sessions and keys stop at once). The last active
        admin cannot be demoted or disabled (409)."""
        member = members.update(current_principal().team_id, member_id, **data)
        db.session.commit()
        return member


@members_blp.route("/<member_id>/invite")
class MemberReinvite(MethodView):
    @require("admin")
    @members_blp.response(200, InvitedMemberSchema)
    def post(self, member_id: str) -> Any:
        """Send a new invite link (the earlier one stops working); only for invited members."""
        principal = current_principal()
        member = members.get(principal.team_id, member_id)
        if member.status != "invited":
            raise errors.Conflict(f"{member.email} is {member.status}, not invited.")
        member.invite_sent = signin.invite(member, members.settings(principal.team_id),
                                           principal.member_email or "An administrator")
        return member


@teams_blp.route("/me/settings")
class TeamSettings(MethodView):
    @require("admin", *ANY_MEMBER)
    @teams_blp.response(200, TeamSettingsSchema)
    def get(self) -> Any:
        """The team's settings."""
        return members.settings(current_principal().team_id)

    @require("admin")
    @teams_blp.arguments(TeamSettingsUpdateSchema, required=False)
    @teams_blp.response(200, TeamSettingsSchema)
    def put(self, data: dict[str, Any]) -> Any:
        """Change the team's settings (fields left out keep their value)."""
        return members.update_settings(current_principal().team_id, data)
