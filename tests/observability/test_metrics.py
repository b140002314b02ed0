"""``GET /metrics``: request, decision and delivery counters move with what happened, and the
scrape-time gauges read the database and Redis without failing when either is down."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from heso import create_app
from heso.channels import outbox
from heso.channels.models import Delivery
from heso.channels.signing import generate_secret
from heso.decisions import service
from heso.decisions.models import Decision
from heso.extensions import db
from heso.ledger import service as ledger
from heso.timeutil import utcnow
from tests.factories import create_decision
from tests.helpers import wait_until
from tests.observability.scraping import has, scrape, value


def test_requests_are_counted_by_route_and_status(client, team):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    client.get("/v1/decisions/dec_missing", headers=team.headers("agent"))
    client.get("/no/such/page")
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("heso_http_requests_total", method="GET", route="/healthz", status="200") == 3
    assert delta("heso_http_requests_total", method="GET", route="/v1/decisions/<decision_id>", status="404") == 1
    assert delta("heso_http_requests_total", method="GET", route="unmatched", status="404") == 1  # not the raw path
    assert delta("heso_http_request_duration_seconds_count", method="GET", route="/healthz") == 3
    assert delta("heso_http_request_duration_seconds_bucket", method="GET", route="/healthz", le="+Inf") == 3
    assert delta("heso_http_requests_total", method="GET", route="/metrics", status="200") == 1  # the first scrape


def test_decisions_created_and_settled_are_counted(app, client, team):
    before = scrape(client)
    approved = create_decision(client, team)
    cancelled = create_decision(client, team)
    expiring = create_decision(client, team)
    resolved = client.post(f"/v1/decisions/{approved['id']}/resolve", json={"action": "approve"},
                           headers=team.headers("approver"))
    assert resolved.status_code == 200 and resolved.json["resolved_via"] == "key"
    assert client.post(f"/v1/decisions/{cancelled['id']}/cancel", json={},
                       headers=team.headers("agent")).status_code == 200
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == expiring["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.expire_one(expiring["id"])
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("heso_decisions_created_total", channel="none") == 3
    assert delta("heso_decisions_settled_total", outcome="approved", via="key") == 1
    assert delta("heso_decisions_settled_total", outcome="cancelled", via="caller") == 1
    assert delta("heso_decisions_settled_total", outcome="expired", via="expiry") == 1
    assert delta("heso_time_to_decision_seconds_count", outcome="approved") == 1
    assert delta("heso_time_to_decision_seconds_bucket", outcome="approved", le="604800.0") == 1
    # Answering a settled decision again settles nothing.
    again = client.post(f"/v1/decisions/{approved['id']}/resolve", json={"action": "deny"},
                        headers=team.headers("approver"))
    assert again.status_code == 409
    assert value(scrape(client), "heso_decisions_settled_total", outcome="denied", via="key") == \
        value(before, "heso_decisions_settled_total", outcome="denied", via="key")


def test_only_committed_changes_count(app, client, team):
    decision = create_decision(client, team)
    before = scrape(client)

    def settle(outcome: str) -> None:
        ledger.append(team.id, "decision.resolved", decision["id"], data={"status": outcome, "via": "test"})

    with app.app_context():
        settle("denied")
        db.session.rollback()
        with db.session.begin_nested():
            settle("modified")
            db.session.begin_nested().rollback()  # an empty savepoint rolled back drops nothing
        savepoint = db.session.begin_nested()
        settle("approved")
        savepoint.rollback()  # rolled back to before this one
        db.session.commit()
    after = scrape(client)
    for outcome, committed in (("denied", 0), ("modified", 1), ("approved", 0)):
        assert (value(after, "heso_decisions_settled_total", outcome=outcome, via="test")
                - value(before, "heso_decisions_settled_total", outcome=outcome, via="test")) == committed, outcome


@pytest.fixture
def callback_receiver(app, client, team, httpserver):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = "127.0.0.0/8"
    assert client.put("/v1/channels/callback/config", json={"secret": generate_secret()},
                      headers=team.headers()).status_code == 200
    return httpserver


def _resolve_with_callback(client, team, url: str) -> str:
    decision = create_decision(client, team, callback_url=url)
    assert client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "deny"},
                       headers=team.headers("approver")).status_code == 200
    return decision["id"]


def test_deliveries_are_counted_by_result_and_attempts(app, client, team, callback_receiver):
    callback_receiver.expect_request("/ok").respond_with_data("thanks")
    callback_receiver.expect_request("/busy").respond_with_data("later", status=503)
    before = scrape(client)
    _resolve_with_callback(client, team, callback_receiver.url_for("/ok"))
    _resolve_with_callback(client, team, callback_receiver.url_for("/busy"))
    with app.app_context():
        outbox.drain()  # what the worker's job runs (an RQ burst worker can stall 60 s on teardown)
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("heso_delivery_attempts_total", channel="callback", result="delivered") == 1
    assert delta("heso_delivery_attempts_total", channel="callback", result="retry") == 1
    assert delta("heso_delivery_attempts_per_delivery_count", channel="callback", outcome="delivered") == 1
    assert delta("heso_delivery_attempts_per_delivery_bucket", channel="callback", outcome="delivered", le="1.0") == 1


def test_scrape_time_gauges_read_the_database_and_redis(app, client, team, callback_receiver):
    quiet = scrape(client)
    assert value(quiet, "heso_metrics_source_up", source="database") == 1
    assert value(quiet, "heso_metrics_source_up", source="redis") == 1
    assert value(quiet, "heso_expiry_lag_seconds") == 0 and value(quiet, "heso_oldest_pending_delivery_seconds") == 0
    assert value(quiet, "heso_long_polls_cap", scope="key") == app.config["MAX_WAITS_PER_KEY"]
    assert value(quiet, "heso_long_polls_cap", scope="team") == app.config["MAX_WAITS_PER_TEAM"]
    assert has(quiet, "heso_queue_workers", queue="heso")

    overdue = create_decision(client, team)
    decision_id = _resolve_with_callback(client, team, callback_receiver.url_for("/cb"))  # a delivery, and its job
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == overdue["id"])
                           .values(expires_at=utcnow() - timedelta(minutes=3)))
        db.session.execute(update(Delivery).where(Delivery.decision_id == decision_id)
                           .values(next_attempt_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
    busy = scrape(client)
    assert value(busy, "heso_decisions_overdue") == 1 and value(busy, "heso_expiry_lag_seconds") >= 180
    assert value(busy, "heso_deliveries_due") == 1 and value(busy, "heso_oldest_pending_delivery_seconds") >= 120
    assert value(busy, "heso_queue_jobs", queue="heso", state="queued") >= 1  # the drain job, no worker ran
    for job_state in ("scheduled", "started", "failed"):
        assert has(busy, "heso_queue_jobs", queue="heso", state=job_state)


def test_long_polls_waiting_are_a_gauge(app, client, team):
    decision = create_decision(client, team)
    route = "/v1/decisions/<decision_id>"
    assert value(scrape(client), "heso_long_polls_waiting", route=route) == 0
    answers = []
    poller = threading.Thread(target=lambda: answers.append(
        app.test_client().get(f"/v1/decisions/{decision['id']}?wait=30", headers=team.headers("agent"))))
    poller.start()
    try:
        # The request counts itself as it starts; it takes its slot in Redis a little later.
        wait_until(lambda: (lambda samples: value(samples, "heso_long_polls_waiting", route=route) == 1
                            and value(samples, "heso_long_polls_waiting_team_max") == 1)(scrape(client)),
                   timeout=10, message="the long-poll in both gauges")
    finally:
        client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                    headers=team.headers("approver"))
        poller.join(30)
    assert answers[0].json["status"] == "approved"
    after = scrape(client)
    assert value(after, "heso_long_polls_waiting", route=route) == 0
    assert value(after, "heso_long_polls_waiting_team_max") == 0


@pytest.mark.app_config(METRICS_TOKEN="s3cret-scrape")
def test_a_metrics_token_guards_the_endpoint(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0LXNjcmFwZQ=="}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401 and refused.json["error"] == "UNAUTHORIZED"
        assert refused.json["details"]["request_id"] == refused.headers["X-Request-Id"]
    assert value(scrape(client, Authorization="Bearer s3cret-scrape"), "heso_metrics_source_up", source="redis") == 1


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_scrape_survives_the_database_and_redis_being_down(tmp_path):
    app = create_app({"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{_closed_port()}/none", "TESTING": True,
                      "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0", "RATE_LIMIT": "",
                      "RATE_LIMIT_UNAUTHENTICATED": ""})
    client = app.test_client()
    client.get("/healthz")
    samples = scrape(client)
    assert value(samples, "heso_metrics_source_up", source="database") == 0
    assert value(samples, "heso_metrics_source_up", source="redis") == 0
    assert value(samples, "heso_http_requests_total", method="GET", route="/healthz", status="200") >= 1
    assert not has(samples, "heso_expiry_lag_seconds")  # left out, not reported as 0


@pytest.mark.app_config(REDIS_URL="redis://127.0.0.1:9/0")
def test_a_scrape_reports_the_database_when_redis_is_down(client, team):
    samples = scrape(client)
    assert value(samples, "heso_metrics_source_up", source="database") == 1
    assert value(samples, "heso_metrics_source_up", source="redis") == 0
    assert has(samples, "heso_expiry_lag_seconds") and not has(samples, "heso_queue_jobs", queue="heso", state="queued")
