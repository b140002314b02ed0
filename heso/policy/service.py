"""Bundle versions: upload, activate (or roll back), list, history, and the dry-run evaluator.

A version is immutable: uploading the same version with the same content is a no-op,
with different content a 409. Activation moves the team's head under its row lock and
records the change twice: in the activation history (which version was active when) and
in the team's hash-chained ledger, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from heso import errors
from heso.auth.service import Principal
from heso.extensions import db
from heso.ledger import service as ledger
from heso.policy import document, engine, floors, runtime
from heso.policy.models import DATABASE_SOURCE, PolicyActivation, PolicyBundle, PolicyHead
from heso.policy.vocabulary import Bundle
from heso.timeutil import isoformat, utcnow

LEDGER_SUBJECT = "policy"


def check_floors(bundle: Bundle) -> None:
    """Refuse (422) a bundle that loosens any of the operator's floors."""
    try:
        violation = floors.check(bundle, runtime.floors())
    except floors.Unverifiable as exc:
        field = {"rules": {str(exc.rule.index): {"effect": [str(exc)]}}} if exc.rule else {"default": [str(exc)]}
        raise errors.ValidationFailed(str(exc), details={"json": field, "floor": exc.floor.id}) from None
    if violation is not None:
        raise errors.ValidationFailed(violation.message(), details=violation.details())


def check_channels(bundle: Bundle) -> None:
    """Refuse (422) routing to a channel this server does not have: the decision could not be sent."""
    from heso.channels.registry import installed_channel_names

    installed = installed_channel_names()
    for rule in bundle.rules:
        if rule.approval and rule.approval.channel and rule.approval.channel not in installed:
            message = f"Channel {rule.approval.channel!r} is not installed; installed: {sorted(installed)}."
            raise errors.ValidationFailed(f"rules.{rule.index}.approval.channel: {message}", details={
                "json": {"rules": {str(rule.index): {"approval": {"channel": [message]}}}}})
    if bundle.default_approval and bundle.default_approval.channel and bundle.default_approval.channel not in installed:
        message = f"Channel {bundle.default_approval.channel!r} is not installed; installed: {sorted(installed)}."
        raise errors.ValidationFailed(f"default_approval.channel: {message}",
                                      details={"json": {"default_approval": {"channel": [message]}}})


def check_approvers(team_id: str, bundle: Bundle) -> None:
    """Refuse (422) a bundle routing to an address that is not a member of the team (unless the team
    allows outside approvers): its decisions could never be created."""
    from heso.auth import members

    approvals = [rule.approval for rule in bundle.rules if rule.approval] + [bundle.default_approval]
    named = {approver for approval in approvals if approval for approver in approval.approvers}
    # A routing hint that is an address names a person too (other hints route to the team's admins).
    named.update(approval.routing_hint for approval in approvals
                 if approval and not approval.approvers and approval.routing_hint and "@" in approval.routing_hint)
    if named:
        members.canonical_approvers(team_id, sorted(named), field="approval.approvers")


def validate(data: Any) -> Bundle:
    """Parse, validate and floor-check a bundle document (the one gate every bundle passes)."""
    bundle = document.load_bundle(data)
    check_floors(bundle)
    check_channels(bundle)
    return bundle


def _by_version(team_id: str, version: str) -> PolicyBundle | None:
    return db.session.scalars(
        select(PolicyBundle).where(PolicyBundle.team_id == team_id, PolicyBundle.version == version)
    ).one_or_none()


def get_bundle(team_id: str, version: str) -> PolicyBundle:
    row = _by_version(team_id, version)
    if row is None:
        raise errors.NotFound(f"No policy bundle version {version!r}.")
    return row


def _same_or_conflict(existing: PolicyBundle, bundle: Bundle) -> PolicyBundle:
    if existing.digest != bundle.digest:
        raise errors.Conflict(
            f"Version {bundle.version!r} already exists with different rules; give the new rules a new version.",
            details={"version": bundle.version, "digest": existing.digest},
        )
    return existing


def store(team_id: str, bundle: Bundle, source: str, actor: str,
          now: datetime | None = None) -> tuple[PolicyBundle, bool]:
    """Insert ``bundle`` as a new version in the caller's transaction; ``(row, created)``."""
    existing = _by_version(team_id, bundle.version)
    if existing is not None:
        return _same_or_conflict(existing, bundle), False
    check_approvers(team_id, bundle)  # new versions only: one stored before people keeps loading
    row = PolicyBundle(team_id=team_id, version=bundle.version, digest=bundle.digest, document=bundle.document,
                       rule_count=len(bundle.rules), source=source, created_at=now or utcnow(), created_by=actor)
    db.session.add(row)
    db.session.flush()
    ledger.append(team_id, "policy.bundle_stored", LEDGER_SUBJECT, actor=actor, at=row.created_at,
                  data={"version": row.version, "digest": row.digest, "rules": row.rule_count, "source": source})
    return row, True


def upload(principal: Principal, data: Any, activate: bool = False) -> tuple[PolicyBundle, bool]:
    """``PUT /v1/policy/bundles``: store a version (and optionally activate it)."""
    bundle = validate(data)
    try:
        row, created = store(principal.team_id, bundle, DATABASE_SOURCE, principal.key_id)
        if activate:
            activate_row(principal.team_id, row, principal.key_id, "upload")
        db.session.commit()
    except IntegrityError:
        # A concurrent upload of the same version (or first activation) won the race.
        db.session.rollback()
        row, created = _same_or_conflict(get_bundle(principal.team_id, bundle.version), bundle), False
        if activate:
            return activate_version(principal, bundle.version)[0], False
    return row, created


def lock_head(team_id: str) -> PolicyHead:
    """The team's head row, locked for this transaction (created on first use)."""
    query = select(PolicyHead).where(PolicyHead.team_id == team_id).with_for_update()
    head = db.session.scalars(query).one_or_none()
    if head is None:
        try:
            with db.session.begin_nested():  # a concurrent first activation may insert it first
                db.session.add(PolicyHead(team_id=team_id, source=DATABASE_SOURCE, poll_seconds=30))
        except IntegrityError:
            pass
        head = db.session.scalars(query).one()
    return head


def activate_row(team_id: str, row: PolicyBundle, actor: str, reason: str, now: datetime | None = None) -> bool:
    """Make ``row`` the active version in the caller's transaction; false if it already was."""
    head = lock_head(team_id)
    if head.bundle_id == row.id:
        return False
    now = now or utcnow()
    previous = head.version
    head.bundle_id, head.version, head.activated_at = row.id, row.version, now
    db.session.add(PolicyActivation(team_id=team_id, bundle_id=row.id, version=row.version, activated_at=now,
                                    activated_by=actor, reason=reason))
    ledger.append(team_id, "policy.activated", LEDGER_SUBJECT, actor=actor, at=now,
                  data={"version": row.version, "previous_version": previous, "digest": row.digest, "reason": reason})
    return True


def activate_version(principal: Principal, version: str) -> tuple[PolicyBundle, bool]:
    """Activate a stored version (a rollback is activating an older one); floors are re-checked."""
    row = get_bundle(principal.team_id, version)
    check_floors(document.load_bundle(row.document))
    changed = activate_row(principal.team_id, row, principal.key_id, "activate")
    db.session.commit()
    return row, changed


def head(team_id: str) -> PolicyHead | None:
    return db.session.get(PolicyHead, team_id, populate_existing=True)


def list_bundles(team_id: str, limit: int, cursor: int | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Versions, newest first, each marked active or not."""
    query = select(PolicyBundle).where(PolicyBundle.team_id == team_id)
    if cursor is not None:
        query = query.where(PolicyBundle.id < cursor)
    rows = list(db.session.scalars(query.order_by(PolicyBundle.id.desc()).limit(limit + 1)))
    current = head(team_id)
    active_id = current.bundle_id if current else None
    return [summary(row, row.id == active_id) for row in rows[:limit]], len(rows) > limit


def summary(row: PolicyBundle, active: bool) -> dict[str, Any]:
    return {"cursor": row.id, "version": row.version, "digest": row.digest, "rule_count": row.rule_count,
            "source": row.source, "created_at": row.created_at, "created_by": row.created_by, "active": active}


def history(team_id: str, limit: int, cursor: int | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Activations newest first, each with the time it stopped being active (None: still is)."""
    query = select(PolicyActivation).where(PolicyActivation.team_id == team_id)
    if cursor is not None:
        query = query.where(PolicyActivation.id < cursor)
    rows = list(db.session.scalars(query.order_by(PolicyActivation.id.desc()).limit(limit + 1)))
    newer = None
    if cursor is not None:
        newer = db.session.scalars(select(PolicyActivation.activated_at).where(
            PolicyActivation.team_id == team_id, PolicyActivation.id >= cursor)
            .order_by(PolicyActivation.id).limit(1)).first()
    items = []
    for row in rows[:limit]:
        items.append({"cursor": row.id, "version": row.version, "activated_at": row.activated_at,
                      "active_until": newer, "activated_by": row.activated_by, "reason": row.reason})
        newer = row.activated_at
    return items, len(rows) > limit


def team_policy(principal: Principal, team_id: str) -> dict[str, Any]:
    """``GET /v1/teams/{teamId}/policy`` in the HESO Cloud shape ``{version, rules, fetchedAt}``."""
    if team_id != principal.team_id:
        raise errors.NotFound(f"No policy bundle for team {team_id!r}.")
    current = head(team_id)
    if current is None or current.bundle_id is None:
        raise errors.NotFound(f"No policy bundle for team {team_id!r}.")
    row = db.session.get_one(PolicyBundle, current.bundle_id)
    return {"version": row.version, "rules": row.document["rules"], "default": row.document["default"],
            "fetchedAt": isoformat(utcnow()), "activatedAt": isoformat(current.activated_at)}


def evaluate(principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """Dry run: the effect, the matched rule and why each earlier rule did not match."""
    if data.get("bundle") is not None:
        if not principal.allows("ops"):
            # Compiling a caller's bundle is work an agent key must not be able to ask for (issue 13).
            raise errors.Forbidden("Only ops or admin may evaluate an unsaved bundle; an agent evaluates the "
                                   "team's active or a stored version.", details={"reason": "unsaved_bundle"})
        policy = engine.Policy(validate(data["bundle"]), runtime.state().compiled_floors)
    elif data.get("version"):
        row = get_bundle(principal.team_id, data["version"])
        policy = runtime.compiled(row.id, row.digest, row.document)
    else:
        policy = runtime.active(principal.team_id).policy
    actions = engine.atoms(data.get("tool"), data.get("capabilities"), data.get("agent_id"), data.get("role"),
                           data.get("context"))
    verdict = policy.verdict(actions)
    return describe(policy, verdict)


def describe(policy: engine.Policy, verdict: engine.Verdict) -> dict[str, Any]:
    """A verdict as the API shows it (evaluate and explain share this shape)."""
    deciding = verdict.deciding
    return {
        "effect": verdict.effect, "policy_version": policy.version,
        "matched_rule": deciding.rule.ref() if deciding.rule else None,
        "bundle_effect": deciding.bundle_effect, "floor": deciding.floor.id if deciding.floor else None,
        "reason": _reason(policy, deciding),
        "approval": deciding.approval.as_dict() if deciding.approval else None,
        "action": deciding.action.describe(), "not_matched": policy.explain(deciding),
        "items": [outcome.as_dict() for outcome in verdict.outcomes],
    }


def _reason(policy: engine.Policy, outcome: engine.Outcome) -> str:
    if policy.bundle is None:
        said = "no policy bundle is active, so the action is denied"
    elif outcome.rule is None:
        said = f"no rule matched, so the bundle's default {outcome.bundle_effect!r} applies"
    else:
        said = f"rule {outcome.rule.index} ({outcome.rule.id!r}) matched first: {outcome.bundle_effect!r}"
    if outcome.floor is not None:
        said += f"; floor {outcome.floor.id!r} raises it to {outcome.effect!r}"
    return said
