"""The delivery outbox with a real channel plugin, a real HTTP receiver, real Redis and RQ."""

from datetime import timedelta

from rq.registry import ScheduledJobRegistry
from sqlalchemy import select, update
from werkzeug import Response

from heso import tasks
from heso.channels import outbox
from heso.channels.models import Delivery
from heso.extensions import db, state
from heso.timeutil import utcnow
from heso.worker import build_worker
from tests.factories import create_decision
from tests.helpers import wait_until


def configure(client, team, receiver, **extra):
    response = client.put("/v1/channels/recorder/config", json={"url": receiver.url_for("/hook"), **extra},
                          headers=team.headers())
    assert response.status_code == 200, response.json


def received(receiver):
    return [request.get_json() for request, _ in receiver.log]


def run_worker(app):
    with app.app_context():
        build_worker(app).work(burst=True)


def deliveries(app, **filters):
    with app.app_context():
        rows = db.session.scalars(select(Delivery).filter_by(**filters).order_by(Delivery.created_at)).all()
        db.session.expunge_all()
        return rows


def test_created_and_resolved_events_are_delivered_once(test_channels, app, client, team, receiver):
    configure(client, team, receiver)
    decision = create_decision(client, team, channel="recorder")
    run_worker(app)
    client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"}, headers=team.headers("approver"))
    run_worker(app)
    events = [(body["event"], body["status"]) for body in received(receiver)]
    assert events == [("decision.created", "pending"), ("decision.resolved", "approved")]
    listing = client.get(f"/v1/deliveries?decision_id={decision['id']}", headers=team.headers("ops")).json["data"]
    assert [row["status"] for row in listing] == ["delivered", "delivered"]
    assert listing[0]["attempt_log"][0]["ok"] is True and listing[0]["attempt_log"][0]["status_code"] == 200


def test_failed_attempts_follow_the_schedule_then_dead_letter_once(test_channels, app, client, team, httpserver):
    app.config["DELIVERY_RETRY_SCHEDULE"] = "1.5,0.3"  # the first gap leaves room for a slow machine
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    configure(client, team, httpserver)
    create_decision(client, team, channel="recorder")
    (delivery,) = deliveries(app)
    with app.app_context():
        assert tasks.deliver(delivery.id) == "pending"
        assert tasks.deliver(delivery.id) == "skipped"  # not due yet: the schedule holds
        wait_until(lambda: tasks.deliver(delivery.id) != "skipped", 5, message="second attempt")
        wait_until(lambda: deliveries(app, id=delivery.id)[0].status != "pending"
                   or tasks.deliver(delivery.id) == "dead", 5, message="third attempt")
    (dead,) = deliveries(app, id=delivery.id)
    assert dead.status == "dead" and dead.attempts == 3
    assert [body["attempt"] for body in received(httpserver)] == [1, 2, 3]
    assert len({body["delivery_id"] for body in received(httpserver)}) == 1
    audit = client.get("/v1/audit?event=delivery.exhausted", headers=team.headers()).json["data"]
    assert len(audit) == 1 and audit[0]["data"]["delivery_id"] == delivery.id


def test_a_retry_drain_is_never_scheduled_before_its_row_is_due(test_channels, app, client, team, httpserver):
    """RQ keeps a scheduled job's time in whole seconds and moves it once that second begins. A
    drain filed under the retry's time rounded down ran up to a second early, found the row not
    yet due and left the retry to the sweeper (found by a restarted worker, tests/test_worker_lifecycle.py)."""
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    configure(client, team, httpserver)
    create_decision(client, team, channel="recorder")
    (delivery,) = deliveries(app)
    with app.app_context():
        assert tasks.deliver(delivery.id) == "pending"
        registry = ScheduledJobRegistry(queue=state().queue)
        (job_id,) = registry.get_job_ids()
        scheduled = registry.get_scheduled_time(job_id)
    (row,) = deliveries(app)
    assert row.next_attempt_at <= scheduled < row.next_attempt_at + timedelta(seconds=1)


def test_replay_of_a_dead_delivery(test_channels, app, client, team, httpserver):
    app.config["DELIVERY_RETRY_SCHEDULE"] = ""
    httpserver.expect_ordered_request("/hook").respond_with_data("down", status=503)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    configure(client, team, httpserver)
    create_decision(client, team, channel="recorder")
    run_worker(app)
    (delivery,) = deliveries(app)
    assert delivery.status == "dead"
    replayed = client.post(f"/v1/deliveries/{delivery.id}/retry", headers=team.headers())
    assert replayed.status_code == 202 and replayed.json["status"] == "pending"
    run_worker(app)
    assert deliveries(app)[0].status == "delivered"


def test_gone_is_permanent_and_retry_after_is_honoured(test_channels, app, client, team, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_response(Response("slow down", 429, {"Retry-After": "120"}))
    httpserver.expect_ordered_request("/hook").respond_with_data("gone", status=410)
    configure(client, team, httpserver)
    create_decision(client, team, channel="recorder")
    (delivery,) = deliveries(app)
    with app.app_context():
        before = utcnow()
        assert tasks.deliver(delivery.id) == "pending"
        (row,) = deliveries(app)
        assert row.next_attempt_at - before >= timedelta(seconds=119)
        db.session.execute(update(Delivery).values(next_attempt_at=utcnow()))
        db.session.commit()
        assert tasks.deliver(delivery.id) == "failed"


def test_lost_jobs_are_recovered_by_the_sweeper(test_channels, app, client, team, receiver):
    configure(client, team, receiver)
    decision = create_decision(client, team, channel="recorder")
    state_redis = app.extensions["heso"].redis
    state_redis.flushdb()  # Redis lost every job
    with app.app_context():
        db.session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
        assert tasks.sweep()["redelivered"] == 1
    run_worker(app)
    assert [body["decision_id"] for body in received(receiver)] == [decision["id"]]
    assert deliveries(app)[0].status == "delivered"


def test_a_worker_killed_mid_delivery_is_retried_with_the_same_id(test_channels, app, client, team, receiver):
    configure(client, team, receiver)
    create_decision(client, team, channel="recorder")
    (delivery,) = deliveries(app)
    with app.app_context():
        # What a worker killed after claiming leaves behind: a lease, nobody holding it.
        db.session.execute(update(Delivery).values(status="sending", attempts=1,
                                                   lease_until=utcnow() + timedelta(seconds=60)))
        db.session.commit()
        assert outbox.recover() == 0  # the lease is still valid: no duplicate attempt
        db.session.execute(update(Delivery).values(lease_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        state().redis.flushdb()
        assert outbox.recover() == 1
    run_worker(app)
    assert [(body["delivery_id"], body["attempt"]) for body in received(receiver)] == [(delivery.id, 2)]


def test_no_delivery_for_a_transition_that_lost_its_race(test_channels, app, client, team, receiver):
    configure(client, team, receiver)
    decision = create_decision(client, team, channel="recorder")
    url = f"/v1/decisions/{decision['id']}/resolve"
    assert client.post(url, json={"action": "deny"}, headers=team.headers("approver")).status_code == 200
    assert client.post(url, json={"action": "approve"}, headers=team.headers("approver")).status_code == 409
    assert [row.event for row in deliveries(app)] == ["decision.created", "decision.resolved"]


def test_channel_config_is_validated_masked_and_per_team(test_channels, client, team, other_team, receiver):
    bad = client.put("/v1/channels/recorder/config", json={"url": "not a url", "extra": 1}, headers=team.headers())
    assert bad.status_code == 422 and set(bad.json["details"]["json"]) == {"url", "extra"}
    configure(client, team, receiver, token="s3cret-value")
    shown = client.get("/v1/channels/recorder/config", headers=team.headers())
    assert shown.json["config"]["token"] == "********" and "s3cret-value" not in shown.get_data(as_text=True)
    assert client.get("/v1/channels/recorder/config", headers=other_team.headers()).status_code == 404
    assert client.get("/v1/channels/nope/config", headers=team.headers()).json["error"] == "NOT_FOUND"
    assert client.put("/v1/channels/recorder/config", json={"url": receiver.url_for("/")},
                      headers=team.headers("agent")).status_code == 403


def test_deliveries_are_per_team(test_channels, app, client, team, other_team, receiver):
    configure(client, team, receiver)
    create_decision(client, team, channel="recorder")
    (delivery,) = deliveries(app)
    assert client.get(f"/v1/deliveries/{delivery.id}", headers=other_team.headers()).status_code == 404
    assert client.post(f"/v1/deliveries/{delivery.id}/retry", headers=other_team.headers()).status_code == 404
    assert client.get("/v1/deliveries", headers=other_team.headers()).json["data"] == []
    assert client.get("/v1/deliveries?status=bogus", headers=team.headers()).status_code == 422


def test_a_gone_endpoint_is_disabled_until_reconfigured(test_channels, app, client, team, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_data("gone", status=410)
    httpserver.expect_ordered_request("/hook").respond_with_data("back")
    configure(client, team, httpserver)
    create_decision(client, team, channel="recorder")
    run_worker(app)
    shown = client.get("/v1/channels/recorder/config", headers=team.headers()).json
    assert shown["disabled_at"] and shown["disabled_reason"] == "gone"  # what the receiver said
    create_decision(client, team, channel="recorder")  # sent nowhere while disabled
    run_worker(app)
    assert len(httpserver.log) == 1
    assert [row.status for row in deliveries(app)] == ["failed", "failed"]
    assert "disabled" in deliveries(app)[1].last_error
    assert len(client.get("/v1/audit?event=channel.disabled", headers=team.headers()).json["data"]) == 1
    configure(client, team, httpserver)  # a new configuration re-enables it
    assert client.get("/v1/channels/recorder/config", headers=team.headers()).json["disabled_at"] is None
    create_decision(client, team, channel="recorder")
    run_worker(app)
    assert [row.status for row in deliveries(app)] == ["failed", "failed", "delivered"]
    assert len(httpserver.log) == 2


def test_a_notification_carries_one_action_token_per_approver(test_channels, app, client, team, receiver):
    configure(client, team, receiver)
    decision = create_decision(client, team, channel="recorder", approver=None,
                               approvers=["a@example.com", "b@example.com"], quorum=2)
    (delivery,) = deliveries(app)
    with app.app_context():
        note = outbox.build_notification(delivery)
    assert set(note.action_tokens) == {"a@example.com", "b@example.com"}
    assert note.action_token == note.action_tokens["a@example.com"]
    url = f"/v1/decisions/{decision['id']}/respond"
    # Each token answers as its own approver only: a's token cannot vote twice, nor as b.
    first = client.post(url, json={"token": note.action_tokens["a@example.com"], "action": "approve"})
    assert first.status_code == 200 and first.json["approve_votes"] == 1
    assert client.post(url, json={"token": note.action_tokens["a@example.com"], "action": "approve"}).status_code == 409
    assert client.post(url, json={"token": note.action_tokens["a@example.com"], "action": "approve",
                                  "resolved_by": "b@example.com"}).status_code == 403
    second = client.post(url, json={"token": note.action_tokens["b@example.com"], "action": "approve"})
    assert second.status_code == 200 and second.json["status"] == "approved"
    assert (second.json["resolved_by"], second.json["resolved_via"]) == ("b@example.com", "token")
