"""The operators' read pages: /audit (verify, export), /receipts, /deliveries (retry)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select, update

from heso.channels.models import Delivery
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.console.approver import signed_in
from tests.factories import create_decision
from tests.receipts.helpers import ACTION, operator, push


def dead_delivery(app, client, team) -> str:
    """A dead-lettered delivery of a real decision (the outbox row as the worker leaves it)."""
    decision = create_decision(client, team)
    with app.app_context():
        now = utcnow()
        delivery = Delivery(id=f"dlv_{decision['id'][4:]}", team_id=team.id, decision_id=decision["id"],
                            channel="webhook", event="decision.created", status="dead", attempts=3,
                            next_attempt_at=now, last_status_code=503, last_error="HTTP 503", created_at=now)
        db.session.add(delivery)
        db.session.commit()
        return delivery.id


# -- client: what each role sees and may do ---------------------------------------------------

def test_a_viewer_reads_the_ledger_and_receipts_but_cannot_export(app, client, team):
    signed_in(app, client, team, "vic@example.com", "viewer")
    audit = client.get("/audit")
    assert audit.status_code == 200 and "<title>Audit · HESO</title>" in audit.text
    assert "Verify chain" in audit.text and "Export bundle" not in audit.text
    assert client.get("/v1/audit/export").status_code == 403  # the API's own rule: ops or admin
    assert client.get("/receipts").status_code == 200
    assert client.get("/deliveries").status_code == 403


def test_ops_exports_the_same_bundle_as_the_api(app, client, team):
    signed_in(app, client, team, "olga@example.com", "ops")
    audit = client.get("/audit")
    assert 'href="/v1/audit/export"' in audit.text
    bundle = client.get("/v1/audit/export")
    assert bundle.status_code == 200 and bundle.mimetype == "application/x-ndjson"
    same = client.get("/v1/audit/export", headers=team.headers("ops")).data
    assert bundle.data.splitlines()[1:] == same.splitlines()[1:]  # line 1, the manifest, has its own time


def test_the_ledger_filters_by_event_and_verifies_without_htmx(app, client, team):
    create_decision(client, team)
    signed_in(app, client, team, "olga@example.com", "ops")
    filtered = client.get("/audit?event=decision.created")
    assert "decision.created" in filtered.text and "member.added" not in filtered.text
    assert "No ledger entries for event nothing.here" in client.get("/audit?event=nothing.here").text
    verified = client.get("/audit/verify")
    assert verified.status_code == 200 and "Chain intact" in verified.text
    fragment = client.post("/audit/verify", headers={"HX-Request": "true"})
    assert fragment.status_code == 403  # a POST is a write to from_cookie: the token is needed
    csrf = signed_in(app, client, team, "olga@example.com", "ops")
    fragment = client.post("/audit/verify", headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert fragment.status_code == 200 and "<title>" not in fragment.text and "Chain intact" in fragment.text


def test_bad_filters_are_a_422_page_naming_the_field(app, client, team):
    signed_in(app, client, team, "olga@example.com", "ops")
    for path, field in (("/audit?cursor=abc", "cursor"), ("/receipts?trustLevel=L9", "trustLevel"),
                        ("/deliveries?status=bogus", "status"), ("/audit?event=" + "e" * 65, "event")):
        page = client.get(path)
        assert page.status_code == 422, path
        assert field in page.text and "Check the filters" in page.text


def test_receipts_list_and_detail_show_the_trust_level(app, client, team):
    signer = operator(client, team)
    receipt_id = push(client, team, signer.sign(ACTION, "v1", "git")).json["receiptId"]
    signed_in(app, client, team, "vic@example.com", "viewer")
    listing = client.get("/receipts")
    assert receipt_id in listing.text and "L0" in listing.text
    assert receipt_id not in client.get("/receipts?trustLevel=L1").text
    detail = client.get(f"/receipts/{receipt_id}")
    assert detail.status_code == 200 and "operator signature only" in detail.text
    assert ACTION["tool"] in detail.text


def test_deliveries_filter_show_the_attempt_log_and_only_admins_retry(app, client, team):
    delivery_id = dead_delivery(app, client, team)
    signed_in(app, client, team, "olga@example.com", "ops")
    dead = client.get("/deliveries?status=dead")
    assert dead.status_code == 200 and delivery_id in dead.text and '<option value="dead" selected>' in dead.text
    assert delivery_id not in client.get("/deliveries?status=delivered").text
    detail = client.get(f"/deliveries/{delivery_id}")
    assert detail.status_code == 200 and "HTTP 503" in detail.text and "Retry now" not in detail.text
    csrf = signed_in(app, client, team, "olga@example.com", "ops")
    refused = client.post(f"/deliveries/{delivery_id}/retry", data={"csrf_token": csrf})
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.get(Delivery, delivery_id).status == "dead"

    csrf = signed_in(app, client, team, "ada@example.com", "admin")
    assert "Retry now" in client.get(f"/deliveries/{delivery_id}").text
    assert client.post(f"/deliveries/{delivery_id}/retry", data={}).status_code == 403  # no CSRF token
    with app.app_context():
        assert db.session.get(Delivery, delivery_id).status == "dead"
    retried = client.post(f"/deliveries/{delivery_id}/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert retried.status_code == 200 and "Retry queued" in retried.text
    with app.app_context():
        assert db.session.get(Delivery, delivery_id).status == "pending"


def test_another_teams_receipt_and_delivery_answer_404(app, client, team, other_team):
    signer = operator(client, other_team)
    receipt_id = push(client, other_team, signer.sign(ACTION, "v1")).json["receiptId"]
    delivery_id = dead_delivery(app, client, other_team)
    csrf = signed_in(app, client, team, "ada@example.com", "admin")
    assert client.get(f"/receipts/{receipt_id}").status_code == 404
    assert client.get(f"/deliveries/{delivery_id}").status_code == 404
    assert client.post(f"/deliveries/{delivery_id}/retry", data={"csrf_token": csrf}).status_code == 404
    assert receipt_id not in client.get("/receipts").text and delivery_id not in client.get("/deliveries").text
    with app.app_context():
        assert db.session.get(Delivery, delivery_id).status == "dead"


# -- browser ----------------------------------------------------------------------------------

def test_verify_the_chain_then_see_the_first_bad_index_after_tampering(page, sign_in, app, client, team):
    for _ in range(3):
        create_decision(client, team)
    sign_in(page, "olga@example.com", "ops")
    page.goto("/audit")
    page.get_by_role("button", name="Verify chain").click()
    expect(page.locator("#verify-result")).to_contain_text("Chain intact")

    with app.app_context():
        second = db.session.scalar(select(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.seq == 2))
        assert second is not None
        db.session.execute(update(LedgerEntry).where(LedgerEntry.id == second.id)
                           .values(data={**second.data, "tampered": True}))
        db.session.commit()
    page.get_by_role("button", name="Verify chain").click()
    expect(page.locator("#verify-result")).to_contain_text("Chain broken at index 1")
