"""``/v1/channels`` (installed plugins, per-team config) and ``/v1/deliveries`` (the outbox log)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from heso.auth.access import current_principal, require
from heso.channels import service
from heso.channels.schemas import (
    ChannelConfigSchema,
    ChannelListSchema,
    DeliveryPageSchema,
    DeliveryQuerySchema,
    DeliverySchema,
)
from heso.pagination import page, page_limit

channels_blp = Blueprint("channels", __name__, url_prefix="/v1/channels",
                         description="Installed channel plugins and your team's configuration of each.")
deliveries_blp = Blueprint("deliveries", __name__, url_prefix="/v1/deliveries",
                           description="Every notification sent (or being retried), with each attempt.")


@channels_blp.route("")
class Channels(MethodView):
    @require("ops")
    @channels_blp.response(200, ChannelListSchema)
    def get(self) -> dict[str, Any]:
        """Installed channels with version, distribution, load error and config schema."""
        return {"data": service.list_channels(current_principal().team_id)}


@channels_blp.route("/<name>/config")
class ChannelConfig(MethodView):
    @require("admin")
    @channels_blp.response(200, ChannelConfigSchema)
    def get(self, name: str) -> dict[str, Any]:
        """Your team's configuration of a channel (secrets masked)."""
        return service.get_config(current_principal().team_id, name)

    @require("admin")
    @channels_blp.arguments(ma.Schema.from_dict({}, name="ChannelConfigBody")(unknown=ma.INCLUDE),
                            required=False,  # a channel whose settings are all optional takes none
                            description="Validated by the channel's own config schema (see GET /v1/channels)")
    @channels_blp.response(200, ChannelConfigSchema)
    def put(self, body: dict, name: str) -> dict[str, Any]:
        """Set your team's configuration of a channel."""
        return service.put_config(current_principal().team_id, name, body)


@deliveries_blp.route("")
class Deliveries(MethodView):
    @require("ops")
    @deliveries_blp.arguments(DeliveryQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @deliveries_blp.response(200, DeliveryPageSchema)
    def get(self, limit: int | None, cursor: str | None, **filters: Any) -> dict[str, Any]:
        """Deliveries, newest first, each with every attempt (status code, error, latency)."""
        rows, has_more = service.list_deliveries(current_principal().team_id, limit=page_limit(limit),
                                                 cursor=cursor, **filters)
        return page(rows, has_more, lambda delivery: delivery.id)


@deliveries_blp.route("/<delivery_id>")
class DeliveryById(MethodView):
    @require("ops")
    @deliveries_blp.response(200, DeliverySchema)
    def get(self, delivery_id: str) -> Any:
        """One delivery with its attempts."""
        return service.get_delivery(current_principal().team_id, delivery_id)


@deliveries_blp.route("/<delivery_id>/retry")
class RetryDelivery(MethodView):
    @require("admin")
    @deliveries_blp.response(202, DeliverySchema)
    def post(self, delivery_id: str) -> Any:
        """Send a delivery again now (e.g. a dead-lettered one after fixing the receiver)."""
        return service.retry_delivery(current_principal().team_id, delivery_id)
