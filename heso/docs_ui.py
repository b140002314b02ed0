"""Serve Swagger UI's assets from the ``swagger-ui-bundle`` wheel.

flask-smorest points the interactive docs page at a CDN by default; a self-hosted
gateway must work on a network with no way out, so the assets are served from here.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

STATIC_URL = "/docs/static/"

blueprint = Blueprint("swagger_ui_assets", __name__)


@blueprint.route(STATIC_URL + "<path:filename>")
def asset(filename: str) -> Response:
    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)


def init_app(app: Flask) -> None:
    app.config["OPENAPI_SWAGGER_UI_URL"] = STATIC_URL
    app.register_blueprint(blueprint)
