"""Binding a team to a policy source, and refreshing its bundle from that source.

The load itself (a file read, an HTTP fetch) runs with no database transaction open; the
result is then applied under the team's head lock, and only if nobody re-bound the source
meanwhile. Every failure is recorded on the head (``last_error``) and the last good bundle
stays active: a broken source can make a policy stale, never permissive.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import marshmallow as ma
from redis.exceptions import RedisError
from sqlalchemy import or_, update

from heso import errors
from heso.auth.models import Team
from heso.encryption import with_secrets
from heso.extensions import db, state
from heso.ledger import service as ledger
from heso.models_base import rowcount
from heso.policy import document, registry, service
from heso.policy.base import Fetched, SourceError, TeamRef
from heso.policy.models import DATABASE_SOURCE, PolicyHead
from heso.policy.runtime import Active
from heso.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 2000


def set_source(team_id: str, name: str, config: dict[str, Any] | None, poll_seconds: int, actor: str) -> PolicyHead:
    """Bind ``team_id`` to source ``name`` (validated config); the first load is due at once."""
    if poll_seconds < 1:
        raise errors.ValidationFailed("poll_seconds must be at least 1.", details={"poll_seconds": [poll_seconds]})
    if name != DATABASE_SOURCE:
        source_class = registry.get(name)
        if source_class is None:
            loaded = registry.sources().get(name)
            why = loaded.error if loaded else f"installed sources: {sorted(registry.sources())}"
            raise errors.ValidationFailed(f"Policy source {name!r} is not available ({why}).",
                                          details={"source": [f"Unknown or broken source {name!r}."]})
        try:
            config = with_secrets(source_class.config_schema().load(config or {}), source_class.secret_fields)
        except ma.ValidationError as exc:
            raise errors.ValidationFailed(f"Invalid configuration for source {name!r}.",
                                          details={"config": exc.normalized_messages()}) from None
    else:
        config = None
    head = service.lock_head(team_id)
    head.source, head.source_config, head.source_token = name, config, None
    head.poll_seconds, head.next_check_at = poll_seconds, utcnow()
    head.last_error = head.last_error_at = None
    ledger.append(team_id, "policy.source_set", service.LEDGER_SUBJECT, actor=actor,
                  data={"source": name, "poll_seconds": poll_seconds})
    db.session.commit()
    return head


def status(team_id: str) -> dict[str, Any]:
    """What the team's source is, whether it works, and which version is active."""
    head = service.head(team_id)
    if head is None:
        head = PolicyHead(team_id=team_id, source=DATABASE_SOURCE, poll_seconds=30)
    source_class = registry.get(head.source) if head.source != DATABASE_SOURCE else None
    secret = source_class.secret_fields if source_class else frozenset()
    if head.source == DATABASE_SOURCE:
        health = "builtin"
    elif head.last_error:
        health = "failing"
    else:
        health = "ok" if head.last_ok_at else "never_checked"
    return {"name": head.source, "status": health, "active_version": head.version,
            "config": {key: value for key, value in (head.source_config or {}).items() if key not in secret},
            "poll_seconds": head.poll_seconds, "last_checked_at": head.last_checked_at,
            "last_ok_at": head.last_ok_at, "last_error": head.last_error, "last_error_at": head.last_error_at,
            "next_check_at": head.next_check_at}


def _fetch(team_id: str, name: str, config: dict[str, Any] | None,
           token: str | None) -> tuple[Fetched | None, Any, str | None]:
    """Run the plugin; ``(fetched, bundle, error)`` with no transaction open."""
    team = db.session.get_one(Team, team_id)
    db.session.rollback()
    source_class = registry.get(name)
    if source_class is None:
        loaded = registry.sources().get(name)
        return None, None, f"Policy source {name!r} is not available: {loaded.error if loaded else 'not installed'}."
    fetched = None
    try:
        fetched = source_class(config or {}).load(TeamRef(team.id, team.name), token)
        if fetched is None:
            return None, None, None
        return fetched, service.validate(document.parse_text(fetched.text, fetched.fmt)), None
    except errors.HesoError as exc:  # the document is not a valid bundle (or breaks a floor)
        return None, None, exc.message + (f" (from {fetched.origin})" if fetched else "")
    except SourceError as exc:
        return None, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is recorded, never raised into HESO
        log.warning("Policy source %r failed for team %s", name, team_id, exc_info=True)
        return None, None, f"{type(exc).__name__}: {exc}"


def refresh(team_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Load the team's bundle from its source now; activate it if it changed."""
    head = service.head(team_id)
    if head is None or head.source == DATABASE_SOURCE:
        db.session.rollback()
        return status(team_id)
    name, config, token = head.source, head.source_config, head.source_token
    fetched, bundle, error = _fetch(team_id, name, config, token)
    now = now or utcnow()
    head = service.lock_head(team_id)
    if head.source != name or head.source_config != config:
        db.session.rollback()  # re-bound while we were loading: this result is for the old binding
        return status(team_id)
    actor = f"source:{name}"
    if bundle is not None:
        assert fetched is not None, "a bundle comes from what was fetched"
        try:
            row, _ = service.store(team_id, bundle, name, actor, now)
        except (errors.Conflict, errors.ValidationFailed) as exc:  # a version clash, or approvers who are not members
            error = f"{exc.message} (from {fetched.origin})"
        else:
            service.activate_row(team_id, row, actor, "source", now)
            head.source_token = fetched.token
    head.last_checked_at, head.next_check_at = now, now + timedelta(seconds=head.poll_seconds)
    if error is None:
        head.last_ok_at, head.last_error, head.last_error_at = now, None, None
    else:
        error = error[:MAX_ERROR_CHARS]
        if error != head.last_error:  # ledger the change of state, not every failed poll
            ledger.append(team_id, "policy.source_failed", service.LEDGER_SUBJECT, actor=actor, at=now,
                          data={"source": name, "error": error, "active_version": head.version})
        head.last_error, head.last_error_at = error, now
        log.warning("Policy source %r for team %s failed: %s", name, team_id, error)
    db.session.commit()
    return status(team_id)


def schedule_if_due(team_id: str, active: Active, now: datetime | None = None) -> bool:
    """On the evaluation path: if the team's source is due, claim the check and enqueue it.

    The claim is one conditional UPDATE, so of many concurrent requests exactly one enqueues;
    the load runs in a worker, never in the request.
    """
    if active.source == DATABASE_SOURCE:
        return False
    now = now or utcnow()
    if active.next_check_at is not None and active.next_check_at > now:
        return False
    claimed = rowcount(db.session.execute(
        update(PolicyHead)
        .where(PolicyHead.team_id == team_id, PolicyHead.source == active.source,
               or_(PolicyHead.next_check_at.is_(None), PolicyHead.next_check_at <= now))
        .values(next_check_at=now + timedelta(seconds=60))  # refresh() sets the real next time
        .execution_options(synchronize_session=False)
    )) == 1
    db.session.commit()
    if claimed:
        try:  # by dotted path: heso.policy.tasks imports this module
            state().queue.enqueue("heso.policy.tasks.refresh_source", team_id, job_id=f"policy-refresh-{team_id}",
                                  result_ttl=0)
        except RedisError:
            log.warning("Could not enqueue the policy refresh of %s; it will be retried", team_id, exc_info=True)
    return claimed


def refresh_all(due_only: bool = False, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Refresh every team bound to an external source (``heso policy sync``)."""
    now = now or utcnow()
    query = db.select(PolicyHead.team_id).where(PolicyHead.source != DATABASE_SOURCE)
    if due_only:
        query = query.where(or_(PolicyHead.next_check_at.is_(None), PolicyHead.next_check_at <= now))
    team_ids = list(db.session.scalars(query))
    db.session.rollback()
    return {team_id: refresh(team_id, now) for team_id in team_ids}
