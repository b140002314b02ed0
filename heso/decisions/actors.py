"""Who answers a decision, and with what: the identity principle in one place.

A vote or a settlement names the *member* who gave it and the *credential* they used. A name
in a request body is never an identity: it must be the caller's own, or a ``delegate`` key's
declared member. Channels answer for the approver their link, token or account belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from heso import errors
from heso.auth import members
from heso.auth.service import Principal


@dataclass(frozen=True)
class Actor:
    """The person answering (``email`` as the decision lists approvers) and how.

    ``via``: session, key, delegate, email, slack, token, device_key (a channel's name for the
    rest). ``credential`` names the exact credential (``session:<id>``, ``key:<id>``,
    ``slack:<user>``…). ``member_id`` is None only for an outside approver.
    """

    email: str
    member_id: str | None
    via: str
    credential: str
    delegate_key: str | None = None
    creator_key: str | None = None  # the API key or session the actor used, for separation of duties

    def ledger(self) -> dict[str, Any]:
        data = {"member_id": self.member_id, "member": self.email, "via": self.via, "credential": self.credential}
        if self.delegate_key:
            data["delegate_key"] = self.delegate_key
        return data


def of_caller(principal: Principal, resolved_by: str | None) -> Actor:
    """The actor of a REST resolve: the caller's member, or the member a delegate key names."""
    claimed = members.normalize_email(resolved_by) if resolved_by else None
    if principal.member_id is not None:
        assert principal.member_email is not None  # a member's credential carries the member's address
        if claimed is not None and claimed != principal.member_email:
            raise errors.Forbidden(
                f"resolved_by must be the caller ({principal.member_email}), not {resolved_by!r}: "
                "nobody answers in someone else's name.", details={"resolved_by": resolved_by})
        return Actor(email=principal.member_email, member_id=principal.member_id, via=principal.credential,
                     credential=f"{principal.credential}:{principal.key_id}", creator_key=principal.key_id)
    if "delegate" in principal.scopes:
        if claimed is None:
            raise errors.ValidationFailed("A delegate key names the member it acts for in resolved_by.",
                                          details={"json": {"resolved_by": ["Required with a delegate key."]}})
        member = members.by_email(principal.team_id, claimed)
        if member is None or member.status == "disabled":
            raise errors.Forbidden(f"{resolved_by!r} is not an active member of this team.",
                                   details={"resolved_by": resolved_by})
        return Actor(email=member.email, member_id=member.id, via="delegate",
                     credential=f"key:{principal.key_id}", delegate_key=principal.key_id,
                     creator_key=principal.key_id)
    raise errors.Forbidden(
        "This API key belongs to no member, so it cannot answer a decision: use a personal key "
        "(POST /v1/keys as the member, or heso keys create --member EMAIL), a session, or a channel "
        "(email link, Slack, an action token).")


def of_channel(team_id: str, approver: str, via: str, credential: str) -> Actor:
    """The actor behind a channel's answer for ``approver`` (the address its link or account names).

    A member answers as themselves; an address that is no member may answer only when the team
    allows outside approvers, and only through a per-person credential like this one.
    """
    member = members.by_email(team_id, approver)
    if member is not None:
        if member.status == "disabled":
            raise errors.Forbidden(f"{member.email} is disabled in this team.")
        return Actor(email=member.email, member_id=member.id, via=via, credential=credential)
    if not members.settings(team_id).outside_approvers:
        raise errors.Forbidden(f"{approver!r} is not a member of this team.")
    return Actor(email=approver, member_id=None, via=via, credential=credential)
