"""``heso run`` end to end: one ``/metrics`` adds up both gunicorn workers and the RQ worker, and
gunicorn's access line ends with the request id and holds no secret of a URL."""

from __future__ import annotations

import os
import signal

import pytest
import requests

from tests.helpers import wait_until
from tests.observability.scraping import parse, value
from tests.test_supervisor import TOKEN, healthy, heso_run, make_overdue  # noqa: F401 - heso_run is a fixture

pytestmark = pytest.mark.slow


def test_metrics_of_every_process_of_heso_run(heso_run, tmp_path):  # noqa: F811 - the fixture imported above
    process, output, base = heso_run("--web-workers", "2", HESO_SWEEP_INTERVAL_SECONDS="1", HESO_WEB_THREADS="8")
    token = wait_until(lambda: TOKEN.search(output.text), timeout=60, message=f"the admin key:\n{output.text}").group(0)
    wait_until(lambda: healthy(base), timeout=30, message=f"/healthz at {base}:\n{output.text}")
    admin = {"Authorization": f"Bearer {token}"}

    def scrape() -> dict:
        answer = requests.get(f"{base}/metrics", timeout=10)
        assert answer.status_code == 200, answer.text
        return parse(answer.text)

    before = value(scrape(), "heso_http_requests_total", method="GET", route="/healthz", status="200")
    for _ in range(20):  # spread over both gunicorn workers
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    for _ in range(3):  # whichever worker answers the scrape counts the other's requests too
        assert value(scrape(), "heso_http_requests_total", method="GET", route="/healthz", status="200") == before + 20

    invited = requests.post(f"{base}/v1/members", json={"email": "sarah@example.com"}, headers=admin, timeout=10)
    assert invited.status_code == 201, invited.text  # approvers are members (an invited one may be named)
    created = requests.post(f"{base}/v1/decisions", json={"action": "Deploy v2", "approver": "sarah@example.com"},
                            headers={**admin, "X-Request-Id": "e2e-create-1"}, timeout=10)
    assert created.status_code == 201, created.text
    assert created.headers["X-Request-Id"] == "e2e-create-1"
    make_overdue(f"sqlite:///{tmp_path / 'heso.db'}", created.json()["id"])
    # Expired by the RQ worker process (the sweeper or the deadline job): counted there, shown here.
    wait_until(lambda: value(scrape(), "heso_decisions_settled_total", outcome="expired", via="expiry") == 1,
               timeout=30, message=f"the worker's expiry in /metrics:\n{output.text[-3000:]}")
    samples = scrape()
    assert value(samples, "heso_decisions_created_total", channel="none") == 1
    assert value(samples, "heso_queue_workers", queue="heso") >= 1
    assert value(samples, "heso_metrics_source_up", source="database") == 1

    wait_until(lambda: any(line.rstrip().endswith(" e2e-create-1") and "POST /v1/decisions" in line
                           for line in output.lines), timeout=10, message=f"the access line:\n{output.text[-3000:]}")

    # Secrets in URLs never reach the access log (issue 13): an email link's token, OAuth's code.
    secret = "eyJkIjoiZGVjXzAxIn0.SECRETPART-abc_123"
    requests.get(f"{base}/channels/email/a/{secret}", headers={"X-Request-Id": "e2e-link-1"}, timeout=10)
    requests.get(f"{base}/v1/decisions?code=SECRETCODE&limit=1", headers={**admin, "X-Request-Id": "e2e-code-1"},
                 timeout=10)
    for request_id, shown in (("e2e-link-1", "/channels/email/a/…"), ("e2e-code-1", "code=…&limit=1")):
        wait_until(lambda: any(line.rstrip().endswith(f" {request_id}") and shown in line  # noqa: B023
                               for line in output.lines), timeout=10, message=f"{request_id}:\n{output.text[-3000:]}")
    assert "SECRETPART" not in output.text and "SECRETCODE" not in output.text
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=30) == 0
    output.join(timeout=5)
    assert "Traceback" not in output.text, output.text[-3000:]
