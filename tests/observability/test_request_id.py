"""Every answer carries an X-Request-Id: the caller's when sane, else a new one; the same id is in
the error envelope's details and in every log record of the request."""

from __future__ import annotations

import logging
import re

import pytest

from heso.observability import request_id
from tests.factories import decision_body

GENERATED = re.compile(r"req_[0-9a-f]{32}")


def test_success_error_404_and_405_each_get_an_id(client, team):
    answers = [
        client.get("/healthz"),                                   # 200
        client.get("/v1/decisions"),                              # 401, no key
        client.get("/v1/decisions", headers=team.headers("agent")),  # 200
        client.get("/nothing/here"),                              # 404
        client.delete("/v1/decisions", headers=team.headers()),   # 405
        client.post("/v1/decisions", json={"urgency": "soon"}, headers=team.headers("agent")),  # 422
    ]
    assert [answer.status_code for answer in answers] == [200, 401, 200, 404, 405, 422]
    ids = [answer.headers["X-Request-Id"] for answer in answers]
    assert all(GENERATED.fullmatch(value) for value in ids), ids
    assert len(set(ids)) == len(ids)


def test_the_error_envelope_carries_the_id_beside_its_own_details(client, team):
    missing = client.get("/nothing/here")
    assert missing.json["details"] == {"request_id": missing.headers["X-Request-Id"]}
    invalid = client.post("/v1/decisions", json={"urgency": "soon"}, headers=team.headers("agent"))
    assert invalid.json["details"]["request_id"] == invalid.headers["X-Request-Id"]
    assert {"action", "urgency"} <= set(invalid.json["details"]["json"])  # the existing details are intact


@pytest.mark.parametrize("sane", ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:span.1_2-3", "x" * 128])
def test_a_sane_incoming_id_is_echoed(client, team, sane):
    ok = client.post("/v1/decisions", json=decision_body(), headers=team.headers("agent", **{"X-Request-Id": sane}))
    assert ok.status_code == 201 and ok.headers["X-Request-Id"] == sane
    refused = client.get("/v1/decisions/dec_nope", headers=team.headers("agent", **{"X-Request-Id": sane}))
    assert refused.status_code == 404
    assert refused.headers["X-Request-Id"] == sane and refused.json["details"]["request_id"] == sane


@pytest.mark.parametrize("insane", ["", "x" * 129, "two words", "semi;colon", "quote\"d", "ümlaut", "a/b"])
def test_an_insane_incoming_id_is_replaced(client, insane):
    answer = client.get("/healthz", headers={"X-Request-Id": insane})
    assert GENERATED.fullmatch(answer.headers["X-Request-Id"]), answer.headers["X-Request-Id"]


def test_line_breaks_never_become_an_id():
    # werkzeug's test client refuses to send these, a raw socket would not: check the rule itself.
    for forged in ("ok\nFAKE LOG LINE", "ok\r\nX-Injected: 1", "ok\x00", "ok\t"):
        assert GENERATED.fullmatch(request_id.accept(forged))


@pytest.mark.app_config(RATE_LIMIT="1 per hour")
def test_a_request_refused_before_its_view_has_an_id_too(client, team):
    assert client.get("/v1/decisions", headers=team.headers("agent")).status_code == 200
    refused = client.get("/v1/decisions", headers=team.headers("agent", **{"X-Request-Id": "limited-1"}))
    assert refused.status_code == 429
    assert refused.headers["X-Request-Id"] == "limited-1" and refused.json["details"]["request_id"] == "limited-1"


def test_log_records_of_a_request_carry_its_id(app, client, team, caplog):
    @app.route("/logs-something")
    def logs_something():
        logging.getLogger("tests.observability").warning("inside the request")
        return "ok"

    @app.route("/boom-for-logs")
    def boom():
        raise RuntimeError("kaput")

    caplog.set_level(logging.INFO)
    answer = client.get("/logs-something", headers={"X-Request-Id": "trace-42"})
    assert answer.status_code == 200
    inside = [record for record in caplog.records if record.getMessage() == "inside the request"]
    assert [record.request_id for record in inside] == ["trace-42"]

    # HESO's own lines too, here the log line of an unexpected error, and its envelope.
    crashed = client.get("/boom-for-logs")
    assert crashed.status_code == 500
    logged = [record for record in caplog.records if record.name == "heso.errors"]
    assert logged and logged[-1].request_id == crashed.headers["X-Request-Id"] == crashed.json["details"]["request_id"]

    # Outside a request the id is "-": a finished request's id does not linger.
    logging.getLogger("tests.observability").warning("after the request")
    assert caplog.records[-1].request_id == "-"
