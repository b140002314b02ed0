"""The curl examples of README.md, docs/agents.md, docs/sdk.md and docs/slack.md, run as written.

Each ``curl`` is read from its guide's ``sh`` block (not copied here), its placeholders
(``$KEY``, ``dec_01J…``, ``hesobs_…``, ``evt_…``) filled in the way a user would, and sent
to the app; the test checks what the guide says comes back.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SLACK_SECRET, SLACK_BOT = "8f742231b10e8888abcd99aa1234f5a5", "xoxb-1234-5678-abcdefghijkl"


def curls(guide: str) -> list[list[str]]:
    """Every curl command of the guide's sh blocks, as argument lists (comments dropped)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", (ROOT / guide).read_text(), re.S):
        words = shlex.split(re.sub(r"\\\n", " ", block), comments=True)
        starts = [index for index, word in enumerate(words) if word == "curl"]
        for start, end in zip(starts, [*starts[1:], len(words)], strict=False):
            commands.append(words[start + 1:end])
    return commands


def send(client, arguments: list[str], values: dict[str, str]):
    """Send one curl command to the test client; ``values`` fills the placeholders."""
    def fill(text: str) -> str:
        for placeholder, value in sorted(values.items(), key=lambda item: -len(item[0])):
            text = text.replace(placeholder, value)
        return text

    method, headers, body, url = None, {}, None, None
    words = iter(arguments)
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = fill(next(words)).partition(": ")
            headers[name] = value
        elif word == "-d":
            body = fill(next(words))
        elif not word.startswith("-"):
            url = fill(word)
    parts = urlsplit(url if "://" in url else f"http://{url}")
    query = re.sub(r"wait=\d+", "wait=0", parts.query)  # the guide's long-poll, not its 60 s
    path = parts.path + (f"?{query}" if query else "")
    method = method or ("POST" if body is not None else "GET")
    return client.open(path, method=method, headers=headers, data=body)


def test_readme_create_wait_resolve(client, team):
    create, wait, resolve = curls("README.md")
    # $KEY is the admin key; $APPROVER_KEY Sarah's personal key (heso keys create --member sarah@example.com).
    values = {"$KEY": team.keys["admin"], "$APPROVER_KEY": team.member_keys["sarah@example.com"]}
    created = send(client, create, values)
    assert created.status_code == 201 and created.json["status"] == "pending", created.json
    values["dec_01J…"] = created.json["id"]
    assert send(client, create, values).headers["Idempotent-Replayed"] == "true"  # the Idempotency-Key
    waited = send(client, wait, values)
    assert waited.status_code == 200 and waited.json["id"] == created.json["id"]
    resolved = send(client, resolve, values)
    assert resolved.status_code == 200, resolved.json
    assert resolved.json["status"] == "approved" and resolved.json["resolved_by"] == "sarah@example.com"
    assert resolved.json["resolved_via"] == "key" and resolved.json["response_notes"] == "Go ahead"


def test_agents_md_register_poll_ack(client, team):
    register, poll, ack = curls("docs/agents.md")
    token = client.post("/v1/agents/bootstrap-tokens", json={"name": "deploy-bot"}, headers=team.headers()).json
    registered = send(client, register, {"hesobs_…": token["token"]})
    assert registered.status_code == 201, registered.json
    assert registered.json["id"].startswith("agt_") and registered.json["status"] == "active"
    assert registered.json["api_key"].startswith("heso_") and registered.json["poll_interval_minutes"] == 20
    assert registered.json["metadata"] == {"runtime": "python"}
    values = {"$AGENT_KEY": registered.json["api_key"]}
    idle = send(client, poll, values)
    assert idle.status_code == 200 and idle.get_data().strip() == b"{}"
    assert idle.headers["Heso-Poll-Interval-Seconds"] == "1200" and idle.headers["Heso-Wait-Seconds"] == "0"

    agent = {"Authorization": f"Bearer {values['$AGENT_KEY']}"}
    decision = client.post("/v1/decisions", json={"action": "x", "approver": "ops@example.com"}, headers=agent).json
    resolved = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                           headers=team.as_member("ops@example.com"))
    assert resolved.status_code == 200, resolved.json
    events = send(client, poll, values).json["events"]
    assert [(event["kind"], event["subject_id"]) for event in events] == [("decision.approved", decision["id"])]
    values["evt_…"] = events[0]["id"]
    acked = send(client, ack, values)
    assert acked.status_code == 200 and acked.json == {"acked": 1, "already_acked": 0, "remaining": 0}
    assert send(client, poll, values).get_data().strip() == b"{}"


def test_sdk_md_resolve(client, team):
    (resolve,) = curls("docs/sdk.md")
    decision = client.post("/v1/decisions", json={"action": "df -h", "approver": "ops@example.com"},
                           headers=team.headers("agent")).json
    values = {"$HESO_ENDPOINT": "http://127.0.0.1:5000", "dec_…": decision["id"]}
    # As the guide says: a team key (the admin key of `make run`) is refused, the approver's personal key answers.
    refused = send(client, resolve, {**values, "$APPROVER_KEY": team.keys["admin"]})
    assert refused.status_code == 403 and refused.json["error"] == "FORBIDDEN", refused.json
    answer = send(client, resolve, {**values, "$APPROVER_KEY": team.member_keys["ops@example.com"]})
    assert answer.status_code == 200 and answer.json["status"] == "approved", answer.json
    assert answer.json["resolved_by"] == "ops@example.com"


def test_slack_md_config_then_ask(client, team):
    configure, ask = curls("docs/slack.md")
    values = {"$HESO": "http://127.0.0.1:5000", "$ADMIN_KEY": team.keys["admin"], "$AGENT_KEY": team.keys["agent"],
              "8f74…": SLACK_SECRET, "xoxb-…": SLACK_BOT}
    stored = send(client, configure, values)
    assert stored.status_code == 200, stored.json
    assert stored.json["config"]["signing_secret"] == "********" and stored.json["config"]["bot_token"] == "********"
    asked = send(client, ask, values)
    assert asked.status_code == 201 and asked.json["channel"] == "slack", asked.json
    assert asked.json["context"] == {"service": "api", "version": "2.1.0"}
    assert json.loads(client.get("/v1/channels/slack/config", headers=team.headers()).get_data())["config"][
        "bot_token"] == "********"
