"""The HTTP source against a real HTTP server: ETag / 304, timeouts, size cap, failures."""

import json
import threading

import pytest
from heso_policy_http import HttpSource
from werkzeug import Response

from heso.policy.base import SourceError, TeamRef
from heso.testing import PolicySourceContract
from tests.policy.bundles import bundle

TEAM = TeamRef("team_1", "acme")


def body(version):
    return json.dumps(bundle(version))


def source(httpserver, path="/policy.json", **config):
    return HttpSource(HttpSource.config_schema().load({"url": httpserver.url_for(path), **config}))


def test_etag_and_if_none_match(httpserver):
    httpserver.expect_ordered_request("/policy.json").respond_with_data(
        body("v1"), headers={"ETag": '"abc"'}, content_type="application/json")
    httpserver.expect_ordered_request("/policy.json", headers={"If-None-Match": '"abc"'}).respond_with_data(
        "", status=304)
    plugin = source(httpserver)
    fetched = plugin.load(TEAM, None)
    assert fetched.token == 'etag:"abc"' and fetched.fmt == "json" and b'"v1"' in fetched.text
    assert plugin.load(TEAM, fetched.token) is None
    httpserver.check_assertions()


def test_without_an_etag_unchanged_content_is_recognised(httpserver):
    httpserver.expect_request("/policy.yaml").respond_with_data("version: y\nrules: []\n",
                                                                content_type="application/yaml")
    plugin = source(httpserver, "/policy.yaml")
    fetched = plugin.load(TEAM, None)
    assert fetched.token.startswith("sha256:") and fetched.fmt == "yaml"
    assert plugin.load(TEAM, fetched.token) is None


def test_the_team_id_goes_into_the_url_and_headers_are_sent(httpserver):
    httpserver.expect_request("/teams/team_1.json", headers={"Authorization": "Bearer s3cret"}).respond_with_data(
        body("t"), content_type="application/json")
    plugin = HttpSource(HttpSource.config_schema().load({
        "url": httpserver.url_for("/teams/{team_id}.json"), "headers": {"Authorization": "Bearer s3cret"}}))
    assert b'"t"' in plugin.load(TEAM, None).text


def test_a_server_that_does_not_answer_is_cut_at_the_timeout(httpserver):
    release = threading.Event()

    def stall(request):
        release.wait(5)
        return Response(body("late"), content_type="application/json")

    httpserver.expect_request("/policy.json").respond_with_handler(stall)
    try:
        with pytest.raises(SourceError, match=r"0\.3 s"):
            source(httpserver, timeout_seconds=0.3).load(TEAM, None)
    finally:
        release.set()


def test_a_server_that_trickles_is_cut_at_the_timeout_too(httpserver):
    pace = threading.Event()  # never set: each wait is the server's pause between chunks

    def trickle(request):
        def chunks():
            for _ in range(15):
                pace.wait(0.05)
                yield b" " * 10
            yield body("slow").encode()

        return Response(chunks(), content_type="application/json")

    httpserver.expect_request("/policy.json").respond_with_handler(trickle)
    with pytest.raises(SourceError, match="took longer than 0.5 s"):
        source(httpserver, timeout_seconds=0.5).load(TEAM, None)


@pytest.mark.parametrize("declared", [True, False])
def test_an_answer_over_the_size_cap_is_refused(httpserver, declared):
    big = body("big") + " " * 5000
    if declared:
        httpserver.expect_request("/policy.json").respond_with_data(big, content_type="application/json")
    else:
        httpserver.expect_request("/policy.json").respond_with_handler(
            lambda request: Response(iter([big.encode()]), content_type="application/json"))
    with pytest.raises(SourceError, match="1000"):
        source(httpserver, max_bytes=1000).load(TEAM, None)


def test_redirects_are_not_followed(httpserver):
    httpserver.expect_request("/policy.json").respond_with_data("", status=302,
                                                                headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(SourceError, match="HTTP 302"):
        source(httpserver).load(TEAM, None)


def test_connection_refused_is_a_source_error():
    plugin = HttpSource(HttpSource.config_schema().load({"url": "http://127.0.0.1:9/policy.json",
                                                         "timeout_seconds": 1}))
    with pytest.raises(SourceError, match="Could not fetch"):
        plugin.load(TEAM, None)


@pytest.mark.parametrize("config", [{"url": "ftp://example.com/p"}, {"url": "/relative"},
                                    {"url": "http://x/p", "max_bytes": 2_000_000}, {"url": "http://x/p", "retries": 3},
                                    {"url": "http://x/p", "timeout_seconds": 0}])
def test_bad_configuration_is_refused(config):
    import marshmallow as ma

    with pytest.raises(ma.ValidationError):
        HttpSource.config_schema().load(config)


def test_through_heso_a_failing_server_keeps_the_last_good_bundle(client, team, httpserver, bind, refresh):
    httpserver.expect_ordered_request("/p.json").respond_with_data(body("good"), headers={"ETag": '"1"'},
                                                                   content_type="application/json")
    httpserver.expect_ordered_request("/p.json").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/p.json", headers={"If-None-Match": '"1"'}).respond_with_data("", status=304)
    httpserver.expect_ordered_request("/p.json").respond_with_data(body("newer"), headers={"ETag": '"2"'},
                                                                   content_type="application/json")
    bind("http", {"url": httpserver.url_for("/p.json"), "headers": {"Authorization": "Bearer s3cret"}})
    assert refresh()["active_version"] == "good"
    failed = refresh()
    assert failed["status"] == "failing" and "HTTP 500" in failed["last_error"] and failed["active_version"] == "good"
    assert client.post("/v1/policy/evaluate", json={"capabilities": ["fs.read"]},
                       headers=team.headers("agent")).json["policy_version"] == "good"
    recovered = refresh()  # 304: unchanged since the last good one, and healthy again
    assert recovered["status"] == "ok" and recovered["active_version"] == "good"
    assert refresh()["active_version"] == "newer"
    shown = client.get("/v1/policy/source", headers=team.headers("ops")).json
    assert shown["name"] == "http" and "headers" not in shown["config"]  # secrets are never shown
    httpserver.check_assertions()


class TestHttpSourceContract(PolicySourceContract):
    source_class = HttpSource
    unreachable_config = {"url": "http://127.0.0.1:9/policy.json", "timeout_seconds": 2}

    @pytest.fixture
    def source_config(self, httpserver):
        httpserver.expect_request("/policy.json").respond_with_data(
            body("contract"), headers={"ETag": '"c1"'}, content_type="application/json")
        return {"url": httpserver.url_for("/policy.json")}
