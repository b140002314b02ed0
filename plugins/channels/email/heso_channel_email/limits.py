"""What the operator lets teams do with their SMTP server (issue 13: email as an abuse channel).

* ``HESO_EMAIL_FROM_DOMAINS``: the domains a team's ``from_address`` may use (comma-separated);
  empty, only the domain of ``HESO_SMTP_FROM``. A team cannot send as anyone it likes.
* ``HESO_EMAIL_MAX_PER_TEAM_HOUR``: messages one team's deliveries may send per clock hour;
  past it, a delivery waits for the next hour (retried, never dropped). Counted in Redis, a
  hint like every counter here: without Redis, nothing is capped (logged).
* ``HESO_EMAIL_MAX_RECIPIENTS_PER_DECISION``: the most approvers one decision sent by email may
  name (default 10; 0: only the core's 50); more is refused when the decision is created
  (``422 TOO_MANY_RECIPIENTS``, through :meth:`EmailChannel.max_recipients`), so one request
  cannot mail a whole team. Approvers are members of the team (or outside approvers the team
  allowed) in any case.
"""

from __future__ import annotations

import logging
import time

from flask import current_app
from redis.exceptions import RedisError

from heso.channels.api import redis

log = logging.getLogger(__name__)
HOURLY_PREFIX = "heso:email:hourly:"


def allowed_from_domains() -> set[str]:
    configured = current_app.config.get("EMAIL_FROM_DOMAINS", "")
    domains = {domain.strip().lower().lstrip("@") for domain in configured.split(",") if domain.strip()}
    return domains or {current_app.config["SMTP_FROM"].rpartition("@")[2].strip(" >").lower()}


def from_address_problem(address: str) -> str | None:
    """Why a team may not send as ``address``, or None."""
    domain = address.rpartition("@")[2].lower()
    allowed = allowed_from_domains()
    if domain in allowed:
        return None
    return f"Sending as {domain!r} is not allowed on this server; allowed domains: {sorted(allowed)} " \
           "(the operator's HESO_EMAIL_FROM_DOMAINS)."


def max_recipients() -> int | None:
    """The operator's cap on approvers per decision sent by email, or None for no cap of ours."""
    limit = int(current_app.config.get("EMAIL_MAX_RECIPIENTS_PER_DECISION", 0))
    return limit if limit > 0 else None


def take_hourly(team_id: str, count: int) -> int | None:
    """Count ``count`` messages against the team's hour; None if they may go, else seconds to wait."""
    limit = int(current_app.config.get("EMAIL_MAX_PER_TEAM_HOUR", 0))
    if limit <= 0 or count <= 0:
        return None
    hour = int(time.time() // 3600)
    key = f"{HOURLY_PREFIX}{team_id}:{hour}"
    try:
        with redis().pipeline(transaction=True) as pipe:
            pipe.incrby(key, count)
            pipe.expire(key, 2 * 3600)
            total = int(pipe.execute()[0])
        if total > limit:
            redis().decrby(key, count)  # not sent: give the room back
            return max(1, (hour + 1) * 3600 - int(time.time()))
    except RedisError:
        log.warning("Hourly email cap unavailable (Redis); not capping", exc_info=True)
    return None
