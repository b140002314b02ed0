"""Who may act: ``/agents`` (status, pause, revoke, invite), ``/keys`` (API keys), ``/members``.

Every write calls the service function of the matching REST route and needs that route's scope
(heso/agents/routes.py, heso/auth/routes.py, heso/auth/people_routes.py). Form input is
validated by the REST route's own schema; a mistake gives the form back with a message (422).
A secret (an agent's bootstrap token, a new API key) is in the one answer that creates it only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heso import errors
from heso.agents import service as agents_service
from heso.agents.schemas import BootstrapTokenCreateSchema, StatusSchema
from heso.auth import members as members_service
from heso.auth import service as keys_service
from heso.auth import signin
from heso.auth.models import ROLES
from heso.auth.people_schemas import MemberInviteSchema, MemberUpdateSchema
from heso.auth.schemas import KeyCreateSchema
from heso.console.base import blp, page, principal, render
from heso.extensions import db

PAGE_SIZE = 50
#: The REST routes' scopes for each write.
AGENT_WRITE = ("admin",)  # POST /v1/agents/bootstrap-tokens, /{id}/status, /{id}/revoke
KEY_CREATE = ("admin", "approver", "ops")  # POST /v1/keys
KEY_REVOKE = ("admin",)  # DELETE /v1/keys/{id}
MEMBER_WRITE = ("admin",)  # POST /v1/members, PATCH /v1/members/{id}


class FormError(Exception):
    """A form the member should fix: its message, and the status the page answers with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _flatten(messages: Any, field: str = "") -> list[str]:
    if isinstance(messages, dict):
        return [line for key, value in messages.items()
                for line in _flatten(value, field if isinstance(key, int) else str(key))]
    if isinstance(messages, list):
        return [line for value in messages for line in _flatten(value, field)]
    return [f"{field}: {messages}" if field and field != "_schema" else str(messages)]


def load(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` through the REST route's schema, or a :class:`FormError` naming each bad field."""
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise FormError("Check the form: " + "; ".join(_flatten(exc.messages)) + ".") from exc


def attempt(action: Callable[[], Any]) -> Any:
    """Run a service call; a refusal the member can fix (403, 409, 422) comes back as a form error."""
    try:
        return action()
    except errors.HesoError as exc:
        if exc.status in (403, 409, 422):
            db.session.rollback()
            raise FormError(exc.message, exc.status) from exc
        raise


# -- agents -----------------------------------------------------------------------------------

def _agents_page(status: int = 200, **extra: Any) -> Response:
    cursor = request.args.get("cursor") or None
    found, has_more = agents_service.list_agents(principal().team_id, limit=PAGE_SIZE, cursor=cursor)
    rows = [(agent, agents_service.is_online(agent)) for agent in found]
    return render("console/agents.html", status, title="Agents", agents=rows,
                  can_write=principal().allows(*AGENT_WRITE),
                  next_cursor=found[-1].id if has_more and found else None, **extra)


@blp.route("/agents")
@page("ops")
def agents() -> Response:
    return _agents_page()


@blp.route("/agents/invite", methods=["POST"])
@page(*AGENT_WRITE)
def agent_invite() -> Response:
    """As ``POST /v1/agents/bootstrap-tokens``: a one-time token, shown on this answer only."""
    try:
        data = load(BootstrapTokenCreateSchema(), {"name": request.form.get("name", "").strip()})
        row, token = attempt(lambda: agents_service.create_bootstrap_token(principal(), **data))
    except FormError as error:
        return _agents_page(error.status, invite_error=error.message, invite_name=request.form.get("name", ""))
    return _agents_page(201, bootstrap_token=token, bootstrap=row)


@blp.route("/agents/<string(maxlength=64):agent_id>/status", methods=["POST"])
@page(*AGENT_WRITE)
def agent_status(agent_id: str) -> BaseResponse:
    """As ``POST /v1/agents/{id}/status``: pause or resume (the agent gets the order in its inbox)."""
    agents_service.get_agent(principal().team_id, agent_id)  # another team's agent: 404 first
    try:
        data = load(StatusSchema(), {"status": request.form.get("status", ""),
                                     "reason": request.form.get("reason") or None})
        attempt(lambda: agents_service.set_status(principal().team_id, agent_id, data["status"], data["reason"],
                                                  actor=principal().key_id))
    except FormError as error:
        return _agents_page(error.status, agent_error=error.message)
    return redirect(url_for("console.agents"), 303)


@blp.route("/agents/<string(maxlength=64):agent_id>/revoke", methods=["POST"])
@page(*AGENT_WRITE)
def agent_revoke(agent_id: str) -> BaseResponse:
    """As ``POST /v1/agents/{id}/revoke``: the agent's keys answer 401 from now on."""
    agents_service.revoke(principal().team_id, agent_id, actor=principal().key_id)
    return redirect(url_for("console.agents"), 303)


# -- API keys ---------------------------------------------------------------------------------

def _keys_page(status: int = 200, **extra: Any) -> Response:
    who = principal()
    admin = who.allows("admin")
    # The full list is GET /v1/keys (admin); any other member sees their own personal keys.
    keys = keys_service.list_keys(who.team_id, member_id=None if admin else who.member_id)
    me = members_service.get(who.team_id, who.member_id or "")  # page() lets members only
    offered = [scope for scope in keys_service.SCOPES if scope in keys_service.ROLE_SCOPES.get(me.role, ())]
    return render("console/keys.html", status, title="API keys", keys=keys, offered=offered,
                  can_create=who.allows(*KEY_CREATE), can_revoke=who.allows(*KEY_REVOKE), **extra)


@blp.route("/keys")
@page("approver", "ops", "viewer")
def keys() -> Response:
    return _keys_page()


@blp.route("/keys", methods=["POST"])
@page(*KEY_CREATE)
def key_create() -> Response:
    """As ``POST /v1/keys`` by a member: a personal key within their role, its token shown this once."""
    who = principal()
    try:
        data = load(KeyCreateSchema(), {"name": request.form.get("name", "").strip(),
                                        "scopes": request.form.getlist("scopes")})
        data.pop("member_id", None)
        member = members_service.get(who.team_id, who.member_id or "")
        key, token = attempt(lambda: keys_service.create_key(who.team_id, member=member, **data))
        db.session.commit()
    except FormError as error:
        return _keys_page(error.status, form_error=error.message, form_name=request.form.get("name", ""),
                          form_scopes=request.form.getlist("scopes"))
    return _keys_page(201, created=key, token=token)


@blp.route("/keys/<string(maxlength=64):key_id>/revoke", methods=["POST"])
@page(*KEY_REVOKE)
def key_revoke(key_id: str) -> BaseResponse:
    """As ``DELETE /v1/keys/{id}``: it answers 401 KEY_REVOKED from now on."""
    keys_service.revoke_key(principal().team_id, key_id)
    db.session.commit()
    return redirect(url_for("console.keys"), 303)


# -- members ----------------------------------------------------------------------------------

def _members_page(status: int = 200, **extra: Any) -> Response:
    found = members_service.list_members(principal().team_id)
    return render("console/members.html", status, title="Members", members=found, roles=ROLES, **extra)


@blp.route("/members")
@page("admin")
def members() -> Response:
    invited = request.args.get("invited")
    return _members_page(invited=invited, mailed=request.args.get("mailed") == "1")


@blp.route("/members", methods=["POST"])
@page(*MEMBER_WRITE)
def member_invite() -> BaseResponse:
    """As ``POST /v1/members``: add the member and mail the invite link."""
    who = principal()
    form = {"email": request.form.get("email", "").strip(), "name": request.form.get("name", "").strip(),
            "role": request.form.get("role", "")}
    try:
        data = load(MemberInviteSchema(), form)
        member = attempt(lambda: members_service.add(who.team_id, data["email"], data["role"], data["name"],
                                                     invited_by=who.member_email or f"key:{who.key_id}"))
        db.session.commit()
    except FormError as error:
        return _members_page(error.status, invite_error=error.message, form=form)
    sent = signin.invite(member, members_service.settings(who.team_id), who.member_email or "An administrator")
    return redirect(url_for("console.members", invited=member.email, mailed=int(sent)), 303)


@blp.route("/members/<string(maxlength=64):member_id>", methods=["POST"])
@page(*MEMBER_WRITE)
def member_update(member_id: str) -> BaseResponse:
    """As ``PATCH /v1/members/{id}``: a new role, or disabled / enabled again."""
    team_id = principal().team_id
    members_service.get(team_id, member_id)  # another team's member: 404 first
    changes = {name: request.form[name] for name in ("role", "status") if name in request.form}
    try:
        data = load(MemberUpdateSchema(), changes)
        if not data:
            raise FormError("Check the form: choose a role, or disable or enable the member.")
        attempt(lambda: members_service.update(team_id, member_id, **data))
        db.session.commit()
    except FormError as error:
        return _members_page(error.status, member_error=error.message)
    return redirect(url_for("console.members"), 303)
