"""What the OpenAI Agents SDK and Pydantic AI adapter tests share: one policy, a real HESO server, answers over REST.

The adapters are REST clients with no database path of their own, so their tests run on SQLite
only (the routes they call are tested on both databases in tests/execution and tests/decisions).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from heso.client import HesoClient
from tests.helpers import serve_wsgi
from tests.policy.bundles import upload

#: ``delete_file`` asks sarah@example.com, ``read_file`` is allowed, ``format_disk`` is refused.
BUNDLE = {
    "version": "adapters-1", "default": "deny",
    "rules": [
        {"id": "reads", "match": {"tools": ["read_file"], "context": {"elevated_privileges": False}},
         "effect": "allow"},
        {"id": "no-formatting", "match": {"tools": ["format_disk"]}, "effect": "deny"},
        {"id": "deletes", "match": {"tools": ["delete_file"]}, "effect": "require_approval",
         "approval": {"approvers": ["sarah@example.com"], "timeout_minutes": 10}},
    ],
}


class Front:
    """A WSGI app handing each request to the current test's app: one server per module, since
    stopping one costs half a second (``serve_forever``'s poll interval)."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def front():
    handler = Front()
    with serve_wsgi(handler) as url:
        yield handler, url


@pytest.fixture
def heso_url(front, app, client, team):
    """The test's app behind a real threaded HTTP server, with the policy above active."""
    response = upload(client, team, BUNDLE)
    assert response.status_code == 201, response.json
    handler, url = front
    handler.app = app
    yield url
    handler.app = None


@pytest.fixture
def heso_client(heso_url, team):
    with HesoClient(api_key=team.keys["agent"], endpoint=heso_url, timeout=30) as sdk:
        yield sdk


def answer(heso_url, team, decision_id: str, action: str, **body) -> dict:
    """Answer a decision as its approver (sarah@example.com's own key), over REST."""
    response = requests.post(f"{heso_url}/v1/decisions/{decision_id}/resolve", json={"action": action, **body},
                             headers=team.headers("approver"), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def decisions(heso_url, team) -> list[dict]:
    response = requests.get(f"{heso_url}/v1/decisions", headers=team.headers("ops"), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def ledger_verifies(heso_url, team) -> bool:
    response = requests.get(f"{heso_url}/v1/audit/verify", headers=team.headers("ops"), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["valid"] is True


def ledger_events(heso_url, team) -> list[str]:
    response = requests.get(f"{heso_url}/v1/audit", headers=team.headers("ops"), timeout=30)
    assert response.status_code == 200, response.text
    return [entry["event"] for entry in response.json()["data"]]


def load_example(name: str) -> ModuleType:
    """A script of examples/, imported afresh (examples/ is not a package)."""
    path = Path(__file__).resolve().parents[3] / "examples" / name
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
