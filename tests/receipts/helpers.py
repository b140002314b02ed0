"""Operators, approvers and receipts for the receipt and approval tests."""

from __future__ import annotations

from dataclasses import dataclass

from nacl.signing import SigningKey

from heso.client.receipts import ReceiptSigner, sign_approval
from tests.policy.bundles import upload

ACTION = {"tool": "deploy", "args": {"service": "api", "version": "2.1.0", "replicas": 3}}


@dataclass
class Approver:
    key: SigningKey
    key_id: str
    name: str


def register(client, team, kind: str, signing_key: SigningKey, name: str = "ops@example.com",
             groups: list[str] | None = None) -> dict:
    body = {"kind": kind, "publicKey": bytes(signing_key.verify_key).hex(), "name": name}
    if groups is not None:
        body["groups"] = groups
    response = client.post("/v1/keys/signing", json=body, headers=team.headers("admin"))
    assert response.status_code == 201, response.json
    return response.json


def operator(client, team, agent_id: str = "deploy-bot", policy: bool = True) -> ReceiptSigner:
    """A registered operator key, and policy version v1 uploaded for the team."""
    signer = ReceiptSigner(SigningKey.generate(), team.id, agent_id)
    register(client, team, "operator", signer.signing_key)
    if policy:
        assert upload(client, team).status_code in (200, 201)
    return signer


def approver(client, team, name: str = "sarah@example.com", groups: tuple[str, ...] = ("finance",)) -> Approver:
    key = SigningKey.generate()
    registered = register(client, team, "approver", key, name=name, groups=list(groups))
    return Approver(key, registered["keyId"], name)


def push(client, team, receipt, scope: str = "agent"):
    return client.post("/v1/receipts", json=receipt, headers=team.headers(scope))


def push_raw(client, team, raw: bytes, path: str = "/v1/receipts"):
    return client.post(path, data=raw, headers=team.headers("agent", **{"Content-Type": "application/json"}))


def batch(client, team, receipts: list):
    return client.post("/v1/receipts/batch", json={"receipts": receipts}, headers=team.headers("agent"))


def approved(client, team, signer: ReceiptSigner, by: Approver, action=ACTION, headers=None, **open_extra) -> dict:
    """Open an approval for ``action`` (``open_extra``: maxReceipts, timeoutMinutes …), have ``by``
    approve it with their device key, and return the settled approval (what ``approval_block`` takes)."""
    headers = headers or team.headers("agent")
    opened = client.post("/v1/approvals", json={"receipt": signer.sign(action, "v1", "deploys"),
                                                "routingHint": "finance", **open_extra}, headers=headers)
    assert opened.status_code == 201, opened.json
    token = sign_approval(by.key, opened.json["statement"], "approved")
    settled = client.post(f"/v1/approvals/{opened.json['approvalId']}/token", json={"token": token},
                          headers=team.headers("approver"))
    assert settled.status_code == 200, settled.json
    return settled.json
