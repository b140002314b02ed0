"""``/device-keys``: a member's approver keys made in their browser (WebCrypto Ed25519).

The private key is made non-extractable in the browser and kept in its IndexedDB
(``static/device-keys.js``); only the public key reaches the server, registered through
:func:`heso.receipts.keys.register_own` (the same ``register`` as ``POST /v1/keys/signing``,
named by the member's own address). Revoking is :func:`heso.receipts.keys.revoke`, for the
member's own keys only (another's answers 404).
"""

from __future__ import annotations

import marshmallow as ma
from flask import Response, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heso import errors
from heso.console.base import blp, page, principal, render
from heso.receipts import keys
from heso.schemas import StrictSchema


class _DeviceKeySchema(StrictSchema):
    publicKey = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


_BODY = _DeviceKeySchema()


@blp.route("/device-keys")
@page("approver")
def device_keys() -> Response:
    own = [keys.view(key) for key in keys.own_keys(principal())]
    return render("console/device_keys.html", title="Device keys", keys=own,
                  active=[key for key in own if key["revokedAt"] is None])


@blp.route("/device-keys", methods=["POST"])
@page("approver")
def register_device_key() -> Response:
    """Register the browser's public key (JSON ``{publicKey}``, 64 hex digits): 201 with the key,
    or the API's error envelope (the page's script shows its message)."""
    try:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise errors.ValidationFailed("Send a JSON object {publicKey}.")
        try:
            data = _BODY.load(body)
        except ma.ValidationError as exc:
            raise errors.ValidationFailed("publicKey: " + "; ".join(map(str, exc.messages_dict.values())),
                                          details={"json": exc.messages_dict}) from None
        key = keys.register_own(principal(), data["publicKey"])
    except errors.HesoError as error:
        return errors.envelope(error.code, error.status, error.message, error.details, error.headers)
    response = jsonify(keys.view(key))
    response.status_code = 201
    return response


@blp.route("/device-keys/<key_id>/revoke", methods=["POST"])
@page("approver")
def revoke_device_key(key_id: str) -> BaseResponse:
    """Revoke one of the member's own keys (form post with the CSRF token); replaying it changes nothing."""
    who = principal()
    keys.revoke(who, keys.own(who, key_id).id)
    return redirect(url_for("console.device_keys"), 303)
