"""HESO_LOG_FORMAT=json: one JSON object per line, with the request id; text lines show it too."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis

from heso import create_app
from heso.extensions import state
from heso.observability import logs

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured():
    """HESO's formatter on a handler of the root logger, writing to a string."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)

    yield handler, stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_json_lines_parse_and_carry_the_request_id(app, client, captured):
    handler, stream = captured
    handler.setFormatter(logs.formatter("json"))

    @app.route("/logs-json")
    def logs_json():
        logging.getLogger("tests.observability").info("approved %s", "dec_1", extra={"decision_id": "dec_1"})
        return "ok"

    @app.route("/logs-crash")
    def crash():
        raise RuntimeError("kaput")

    answer = client.get("/logs-json", headers={"X-Request-Id": "json-7"})
    crashed = client.get("/logs-crash")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is one JSON object
    mine = next(line for line in lines if line["logger"] == "tests.observability")
    assert mine["message"] == "approved dec_1" and mine["level"] == "INFO"
    assert mine["request_id"] == answer.headers["X-Request-Id"] == "json-7"
    assert mine["decision_id"] == "dec_1"  # extra= fields are kept
    assert mine["time"].endswith("Z")
    error = next(line for line in lines if line["logger"] == "heso.errors")
    assert error["request_id"] == crashed.headers["X-Request-Id"] == crashed.json["details"]["request_id"]
    assert "RuntimeError: kaput" in error["exception"]


def test_text_lines_show_the_request_id(app, client, captured):
    handler, stream = captured
    handler.setFormatter(logs.formatter("text"))

    @app.route("/logs-text")
    def logs_text():
        logging.getLogger("tests.observability").warning("hello")
        return "ok"

    client.get("/logs-text", headers={"X-Request-Id": "text-9"})
    assert any(line.endswith("tests.observability [text-9] hello") for line in stream.getvalue().splitlines())


def test_an_unknown_format_is_refused_by_name():
    with pytest.raises(ValueError, match="HESO_LOG_FORMAT"):
        logs.formatter("xml")


def _worker(tmp_path, redis_url, **env):
    return subprocess.run(
        [sys.executable, "-m", "heso", "worker", "--burst"], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=120, env={**os.environ, "HESO_DATABASE_URL": f"sqlite:///{tmp_path / 'heso.db'}",
                          "HESO_REDIS_URL": redis_url, **env})


def test_a_worker_logs_json_lines_with_the_job_id(tmp_path, redis_url):
    """The process configures logging itself (nothing else did): every line of stderr is JSON, and
    the lines of a job carry the job's id where a request's lines carry the request id."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'heso.db'}", "REDIS_URL": redis_url})
    with app.app_context():
        job = state().queue.enqueue("logging.warning", "said by a job")
    try:
        done = _worker(tmp_path, redis_url, HESO_LOG_FORMAT="json", HESO_LOG_LEVEL="INFO")
    finally:
        Redis.from_url(redis_url).flushdb()  # the worker's registration and the job's result
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    said = [line for line in lines if line["message"] == "said by a job"]
    assert [line["request_id"] for line in said] == [f"job_{job.id}"]
    assert all(line["request_id"] == "-" for line in lines if "said by a job" not in line["message"]
               and line["logger"] == "rq.cron")


def test_a_wrong_log_format_stops_the_process_at_start(tmp_path, redis_url):
    done = _worker(tmp_path, redis_url, HESO_LOG_FORMAT="xml")
    assert done.returncode != 0 and "HESO_LOG_FORMAT" in done.stderr
