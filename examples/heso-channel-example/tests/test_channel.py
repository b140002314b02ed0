"""The example channel's tests: HESO's contract suite, plus its own behaviour."""

import json

from heso_channel_example import JsonLinesChannel

from heso.testing import ChannelContract, make_notification


class TestContract(ChannelContract):
    plugin_class = JsonLinesChannel
    valid_config = {"path": "/tmp/heso-example.jsonl"}
    unreachable_config = {"path": "/nonexistent-directory/heso.jsonl"}


def test_each_notification_is_one_line(tmp_path):
    path = tmp_path / "out.jsonl"
    channel = JsonLinesChannel()
    for event in ("decision.created", "decision.resolved"):
        assert channel.send(make_notification(config={"path": str(path)}, event=event)).ok
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["decision.created", "decision.resolved"]
    assert lines[0]["decision"]["action"] == "Deploy v2.1 to production"
