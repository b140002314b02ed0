"""``/humanlayer/v1``: the hosted HumanLayer API's agent endpoints, for the unmodified SDK.

Set the SDK's ``api_base_url`` (``HUMANLAYER_API_BASE``) to ``<heso>/humanlayer/v1`` and its
key (``HUMANLAYER_API_KEY``) to a HESO agent key. Another product's protocol, so it stays out
of HESO's OpenAPI description; errors are HESO's JSON envelope, which the SDK raises as
``HumanLayerException`` with the status and the body's text.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from heso.auth.access import current_principal, require
from heso.integrations.humanlayer import service
from heso.integrations.humanlayer.service import CONTACT, FUNCTION_CALL

blp = Blueprint("humanlayer", __name__, url_prefix="/humanlayer/v1")
_KINDS = {"function_calls": FUNCTION_CALL, "contact_requests": CONTACT, "human_contacts": CONTACT}


def _body() -> Any:
    return request.get_json(silent=True)


@blp.post("/function_calls")
@blp.post("/contact_requests")
@require("agent")
def create() -> ResponseReturnValue:
    kind = _KINDS[request.path.rsplit("/", 1)[1]]
    return jsonify(service.create(current_principal(), kind, _body())), 200


@blp.get("/<any(function_calls, contact_requests):collection>/<call_id>")
@require("agent")
def get(collection: str, call_id: str) -> ResponseReturnValue:
    return jsonify(service.view(service.find(current_principal(), _KINDS[collection], call_id)))


@blp.post("/agent/<any(function_calls, human_contacts):collection>/<call_id>/respond")
@require("agent", "approver", "delegate")
def respond(collection: str, call_id: str) -> ResponseReturnValue:
    return jsonify(service.respond(current_principal(), _KINDS[collection], call_id, _body()))


@blp.post("/agent/<any(function_calls, human_contacts):collection>/<call_id>/escalate_email")
@require("agent")
def escalate_email(collection: str, call_id: str) -> ResponseReturnValue:
    return jsonify(service.escalate_email(current_principal(), _KINDS[collection], call_id, _body()))
