"""``/healthz`` (the process is up) and ``/readyz`` (it can do its job)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from heso import errors
from heso.encryption import ring, stored
from heso.extensions import db, state

blp = Blueprint("health", __name__, description="Liveness and readiness probes (no key needed).")


class HealthSchema(ma.Schema):
    status = ma.fields.String()
    checks = ma.fields.Dict()


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """The process answers."""
        return {"status": "ok", "checks": {}}


def _check_encryption() -> str:
    """Every stored secret names a configured key (an unrotated value is read, nothing decrypted)."""
    missing = stored.foreign_keys(db.session.connection(), stored.secret_columns(db.metadata), ring())
    db.session.rollback()
    if missing:
        counts = ", ".join(f"{count} under key {kid}" for kid, count in sorted(missing.items()))
        return f"stored secrets that no key in HESO_ENCRYPTION_KEYS decrypts: {counts}"
    return "ok"


def _check_redis() -> str:
    policy = state().redis.config_get("maxmemory-policy").get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        # Eviction drops queued jobs silently (rq#1280): refuse to report ready.
        return f"maxmemory-policy is {policy!r}; HESO needs 'noeviction'"
    return "ok"


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """The database and Redis answer, Redis will not evict queued jobs, and the configured keys
        decrypt every stored secret."""
        checks = {}
        try:
            db.session.execute(text("SELECT 1"))
            db.session.rollback()
            checks["database"] = "ok"
            checks["encryption"] = _check_encryption()
        except SQLAlchemyError as exc:
            checks["database" if "database" not in checks else "encryption"] = f"error: {type(exc).__name__}"
        try:
            checks["redis"] = _check_redis()
        except RedisError as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        if any(value != "ok" for value in checks.values()):
            raise errors.ServiceUnavailable("Not ready.", details=checks)
        return {"status": "ok", "checks": checks}
