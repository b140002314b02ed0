"""Rate limits (Flask-Limiter, counted in the app's Redis): per API key, per address, shared, fail-open."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from redis import Redis

from heso import wakeups
from heso.client import HesoClient, NotFound
from heso.extensions import db
from tests.conftest import _build_app
from tests.helpers import serve_wsgi, socket_connects

LIST = "/v1/decisions"


@pytest.fixture
def limited_app():
    """Build more apps on the fixtures' database with their own (low) limits; close them after."""
    built = []

    def build(database_url, redis_url, **limits):
        settings = {"RATE_LIMIT": "", "RATE_LIMIT_UNAUTHENTICATED": "", **limits}
        built.append(_build_app(database_url, redis_url, **settings))
        return built[-1]

    yield build
    for app in built:
        wakeups.close(app)  # the subscriber an authenticated request starts (the key cache's)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["heso"].redis.close()
        if app.extensions["heso.limiter"] is not None:
            app.extensions["heso.limiter"].storage.storage.close()


def assert_refused(response, limit: str) -> None:
    body = response.json() if callable(response.json) else response.json  # requests' or Flask's
    assert response.status_code == 429, body
    assert body["error"] == "RATE_LIMITED"
    assert body["details"]["limit"] == limit
    assert set(body) == {"error", "message", "details"}
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert body["details"]["retry_after"] == retry_after
    assert response.headers["X-RateLimit-Limit"] == limit.split()[0]
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())


def test_over_the_limit_is_a_429_envelope_and_other_keys_are_not_affected(app, limited_app, database_url,
                                                                           redis_url, team, other_team):
    client = limited_app(database_url, redis_url, RATE_LIMIT="3 per hour").test_client()
    for _ in range(3):
        assert client.get(LIST, headers=team.headers("agent")).status_code == 200
    assert_refused(client.get(LIST, headers=team.headers("agent")), "3 per 1 hour")
    # The same request replayed stays refused; the team's other key and another team's are not.
    assert_refused(client.get(LIST, headers=team.headers("agent")), "3 per 1 hour")
    assert client.get(LIST, headers=team.headers("ops")).status_code == 200
    assert client.get(LIST, headers=other_team.headers("agent")).status_code == 200
    # A refused write changes nothing and is refused before its body is even read.
    refused = client.post(LIST, headers=team.headers("agent"), data=b"x" * (1024 * 1024),
                          content_type="application/json")
    assert_refused(refused, "3 per 1 hour")
    # Health probes are never limited.
    for _ in range(5):
        assert client.get("/healthz").status_code == 200


def test_requests_without_a_valid_key_count_against_their_address(app, limited_app, database_url, redis_url, team):
    client = limited_app(database_url, redis_url, RATE_LIMIT="2 per hour").test_client()
    assert client.get(LIST).status_code == 401
    # A mistyped key (bad checksum) parses to no key id: it counts against the address too.
    key = team.headers("agent")["Authorization"]
    mistyped = key[:-1] + ("1" if key.endswith("0") else "0")  # a key already ending in 0 stayed valid
    assert client.get(LIST, headers={"Authorization": mistyped}).status_code == 401
    assert_refused(client.get(LIST), "2 per 1 hour")
    assert_refused(client.get("/openapi.json"), "2 per 1 hour")
    # A valid key has its own counter, whatever address it comes from.
    assert client.get(LIST, headers=team.headers("agent")).status_code == 200


def test_registration_and_token_answers_have_a_stricter_limit_per_address(app, limited_app, database_url,
                                                                          redis_url, team):
    client = limited_app(database_url, redis_url, RATE_LIMIT="100 per hour",
                         RATE_LIMIT_UNAUTHENTICATED="2 per hour").test_client()
    for body in ({"bootstrap_token": "hbt_nope", "name": "x"}, {"name": "x"}):  # wrong, malformed
        assert client.post("/v1/agents/register", json=body).status_code in (401, 422)
    assert_refused(client.post("/v1/agents/register", json={"bootstrap_token": "hbt_nope", "name": "x"}),
                   "2 per 1 hour")
    # Each endpoint has its own counter; GETs and keyed requests are under the general limit only.
    respond = "/v1/decisions/dec_missing/respond"
    for _ in range(2):
        assert client.post(respond, json={"token": "forged", "action": "approve"}).status_code != 429
    assert_refused(client.post(respond, json={"token": "forged", "action": "approve"}), "2 per 1 hour")
    assert client.get(LIST, headers=team.headers("agent")).status_code == 200


def test_two_app_instances_on_one_redis_share_the_counters(app, limited_app, database_url, redis_url, team):
    first = limited_app(database_url, redis_url, RATE_LIMIT="4 per hour").test_client()
    second = limited_app(database_url, redis_url, RATE_LIMIT="4 per hour").test_client()
    for client in (first, second, first, second):
        assert client.get(LIST, headers=team.headers("agent")).status_code == 200
    assert_refused(first.get(LIST, headers=team.headers("agent")), "4 per 1 hour")
    assert_refused(second.get(LIST, headers=team.headers("agent")), "4 per 1 hour")
    keys = list(Redis.from_url(redis_url).scan_iter("LIMITS:*"))
    assert keys and all(b"heso/key:" in key for key in keys), keys


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_with_redis_down_requests_are_served_and_counted_in_memory(app, limited_app, database_url, team):
    port = free_port()
    # No key cache: its Redis subscriber would try to connect from its own thread meanwhile,
    # and this counts the tries of the requests themselves.
    client = limited_app(database_url, f"redis://127.0.0.1:{port}/0", RATE_LIMIT="3 per hour",
                         LOCAL_CACHE_SECONDS=0).test_client()
    tries = []
    for _ in range(3):
        with socket_connects() as attempted:
            response = client.get(LIST, headers=team.headers("agent"))
        assert response.status_code == 200, response.json
        tries.append(sum(1 for address in attempted if address == ("127.0.0.1", port)))
    # Each Redis call is tried once (each try can cost the 1 s connect timeout when Redis does not
    # even refuse; redis-py's default retries made 4, with backoff): the first request's count,
    # then at most Flask-Limiter's own recovery check (1, 2, 4... s apart) on any request.
    assert tries[0] >= 1 and max(tries) <= 2, tries
    assert_refused(client.get(LIST, headers=team.headers("agent")), "3 per 1 hour")


def test_limits_off_when_both_settings_are_empty(app, limited_app, database_url, redis_url, team):
    limited = limited_app(database_url, redis_url)
    assert limited.extensions["heso.limiter"] is None
    client = limited.test_client()
    assert all(client.get(LIST, headers=team.headers("agent")).status_code == 200 for _ in range(20))


def test_the_default_limits_let_a_burst_of_100_concurrent_calls_through(app, limited_app, team):
    """The defaults are on in the test apps: 100 calls of one key at once all answer 200."""
    from concurrent.futures import ThreadPoolExecutor

    assert app.config["RATE_LIMIT"] == "100 per second; 3000 per minute"
    with serve_wsgi(app) as url, requests.Session() as session:
        session.headers.update(team.headers("agent"))
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(lambda _: session.get(f"{url}{LIST}", timeout=30).status_code, range(100)))
    assert statuses == [200] * 100


def test_the_sdk_waits_out_retry_after_and_succeeds(app, limited_app, database_url, redis_url, team):
    limited = limited_app(database_url, redis_url, RATE_LIMIT="2 per 2 second")
    with serve_wsgi(limited) as url:
        statuses = [requests.get(f"{url}{LIST}", headers=team.headers("agent"), timeout=10) for _ in range(3)]
        assert [response.status_code for response in statuses[:2]] == [200, 200]
        if statuses[2].status_code != 200:  # 200 only if the 2 s window turned between the calls
            assert_refused(statuses[2], "2 per 2 second")
            assert int(statuses[2].headers["Retry-After"]) <= 2
        client = HesoClient(team.keys["agent"], endpoint=url, max_retries=3)
        for _ in range(3):  # over the limit again: the SDK sleeps Retry-After and gets its answer
            with pytest.raises(NotFound):
                client.get_decision("dec_01missing")


@pytest.mark.parametrize("setting", ["lots per second", "5 per fortnight"])
def test_a_malformed_limit_fails_at_start_up(limited_app, database_url, redis_url, setting):
    with pytest.raises(ValueError, match="HESO_RATE_LIMIT"):
        limited_app(database_url, redis_url, RATE_LIMIT=setting)
