"""Agents: helpers to invite and register through the API, and a real threaded HTTP server."""

from __future__ import annotations

import pytest

from tests.helpers import serve_wsgi


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




@pytest.fixture
def live_server(app):
    with serve_wsgi(app) as url:
        yield url
