"""An approval an agent opened (issue 7) reaches the agent's inbox when it settles."""

from __future__ import annotations

from heso.client.receipts import sign_approval
from tests.agents.conftest import bearer
from tests.receipts.helpers import ACTION, approver, operator


def test_settled_approval_is_an_event_with_its_approval_id(client, team, agent):
    signer = operator(client, team)
    sarah = approver(client, team)
    opened = client.post("/v1/approvals", json={"receipt": signer.sign(ACTION, "v1", "deploys"),
                                                "routingHint": "finance"}, headers=bearer(agent["api_key"]))
    assert opened.status_code == 201, opened.json
    body = opened.json
    assert client.get("/v1/events", headers=bearer(agent["api_key"])).json == {}
    token = sign_approval(sarah.key, body["statement"], "approved")
    settled = client.post(f"/v1/approvals/{body['approvalId']}/token", json={"token": token},
                          headers=team.headers("approver"))
    assert settled.status_code == 200, settled.json
    events = client.get("/v1/events", headers=bearer(agent["api_key"])).json["events"]
    assert [(e["kind"], e["subject_id"], e["payload"]["approval_id"]) for e in events] == [
        ("decision.approved", body["decisionId"], body["approvalId"])]
