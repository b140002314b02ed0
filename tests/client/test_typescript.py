"""The TypeScript client (``clients/typescript``, ``@heso/client``) against a live server.

One test: Node's own test runner (``node --test clients/typescript/test/``) runs the client's
tests against the app behind a real HTTP server, with a team's agent, approver and admin keys in
its environment, and a receipt signed by the Python ``ReceiptSigner`` with a key it shares, to be
signed byte for byte the same by the TypeScript one. Node's output is shown when it fails.

SQLite param only: the client has no database-specific path (every route it calls runs on both
databases in their own tests).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from heso.client.receipts import ReceiptSigner
from tests.helpers import serve_wsgi

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "typescript"
TSC = PACKAGE / "node_modules" / "typescript" / "bin" / "tsc"
APPROVER = "sarah@example.com"  # team.keys["approver"] is this member's personal key

#: The policy the execution tests meet: reads are allowed, deploys wait for the approver, the rest is denied.
BUNDLE = {
    "version": "v1",
    "default": "deny",
    "rules": [
        {"id": "elevated", "match": {"context": {"elevated_privileges": True}}, "effect": "require_approval",
         "approval": {"approvers": [APPROVER]}},  # the pinned floor demands it
        {"id": "reads", "match": {"capabilities": ["fs.read"]}, "effect": "allow"},
        {"id": "deploys", "match": {"capabilities": ["deploy.run"]}, "effect": "require_approval",
         "approval": {"approvers": [APPROVER], "timeout_minutes": 30}},
    ],
}

#: The action the Python and TypeScript signers both sign (non-ASCII, a float, nesting, -0).
CROSS_ACTION = {"tool": "deploy", "args": {"service": "api", "version": "2.1.0", "replicas": 3, "ratio": 0.1,
                                           "note": "déploiement €", "zero": -0.0, "flags": [True, None]}}


def _build() -> None:
    """Compile src/ to dist/ when dist/ is older than any source (``make install`` builds it too)."""
    if not TSC.exists():
        pytest.fail("clients/typescript/node_modules is missing: run `make install` "
                    "(npm ci --prefix clients/typescript)")
    sources = [*(PACKAGE / "src").glob("*.ts"), PACKAGE / "tsconfig.json", PACKAGE / "package.json"]
    built = PACKAGE / "dist" / "index.js"
    if built.exists() and built.stat().st_mtime >= max(path.stat().st_mtime for path in sources):
        return
    result = subprocess.run(["node", str(TSC), "-p", str(PACKAGE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"tsc failed:\n{result.stdout}\n{result.stderr}"
    built.touch()  # tsc leaves an unchanged output's mtime alone


def test_the_typescript_client_passes_its_tests_against_a_live_server(app, client, team):
    if shutil.which("node") is None:
        pytest.fail("node (20+) is not on PATH")
    _build()
    response = client.put("/v1/policy/bundles?activate=true", json=BUNDLE, headers=team.headers("admin"))
    assert response.status_code == 201, response.json

    operator = SigningKey.generate()
    python_receipt = ReceiptSigner(operator, team.id, "deploy-bot").sign(
        CROSS_ACTION, "v1", "deploys", issued_at="2026-12-07T12:00:00.123Z")

    env = {
        **os.environ,
        "HESO_AGENT_KEY": team.keys["agent"],
        "HESO_APPROVER_KEY": team.keys["approver"],
        "HESO_ADMIN_KEY": team.keys["admin"],
        "HESO_APPROVER_EMAIL": APPROVER,
        "HESO_TEAM_ID": team.id,
        "HESO_OPERATOR_SEED": bytes(operator).hex(),
        "HESO_PY_RECEIPT": json.dumps(python_receipt),
        "NO_COLOR": "1",
    }
    with serve_wsgi(app) as url:
        result = subprocess.run(["node", "--test", "--test-reporter=spec", "clients/typescript/test/"],
                                cwd=ROOT, env={**env, "HESO_URL": url}, capture_output=True, text=True, timeout=300)
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"node --test failed (exit {result.returncode}):\n{output}"
    # Every test ran (a live test skips itself without HESO_URL): none failed, none skipped.
    assert re.search(r"^\S+ fail 0$", output, re.M) and re.search(r"^\S+ skipped 0$", output, re.M), output
