"""Block Kit limits: what Slack would refuse (``invalid_blocks``) or what a cut copy would lose."""

from __future__ import annotations

from heso_channel_slack import blocks


def _decision(**overrides):
    return {"id": "dec_01", "action": "Deploy v2", "urgency": "high", "status": "pending",
            "approvers": ["sarah@example.com"], "options": ["approve", "deny", "modify"],
            "expires_at": "2026-12-05T12:00:00Z", "context": {"sha": "abc", "replicas": 3}, **overrides}


def _submitted(view):
    """``state.values`` as Slack sends it back: every input block, with the text it shows."""
    return {block["block_id"]: {"value": {"type": "plain_text_input",
                                          "value": block["element"].get("initial_value")}}
            for block in view["blocks"] if block["type"] == "input"}


def _texts(blocks_list):
    for block in blocks_list:
        for field in block.get("fields", []):
            yield "field", field["text"]
        if isinstance(block.get("text"), dict):
            yield block["type"], block["text"]["text"]


def test_an_unchanged_modal_gives_back_exactly_the_original_action_and_context():
    long_action = "rm -rf /srv/cache/" + "a" * 9_980
    long_list = list(range(2_000))
    decision = _decision(action=long_action, context={"sha": "abc", "files": long_list, "note": "n" * 3_500})
    view = blocks.modal(decision, "meta")
    inputs = [block for block in view["blocks"] if block["type"] == "input"]
    assert [block["block_id"] for block in inputs] == ["ctx:sha", "notes"]  # the long ones are shown, not inputs
    assert all(len(block["element"].get("initial_value", "")) <= blocks.INPUT_CHARS for block in inputs)
    assert "kept as sent" in view["blocks"][0]["text"]["text"]
    modified, notes, errors = blocks.read_modal(decision, _submitted(view))
    assert errors == {} and notes is None
    assert modified == {"action": long_action, "context": decision["context"]}


def test_an_edited_short_field_changes_only_that_field():
    decision = _decision(context={"sha": "abc", "replicas": 3, "blob": "b" * 4_000})
    values = _submitted(blocks.modal(decision, "meta"))
    values["ctx:replicas"]["value"]["value"] = "5"
    values["action"]["value"]["value"] = "Deploy v2 to staging"
    modified, _, errors = blocks.read_modal(decision, values)
    assert errors == {}
    assert modified == {"action": "Deploy v2 to staging", "context": {"sha": "abc", "replicas": 5, "blob": "b" * 4_000}}


def test_long_approver_lists_and_requesters_stay_within_a_section_field():
    approvers = [f"approver-number-{n:02d}-with-a-long-address@example.com" for n in range(50)]
    decision = _decision(approvers=approvers, context={f"k{n}": "v" * 2_500 for n in range(12)})
    for build in (blocks.request_blocks, blocks.outcome_blocks, blocks.escalated_away_blocks):
        for kind, text in _texts(build(decision, requested_by="bot-" + "x" * 3_000)):
            assert len(text) <= (2_000 if kind == "field" else 3_000), (build.__name__, kind, len(text))
