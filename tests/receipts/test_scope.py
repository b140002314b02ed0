"""Issue 13: agent keys were team-wide for receipts. Any agent's key listed and read every
receipt of its team (and polled every approval, signed answer included). An agent's key now
reads only the receipts its own agent pushed and the approvals it opened; ops and admins read
the team."""

from __future__ import annotations

from heso.client.receipts import approval_block, sign_approval
from tests.agents.conftest import bearer, invite, register
from tests.receipts.helpers import ACTION, approver, operator
from tests.test_errors import assert_envelope


def _agent(client, team) -> dict[str, str]:
    return bearer(register(client, invite(client, team)["token"])["api_key"])


def _push(client, headers, receipt) -> str:
    response = client.post("/v1/receipts", json=receipt, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["receiptId"]


def _listed(client, headers, query: str = "") -> list[str]:
    response = client.get(f"/v1/receipts{query}", headers=headers)
    assert response.status_code == 200, response.json
    return [receipt["receiptId"] for receipt in response.json["data"]]


def _alices_l1_receipt(client, team, alice, signer) -> tuple[str, str]:
    """Alice opens an approval, Sarah approves it, Alice pushes the L1 receipt: (receipt, approval)."""
    sarah = approver(client, team)
    opened = client.post("/v1/approvals", json={"receipt": signer.sign(ACTION, "v1", "deploys"),
                                                "routingHint": "finance"}, headers=alice)
    assert opened.status_code == 201, opened.json
    approval_id = opened.json["approvalId"]
    token = sign_approval(sarah.key, opened.json["statement"], "approved")
    settled = client.post(f"/v1/approvals/{approval_id}/token", json={"token": token}, headers=alice)
    assert settled.status_code == 200, settled.json
    receipt = signer.sign(ACTION, "v1", "deploys", approval=approval_block(settled.json))
    return _push(client, alice, receipt), approval_id


def test_an_agent_cannot_list_or_read_another_agents_receipts(client, team):
    alice, mallory = _agent(client, team), _agent(client, team)
    signer = operator(client, team, agent_id="alice-bot")
    l0 = _push(client, alice, signer.sign({"tool": "ls"}, "v1"))
    l1, approval_id = _alices_l1_receipt(client, team, alice, signer)

    assert _listed(client, mallory) == []
    for query in ("?agentId=alice-bot", f"?approvalId={approval_id}", "?trustLevel=L1",
                  f"?actionHash={signer.sign(ACTION, 'v1')['action_hash']}"):
        assert _listed(client, mallory, query) == [], query
    for receipt_id in (l0, l1):
        assert_envelope(client.get(f"/v1/receipts/{receipt_id}", headers=mallory), 404, "NOT_FOUND")
    # Nor the approval behind the L1 receipt, with Sarah's signature in it.
    assert_envelope(client.get(f"/v1/approvals/{approval_id}", headers=mallory), 404, "NOT_FOUND")

    assert sorted(_listed(client, alice)) == sorted([l0, l1])
    assert client.get(f"/v1/receipts/{l1}", headers=alice).json["trustLevel"] == "L1"
    assert client.get(f"/v1/approvals/{approval_id}", headers=alice).json["outcome"] == "approved"


def test_a_receipt_claiming_another_agent_id_stays_with_the_agent_that_pushed_it(client, team):
    """The receipt's agent_id is text the pusher signs, not an identity: Mallory pushing receipts
    that say "alice-bot" neither shows them to Alice nor lets Mallory read Alice's."""
    alice, mallory = _agent(client, team), _agent(client, team)
    signer = operator(client, team, agent_id="alice-bot")
    alices = _push(client, alice, signer.sign({"tool": "ls"}, "v1"))
    forged = _push(client, mallory, signer.sign({"tool": "rm"}, "v1"))
    assert _listed(client, alice, "?agentId=alice-bot") == [alices]
    assert _listed(client, mallory, "?agentId=alice-bot") == [forged]


def test_ops_and_admins_read_the_whole_team(client, team):
    alice, bob = _agent(client, team), _agent(client, team)
    signer = operator(client, team)
    ids = [_push(client, alice, signer.sign({"n": 1}, "v1")), _push(client, bob, signer.sign({"n": 2}, "v1"))]
    for headers in (team.headers("ops"), team.headers("admin")):
        assert sorted(_listed(client, headers)) == sorted(ids)
        for receipt_id in ids:
            assert client.get(f"/v1/receipts/{receipt_id}", headers=headers).status_code == 200


def test_a_rotated_agent_key_still_reads_its_agents_receipts(client, team):
    alice = _agent(client, team)
    pushed = _push(client, alice, operator(client, team).sign({"tool": "ls"}, "v1"))
    rotated = client.post("/v1/agents/me/rotate-key", headers=alice)
    assert rotated.status_code == 200, rotated.json
    new = bearer(rotated.json["api_key"])
    assert _listed(client, new) == [pushed]
    assert client.get(f"/v1/receipts/{pushed}", headers=new).status_code == 200


def test_a_team_agent_key_of_no_agent_reads_only_what_it_pushed(client, team):
    signer = operator(client, team)
    mine = _push(client, team.headers("agent"), signer.sign({"n": 1}, "v1"))
    theirs = _push(client, _agent(client, team), signer.sign({"n": 2}, "v1"))
    assert _listed(client, team.headers("agent")) == [mine]
    assert_envelope(client.get(f"/v1/receipts/{theirs}", headers=team.headers("agent")), 404, "NOT_FOUND")
