"""HESO: a self-hosted human approval gateway for AI agents."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # imported inside create_app: `import heso.client` (the SDK) must work without Flask
    from flask import Flask

# The SDK, `heso.client`, is its own distribution (heso-client, client/heso/client): a portion of
# this package found on sys.path. Installed as wheels, both land in site-packages/heso/; in
# development `make install` puts client/ on sys.path (editable_mode=compat) and this adds it.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

__version__ = "0.1.0"


class Room(NamedTuple):
    """One resource's blueprint: ``module.attribute``, in the API (OpenAPI) or a plain page."""

    module: str
    attribute: str
    api: bool = True


#: Every room's blueprint, registered by :func:`create_app` in this order, which is the
#: OpenAPI document's tag order. Channel plugins' blueprints come after, from the registry.
ROOMS: tuple[Room, ...] = (
    Room("heso.decisions.routes", "blp"),
    Room("heso.ledger.routes", "blp"),  # audit
    Room("heso.auth.routes", "blp"),  # keys
    Room("heso.channels.routes", "channels_blp"),
    Room("heso.channels.routes", "deliveries_blp"),
    Room("heso.health", "blp"),
    Room("heso.auth.people_routes", "auth_blp"),
    Room("heso.auth.people_routes", "members_blp"),
    Room("heso.auth.people_routes", "teams_blp"),
    Room("heso.auth.pages", "blp", api=False),  # sign-in pages
    Room("heso.channels.answer_page", "blp", api=False),  # the confirm page behind every channel's answer links
    Room("heso.policy.routes", "blp"),
    Room("heso.execution.routes", "blp"),
    Room("heso.grants.routes", "blp"),  # approve and remember
    Room("heso.agents.routes", "blp"),
    Room("heso.agents.routes", "events_blp"),
    Room("heso.agents.order_routes", "blp"),  # also adds /v1/agents/{id}/orders
    Room("heso.receipts.routes", "signing_keys_blp"),
    Room("heso.receipts.routes", "receipts_blp"),
    Room("heso.approvals.routes", "blp"),
    Room("heso.integrations.hooks.routes", "blp"),  # coding-agent hooks
    Room("heso.console.routes", "blp", api=False),  # the web console: /, its pages, /console/static
    Room("heso.integrations.humanlayer.routes", "blp", api=False),  # the HumanLayer SDK's protocol (issue 17)
)


#: Connections each process keeps open (SQLAlchemy's default); more are opened under load.
POOL_SIZE = 5


def _sqlalchemy_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator gave."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _instance_secret_key(instance_path: str) -> str:
    """A random signing key kept in ``instance/secret_key`` (mode 0600), made on first start.

    Written to a temporary file and hard-linked into place, so processes starting together
    all end up with the one key that won.
    """
    import os
    import secrets
    import tempfile

    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        descriptor, temporary = tempfile.mkstemp(dir=instance_path)  # created with mode 0600
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    with open(path) as existing:
        return existing.read().strip()


def _key_list(value: str | list[str]) -> list[str]:
    """``HESO_SECRET_KEY_FALLBACKS`` (comma-separated) as the list Flask and itsdangerous take."""
    if isinstance(value, list):
        return value
    return [key.strip() for key in value.split(",") if key.strip()]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app: defaults, then ``HESO_*`` environment variables, then ``config``."""
    from heso import extensions
    from heso.config import PROJECT_ROOT, from_env
    from heso.json_provider import OrjsonProvider

    app = extensions.HesoFlask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    app.json = OrjsonProvider(app)
    settings = from_env()
    settings.update(config or {})
    app.config.update(settings)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=_sqlalchemy_url(settings["DATABASE_URL"]),
        # No pool_pre_ping (a round trip per checkout on the hot path); connections are
        # recycled instead, and a dead one fails one request, not every one. The pool can
        # grow to one connection per delivery thread (a channel may write in send()) plus
        # the drain's and a few more: with SQLAlchemy's default 15, a larger
        # HESO_DELIVERY_CONCURRENCY left sends waiting on the pool.
        SQLALCHEMY_ENGINE_OPTIONS={"pool_recycle": 1800, "pool_size": POOL_SIZE,
                                   "max_overflow": max(10, settings["DELIVERY_CONCURRENCY"] + 4 - POOL_SIZE)},
        MAX_CONTENT_LENGTH=settings["MAX_BODY_BYTES"],
        SECRET_KEY_FALLBACKS=_key_list(settings["SECRET_KEY_FALLBACKS"]),
        API_TITLE="HESO",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.1.0",  # JSON Schema 2020-12: propertyNames, dependentRequired
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
    )
    if app.config["TRUSTED_PROXIES"] > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        (PROJECT_ROOT / "instance").mkdir(exist_ok=True)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret_key(app.instance_path)

    from heso import docs_ui, encryption, migrations, observability, rate_limits, request_body

    app.session_interface = extensions.NoCookieSession()
    encryption.init_app(app)  # malformed HESO_ENCRYPTION_KEYS: refuse to start, before anything reads a secret
    observability.init_app(app)  # first: every request gets its id and is counted, refused ones too
    extensions.init_db(app)
    extensions.migrate.init_app(app, extensions.db)
    migrations.init_app(app)  # `db upgrade` to every branch's head: the core's and each plugin's
    extensions.init_redis(app)
    rate_limits.init_limiter(app)  # before the body gate: a refused request costs no body check
    request_body.init_app(app)
    docs_ui.init_app(app)
    api = extensions.init_api(app)  # and the error envelope's handlers (heso.errors)

    from heso.auth import sessions
    from heso.policy import runtime as policy_runtime

    policy_runtime.init_app(app)  # the floors, checked at start-up
    # Every module first, then every registration: a room may add routes to another's
    # blueprint (orders adds /v1/agents/{id}/orders), which Flask allows only before it registers.
    blueprints = [(room, getattr(importlib.import_module(room.module), room.attribute)) for room in ROOMS]
    for room, blueprint in blueprints:
        if room.api:
            api.register_blueprint(blueprint)
        else:
            app.register_blueprint(blueprint)
    app.after_request(sessions.attach_new_token)
    _register_channel_blueprints(app)
    return app


def _register_channel_blueprints(app: Flask) -> None:
    """Each channel plugin's inbound blueprint (clicks, landing pages) at ``/channels/<name>``."""
    import logging

    from heso.channels import registry

    for name, loaded in registry.channels().items():
        if loaded.loaded is None:
            continue
        try:
            blueprint = loaded.loaded.blueprint()
            if blueprint is not None:
                app.register_blueprint(blueprint, url_prefix=f"/channels/{name}", name=f"channel_{name}")
        except Exception:  # noqa: BLE001 - a broken plugin must not take the service down
            logging.getLogger(__name__).exception("Channel %r: its blueprint failed to register", name)
