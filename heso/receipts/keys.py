"""Register, list and revoke a team's Ed25519 public keys (operators and approvers)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from heso import errors
from heso.auth.service import Principal
from heso.extensions import db
from heso.ledger import service as ledger
from heso.models_base import rowcount
from heso.receipts import format as fmt
from heso.receipts.models import SigningKey
from heso.receipts.verifier import KeyInfo
from heso.timeutil import utcnow


def register(principal: Principal, kind: str, public_key: str, name: str, groups: list[str]) -> SigningKey:
    """Register a public key; a small-order, off-curve or already registered key is refused."""
    try:
        raw = bytes.fromhex(public_key)
    except ValueError:
        raw = b""
    if len(raw) != 32 or public_key != public_key.lower():
        raise errors.ValidationFailed("publicKey must be 64 lower-case hex digits (32 bytes).",
                                      details={"json": {"publicKey": ["Not 32 bytes of lower-case hex."]}})
    if not fmt.valid_public_key(raw):
        raise errors.ValidationFailed(
            "publicKey is not a usable Ed25519 key (small order, not on the curve or not canonical).",
            details={"json": {"publicKey": ["Refused: small-order or invalid point."]}})
    if kind == "operator" and groups:
        raise errors.ValidationFailed("groups are for approver keys only.",
                                      details={"json": {"groups": ["Only with kind 'approver'."]}})
    key_id = fmt.key_id(raw)
    if db.session.get(SigningKey, (principal.team_id, key_id)) is not None:
        raise errors.Conflict(f"Key {key_id} is already registered (a revoked key stays revoked).",
                              details={"keyId": key_id})
    key = SigningKey(team_id=principal.team_id, id=key_id, kind=kind, public_key=public_key, name=name,
                     groups=sorted(set(groups)), created_at=utcnow(), created_by=principal.key_id)
    db.session.add(key)
    ledger.append(principal.team_id, "signing_key.registered", key_id, actor=principal.key_id,
                  data={"kind": kind, "public_key": public_key, "name": name, "groups": key.groups})
    db.session.commit()
    return key


def own_keys(principal: Principal) -> list[SigningKey]:
    """The approver keys named by the caller's own address (their device keys), oldest first."""
    if principal.member_email is None:
        return []
    return list(db.session.scalars(
        select(SigningKey).where(SigningKey.team_id == principal.team_id, SigningKey.kind == "approver",
                                 func.lower(SigningKey.name) == principal.member_email.lower())
        .order_by(SigningKey.created_at, SigningKey.id)))


def own(principal: Principal, key_id: str) -> SigningKey:
    """One of the caller's own approver keys; another member's key (or none) answers 404."""
    key = db.session.get(SigningKey, (principal.team_id, key_id))
    if (key is None or key.kind != "approver" or principal.member_email is None
            or key.name.lower() != principal.member_email.lower()):
        raise errors.NotFound(f"No device key {key_id!r} of yours.")
    return key


def register_own(principal: Principal, public_key: str) -> SigningKey:
    """A member registers their own approver key (a device key made in their browser).

    It is named by the member's own address, never another's, and carries the groups an admin
    already gave that member's unrevoked approver keys: a member cannot put themselves in a
    group. ``POST /v1/keys/signing`` (admin) registers a key in any name with any groups; both
    go through :func:`register`, so its checks (curve, duplicates, ledger entry) are the same.
    """
    if principal.member_email is None or not principal.allows("approver"):
        raise errors.Forbidden("Only a member who approves registers a device key.")
    groups = sorted({group for key in own_keys(principal) if key.revoked_at is None for group in key.groups})
    return register(principal, "approver", public_key, principal.member_email, groups)


def get(team_id: str, key_id: str) -> SigningKey:
    key = db.session.get(SigningKey, (team_id, key_id))
    if key is None:
        raise errors.NotFound(f"No signing key {key_id!r}.")
    return key


def list_keys(team_id: str, kind: str | None = None, group: str | None = None) -> list[SigningKey]:
    query = select(SigningKey).where(SigningKey.team_id == team_id)
    if kind:
        query = query.where(SigningKey.kind == kind)
    keys = list(db.session.scalars(query.order_by(SigningKey.created_at, SigningKey.id)))
    return [key for key in keys if group is None or group in key.groups]


def revoke(principal: Principal, key_id: str) -> SigningKey:
    """Revoke a key: every receipt or approval it signs from now on is refused."""
    key = get(principal.team_id, key_id)
    now = utcnow()
    won = rowcount(db.session.execute(
        update(SigningKey).where(SigningKey.team_id == principal.team_id, SigningKey.id == key_id,
                                 SigningKey.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    )) == 1
    if won:
        ledger.append(principal.team_id, "signing_key.revoked", key_id, actor=principal.key_id, at=now, data={})
    db.session.commit()
    return db.session.get(SigningKey, (principal.team_id, key_id), populate_existing=True) or key


def key_infos(team_id: str) -> dict[str, KeyInfo]:
    """Every key of a team, for the verifier (one query per batch)."""
    rows = db.session.execute(
        select(SigningKey.id, SigningKey.kind, SigningKey.public_key, SigningKey.name, SigningKey.groups,
               SigningKey.revoked_at).where(SigningKey.team_id == team_id)
    ).all()
    return {row.id: KeyInfo(row.kind, bytes.fromhex(row.public_key), row.name, tuple(row.groups or ()),
                            row.revoked_at is not None) for row in rows}


def view(key: SigningKey) -> dict[str, Any]:
    return {"keyId": key.id, "kind": key.kind, "publicKey": key.public_key, "name": key.name,
            "groups": key.groups, "createdAt": key.created_at, "revokedAt": key.revoked_at}
