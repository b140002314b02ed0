"""Channel configuration per team, and the deliveries log."""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import current_app
from sqlalchemy import select

from heso import errors
from heso.channels import outbox, registry
from heso.channels.base import ChannelPlugin
from heso.channels.models import CALLBACK, ChannelConfig, Delivery, DeliveryAttempt
from heso.encryption import with_secrets
from heso.extensions import db
from heso.timeutil import utcnow

MASK = "********"


def _plugin(name: str) -> ChannelPlugin:
    plugin = registry.callback_channel() if name == CALLBACK else registry.get(name)
    if plugin is None:
        installed = sorted(registry.installed_channel_names())
        raise errors.NotFound(f"No installed channel {name!r}; installed: {installed}.")
    return plugin


def channel_plugin(name: str) -> ChannelPlugin:
    """The installed channel called ``name`` (the core's callback channel included); 404 if none."""
    return _plugin(name)


def json_schema(plugin: ChannelPlugin) -> dict[str, Any]:
    """The plugin's config schema as JSON Schema (what a UI or a user needs to fill it in)."""
    return current_app.extensions["heso.api"].ma_plugin.converter.schema2jsonschema(plugin.config_schema)


def list_channels(team_id: str) -> list[dict[str, Any]]:
    configured = set(db.session.scalars(select(ChannelConfig.channel).where(ChannelConfig.team_id == team_id)))
    listing = []
    for name, loaded in sorted(registry.channels().items()):
        listing.append({"name": name, "distribution": loaded.distribution, "version": loaded.version,
                        "loaded": loaded.loaded is not None, "error": loaded.error,
                        "config_schema": json_schema(loaded.loaded) if loaded.loaded else {},
                        "configured": name in configured})
    listing.append({"name": CALLBACK, "distribution": "heso", "version": current_app.config["API_VERSION"],
                    "loaded": True, "error": None, "config_schema": json_schema(registry.callback_channel()),
                    "configured": CALLBACK in configured})
    return listing


def _masked(plugin: ChannelPlugin, config: dict[str, Any]) -> dict[str, Any]:
    return {key: (MASK if key in plugin.secret_fields and value else value) for key, value in config.items()}


def stored_config(team_id: str, name: str) -> dict[str, Any] | None:
    """The team's configuration of channel ``name`` with its secrets, for the channel itself."""
    row = db.session.get(ChannelConfig, (team_id, name), populate_existing=True)
    return dict(row.config) if row is not None else None


def get_config(team_id: str, name: str) -> dict[str, Any]:
    plugin = _plugin(name)
    row = db.session.get(ChannelConfig, (team_id, name), populate_existing=True)
    if row is None:
        raise errors.NotFound(f"Channel {name!r} is not configured for this team.")
    return {"channel": name, "config": _masked(plugin, row.config), "updated_at": row.updated_at,
            "disabled_at": row.disabled_at, "disabled_reason": row.disabled_reason}


def put_config(team_id: str, name: str, body: Any, keep_secrets: bool = False) -> dict[str, Any]:
    """Validate ``body`` with the plugin's schema and store it (secrets encrypted, never shown).

    ``keep_secrets`` (the console's form, which never shows a secret): a secret field absent
    from ``body`` keeps its stored value; one given as None is cleared.
    """
    plugin = _plugin(name)
    if not isinstance(body, dict):
        raise errors.ValidationFailed("The configuration must be a JSON object.", details={"json": {}})
    stored = stored_config(team_id, name) if keep_secrets else None
    if stored:
        body = {**{key: stored[key] for key in plugin.secret_fields
                   if key not in body and stored.get(key) is not None}, **body}
    try:
        config = plugin.config_schema().load(body)
    except ma.ValidationError as exc:
        raise errors.ValidationFailed(f"Invalid {name} configuration: {', '.join(sorted(exc.normalized_messages()))}.",
                                      details={"json": exc.normalized_messages()}) from None
    config = json.loads(json.dumps(config, default=str))  # dates and the like as strings, as JSON holds them
    config = with_secrets(config, plugin.secret_fields)  # stored encrypted, never shown
    row = db.session.get(ChannelConfig, (team_id, name))
    if row is None:
        row = ChannelConfig(team_id=team_id, channel=name, config=config, updated_at=utcnow())
        db.session.add(row)
    else:
        # A new configuration re-enables an endpoint disabled after a 410 Gone.
        row.config, row.updated_at, row.disabled_at, row.disabled_reason = config, utcnow(), None, None
    db.session.commit()
    return get_config(team_id, name)


def list_deliveries(team_id: str, *, decision_id: str | None = None, channel: str | None = None,
                    status: str | None = None, limit: int = 50, cursor: str | None = None) -> tuple[list, bool]:
    query = select(Delivery).where(Delivery.team_id == team_id)
    for column, value in ((Delivery.decision_id, decision_id), (Delivery.channel, channel), (Delivery.status, status)):
        if value:
            query = query.where(column == value)
    if cursor:
        query = query.where(Delivery.id < cursor)
    rows = list(db.session.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1)))
    rows, has_more = rows[:limit], len(rows) > limit
    _attach_attempts(rows)
    return rows, has_more


def _attach_attempts(deliveries: list[Delivery]) -> None:
    by_id: dict[str, list[DeliveryAttempt]] = {delivery.id: [] for delivery in deliveries}
    if by_id:
        for attempt in db.session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(by_id))
                                          .order_by(DeliveryAttempt.number)):
            by_id[attempt.delivery_id].append(attempt)
    for delivery in deliveries:
        delivery.attempt_log = by_id[delivery.id]


def get_delivery(team_id: str, delivery_id: str) -> Delivery:
    delivery = db.session.get(Delivery, delivery_id, populate_existing=True)
    if delivery is None or delivery.team_id != team_id:
        raise errors.NotFound(f"No delivery {delivery_id!r}.")
    _attach_attempts([delivery])
    return delivery


def retry_delivery(team_id: str, delivery_id: str) -> Delivery:
    """Replay a delivery now (dead-lettered, failed or delivered alike)."""
    delivery = get_delivery(team_id, delivery_id)
    if delivery.status == "sending":
        raise errors.Conflict("This delivery is being attempted right now.")
    outbox.replay(delivery)
    return get_delivery(team_id, delivery_id)
