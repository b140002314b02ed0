"""Device keys and approvals in the console: a key pair made in Chromium's WebCrypto (private half
non-extractable in IndexedDB), an approval signed in the browser that lifts a receipt to L1, and
the refusals (another member's key, another team's approval, a viewer, a write without CSRF)."""

from __future__ import annotations

import re

from nacl.signing import SigningKey
from playwright.sync_api import expect

from heso.auth import members, sessions
from heso.client.receipts import ReceiptSigner, approval_block, sign_approval
from heso.extensions import db
from tests.console.conftest import PHONE
from tests.helpers import wait_until
from tests.receipts.helpers import ACTION, operator, push, register

SARAH = "sarah@example.com"

STORED_KEYS = """async (member) => {
  const db = await new Promise((ok, ko) => { const r = indexedDB.open("heso-device-keys", 1);
    r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  const all = await new Promise((ok, ko) => { const r = db.transaction("keys").objectStore("keys").getAll();
    r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  db.close();
  return all.filter((k) => k.member === member).map((k) => ({
    publicKey: k.publicKey, keyId: k.keyId, isCryptoKey: k.privateKey instanceof CryptoKey,
    extractable: k.privateKey.extractable, type: k.privateKey.type, algorithm: k.privateKey.algorithm.name,
    usages: k.privateKey.usages}));
}"""


def _signing_keys(client, team) -> list[dict]:
    response = client.get("/v1/keys/signing?kind=approver", headers=team.headers("ops"))
    assert response.status_code == 200, response.json
    return response.json["data"]


def _open(client, team, signer: ReceiptSigner, routing_hint: str | None = None) -> dict:
    body = {"receipt": signer.sign(ACTION, "v1", "deploys")}
    if routing_hint:
        body["routingHint"] = routing_hint
    opened = client.post("/v1/approvals", json=body, headers=team.headers("agent"))
    assert opened.status_code == 201, opened.json
    return opened.json


def test_a_device_key_made_in_the_browser_approves_to_l1_and_is_revoked(page, sign_in, client, team):
    sign_in(page, SARAH, "approver")
    page.goto("/device-keys")
    expect(page.get_by_role("status")).to_contain_text("holds no device key of yours")
    page.get_by_role("button", name="Create a device key on this browser").click()
    expect(page.get_by_text("This device", exact=True)).to_be_visible()

    # The server has the public half, named by the member, as an approver key.
    [registered] = [key for key in _signing_keys(client, team) if key["name"] == SARAH]
    assert registered["revokedAt"] is None and registered["kind"] == "approver"
    # The browser kept the private half, and cannot hand it out.
    [stored] = page.evaluate(STORED_KEYS, SARAH)
    assert stored == {"publicKey": registered["publicKey"], "keyId": registered["keyId"], "isCryptoKey": True,
                      "extractable": False, "type": "private", "algorithm": "Ed25519", "usages": ["sign"]}

    # The agent opens an approval for its receipt, as over the API.
    signer = operator(client, team)
    opened = _open(client, team, signer)
    assert opened["approvers"] == [SARAH]

    page.goto("/approvals")
    page.get_by_role("link", name=opened["approvalId"]).click()
    expect(page.locator("#approval-action")).to_contain_text('"service": "api"')
    expect(page.get_by_role("status")).to_contain_text(registered["keyId"])
    page.get_by_role("button", name="Approve with this device").click()
    expect(page.locator("#approval-outcome")).to_have_text("approved")

    # Over the API: settled by that key, and the receipt that cites it is accepted at L1.
    answer = client.get(f"/v1/approvals/{opened['approvalId']}", headers=team.headers("agent")).json
    assert answer["outcome"] == "approved" and answer["approval"]["approverKeyId"] == registered["keyId"]
    assert answer["approval"]["approver"] == SARAH
    decision = client.get(f"/v1/decisions/{opened['decisionId']}", headers=team.headers("agent")).json
    assert (decision["status"], decision["resolved_by"], decision["resolved_via"]) == ("approved", SARAH,
                                                                                       "device_key")
    l1 = signer.sign(ACTION, "v1", "deploys", approval=approval_block(answer))
    pushed = push(client, team, l1)
    assert pushed.status_code == 201 and pushed.json["accepted"], pushed.json
    stored_receipt = client.get(f"/v1/receipts/{pushed.json['receiptId']}", headers=team.headers("ops")).json
    assert stored_receipt["trustLevel"] == "L1"

    # A second approval, denied from the browser.
    second = _open(client, team, signer)
    page.goto(f"/approvals/{second['approvalId']}")
    page.get_by_role("button", name="Deny with this device").click()
    expect(page.locator("#approval-outcome")).to_have_text("denied")
    assert client.get(f"/v1/approvals/{second['approvalId']}", headers=team.headers("agent")).json["outcome"] \
        == "denied"

    # Revoked in the console: the API lists it revoked, and the browser forgets its private half.
    page.goto("/device-keys")
    page.get_by_role("button", name=f"Revoke {registered['keyId']}").click()
    expect(page.get_by_text("revoked", exact=True)).to_be_visible()
    [revoked] = [key for key in _signing_keys(client, team) if key["keyId"] == registered["keyId"]]
    assert revoked["revokedAt"] is not None
    wait_until(lambda: page.evaluate(STORED_KEYS, SARAH) == [], timeout=10, message="the local key forgotten")
    expect(page.get_by_role("button", name="Create a device key on this browser")).to_be_enabled()


def test_an_approval_page_without_a_key_on_this_browser_says_so(page, sign_in, client, team):
    sign_in(page, SARAH, "approver")
    register(client, team, "approver", SigningKey.generate(), name=SARAH)  # on another device
    opened = _open(client, team, operator(client, team))
    page.goto(f"/approvals/{opened['approvalId']}")
    expect(page.get_by_role("status")).to_contain_text("No device key on this browser may answer")
    expect(page.get_by_role("button", name="Approve with this device")).to_be_disabled()
    page.set_viewport_size(PHONE)  # a phone: no horizontal scroll on either page
    for path in (f"/approvals/{opened['approvalId']}", "/device-keys", "/approvals"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path


# --- plain client tests -------------------------------------------------------------------------

def _session(app, client, team, email: str, role: str) -> str:
    """Sign ``client`` in as ``email`` (a session cookie); returns the session's CSRF token."""
    with app.app_context():
        member = members.by_email(team.id, email) or members.add(team.id, email, role, status="active")
        if member.role != role:
            members.update(team.id, member.id, role=role)
        row, token = sessions.create(member)
        db.session.commit()
        csrf = sessions.csrf_token(row.id)
    client.set_cookie(sessions.COOKIE, token)
    return csrf


def _public_hex() -> str:
    return bytes(SigningKey.generate().verify_key).hex()


def test_a_member_registers_only_in_their_own_name_with_the_groups_an_admin_gave(app, client, team):
    register(client, team, "approver", SigningKey.generate(), name=SARAH, groups=["finance"])
    csrf = _session(app, client, team, SARAH, "approver")
    sent = client.post("/device-keys", json={"publicKey": _public_hex(), "name": "bob@example.com"},
                       headers={"X-CSRF-Token": csrf})
    assert sent.status_code == 422 and sent.json["error"] == "VALIDATION_ERROR"
    made = client.post("/device-keys", json={"publicKey": _public_hex()}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.json
    assert (made.json["name"], made.json["groups"], made.json["kind"]) == (SARAH, ["finance"], "approver")
    assert [key["name"] for key in _signing_keys(client, team)] == [SARAH, SARAH]


def test_bad_public_keys_are_refused_with_a_message(app, client, team):
    csrf = _session(app, client, team, SARAH, "approver")
    for body in ({"publicKey": "zz" * 32}, {"publicKey": "ab" * 300}, {"publicKey": "00" * 32}, ["x"]):
        refused = client.post("/device-keys", json=body, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 422 and refused.json["message"], body
    taken = _public_hex()
    assert client.post("/device-keys", json={"publicKey": taken}, headers={"X-CSRF-Token": csrf}).status_code == 201
    again = client.post("/device-keys", json={"publicKey": taken}, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409 and "already registered" in again.json["message"]
    assert len(_signing_keys(client, team)) == 1


def test_another_members_key_cannot_be_revoked(app, client, team):
    bobs = register(client, team, "approver", SigningKey.generate(), name="bob@example.com")
    csrf = _session(app, client, team, SARAH, "approver")
    page = client.get("/device-keys")
    assert page.status_code == 200 and bobs["keyId"] not in page.text
    refused = client.post(f"/device-keys/{bobs['keyId']}/revoke", data={"csrf_token": csrf})
    assert refused.status_code == 404 and "Not found" in refused.text
    assert client.post(f"/device-keys/{'k' * 5000}/revoke", data={"csrf_token": csrf}).status_code == 404
    assert all(key["revokedAt"] is None for key in _signing_keys(client, team))


def test_a_replayed_revoke_changes_nothing_more(app, client, team):
    csrf = _session(app, client, team, SARAH, "approver")
    made = client.post("/device-keys", json={"publicKey": _public_hex()}, headers={"X-CSRF-Token": csrf})
    key_id = made.json["keyId"]
    for _ in range(2):
        done = client.post(f"/device-keys/{key_id}/revoke", data={"csrf_token": csrf})
        assert done.status_code == 303 and done.headers["Location"] == "/device-keys"
    [key] = _signing_keys(client, team)
    assert key["revokedAt"] is not None
    page = client.get("/device-keys").text
    assert page.count(">revoked<") == 1 and f"Revoke {key_id}" not in page


def test_posts_without_the_csrf_token_change_nothing(app, client, team):
    key = SigningKey.generate()
    own = register(client, team, "approver", key, name=SARAH)
    opened = _open(client, team, operator(client, team))
    _session(app, client, team, SARAH, "approver")
    refused = client.post("/device-keys", json={"publicKey": _public_hex()})
    assert refused.status_code == 403
    assert client.post(f"/device-keys/{own['keyId']}/revoke", data={}).status_code == 403
    token = sign_approval(key, opened["statement"], "approved")
    settled = client.post(f"/v1/approvals/{opened['approvalId']}/token", json={"token": token})
    assert settled.status_code == 403 and settled.json["details"]["reason"] == "csrf"
    assert [k["revokedAt"] for k in _signing_keys(client, team)] == [None]
    assert client.get(f"/v1/approvals/{opened['approvalId']}", headers=team.headers("agent")).json["outcome"] \
        == "pending"


def test_another_teams_approval_is_not_found(app, client, team, other_team):
    register(client, other_team, "approver", SigningKey.generate(), name=SARAH)
    theirs = _open(client, other_team, operator(client, other_team))
    _session(app, client, team, SARAH, "approver")
    for approval_id in (theirs["approvalId"], "apr_" + "0" * 26, "x" * 3000):
        page = client.get(f"/approvals/{approval_id}")
        assert page.status_code == 404 and "Approve with this device" not in page.text
    assert theirs["approvalId"] not in client.get("/approvals").text


def test_a_viewer_sees_no_approval_and_ops_sees_it_without_an_approve_button(app, client, team):
    register(client, team, "approver", SigningKey.generate(), name=SARAH)
    opened = _open(client, team, operator(client, team))
    _session(app, client, team, "vera@example.com", "viewer")
    for path in (f"/approvals/{opened['approvalId']}", "/approvals", "/device-keys"):
        page = client.get(path)
        assert page.status_code == 403 and "Approve with this device" not in page.text, path
    assert "Device keys" not in client.get("/").text
    _session(app, client, team, "olga@example.com", "ops")
    page = client.get(f"/approvals/{opened['approvalId']}")
    assert page.status_code == 200 and "deploy" in page.text and "Approve with this device" not in page.text


def test_the_list_shows_only_approvals_the_members_keys_may_answer(app, client, team):
    register(client, team, "approver", SigningKey.generate(), name=SARAH, groups=["finance"])
    register(client, team, "approver", SigningKey.generate(), name="bob@example.com", groups=["legal"])
    signer = operator(client, team)
    finance, legal, anyone = (_open(client, team, signer, hint) for hint in ("finance", "legal", None))
    _session(app, client, team, SARAH, "approver")
    listed = client.get("/approvals").text
    assert finance["approvalId"] in listed and anyone["approvalId"] in listed
    assert legal["approvalId"] not in listed
    page = client.get(f"/approvals/{legal['approvalId']}")
    assert page.status_code == 200 and "None of your active device keys may answer" in page.text
    assert re.search(r"Approve with this device", client.get(f"/approvals/{finance['approvalId']}").text)
