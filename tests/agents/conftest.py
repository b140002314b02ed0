"""Agents: helpers to invite and register through the API, and a real threaded HTTP server."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server


def invite(client, team, **body) -> dict:
    response = client.post("/v1/agents/bootstrap-tokens", json=body, headers=team.headers("admin"))
    assert response.status_code == 201, response.json
    return response.json


def register(client, token: str, **body) -> dict:
    response = client.post("/v1/agents/register", json={"bootstrap_token": token, "name": "deploy-bot", **body})
    assert response.status_code == 201, response.json
    return response.json


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def agent(client, team) -> dict:
    """A registered agent of ``team``: its view plus ``api_key``."""
    return register(client, invite(client, team)["token"])


@contextmanager
def serve(app):
    """``app`` behind a real threaded HTTP server on a free port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def live_server(app):
    with serve(app) as url:
        yield url
