"""The decision page: what it shows to whom, and approve / deny / modify as the API's resolve."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.console.approver import signed_in
from tests.console.conftest import PHONE
from tests.factories import create_decision
from tests.helpers import Background


def _api(client, team, decision_id: str) -> dict:
    return client.get(f"/v1/decisions/{decision_id}", headers=team.headers("admin")).json


def _post(client, decision_id: str, csrf: str | None, **form) -> object:
    data = {**form, **({"csrf_token": csrf} if csrf is not None else {})}
    return client.post(f"/decisions/{decision_id}/resolve", data=data)


def test_the_page_shows_the_action_context_and_who_asked(app, client, team):
    signed_in(app, client, team)
    context = {"diff": [f"line {number}" for number in range(40)], "repo": "acme/api"}
    decision = create_decision(client, team, context=context, approver=None,
                               approvers=["sarah@example.com", "bob@example.com"], quorum=2)
    page = client.get(f"/decisions/{decision['id']}")
    assert page.status_code == 200
    assert "<title>Decision " in page.text and decision["action"] in page.text
    assert "<details><summary>Show the context" in page.text and "&#34;repo&#34;: &#34;acme/api&#34;" in page.text
    assert "agent key" in page.text  # the key that asked, by name
    assert "0 of 2 approvals" in page.text
    client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                headers=team.as_member("bob@example.com"))
    assert "1 of 2 approvals: bob@example.com (via key)" in client.get(f"/decisions/{decision['id']}").text


def test_ledger_and_deliveries_are_for_ops_as_in_the_api(app, client, team):
    decision = create_decision(client, team)
    signed_in(app, client, team, "sarah@example.com")
    as_approver = client.get(f"/decisions/{decision['id']}").text
    assert "<h2>Ledger</h2>" not in as_approver and "<h2>Deliveries</h2>" not in as_approver
    signed_in(app, client, team, "ops@example.com", role="ops")
    as_ops = client.get(f"/decisions/{decision['id']}").text
    assert "<h2>Ledger</h2>" in as_ops and "decision.created" in as_ops and "<h2>Deliveries</h2>" in as_ops
    assert 'value="approve"' not in as_ops  # ops may read, not answer


def test_approve_goes_through_the_api_and_shows_at_once(app, client, team):
    csrf = signed_in(app, client, team)
    decision = create_decision(client, team)
    done = _post(client, decision["id"], csrf, action="approve", notes="Fine by me")
    assert done.status_code == 303
    page = client.get(done.headers["Location"])
    assert "You approved this decision." in page.text and "Fine by me" in page.text
    answer = _api(client, team, decision["id"])
    assert (answer["status"], answer["resolved_by"], answer["resolved_via"]) == ("approved", "sarah@example.com",
                                                                              "session")
    signed_in(app, client, team, "ops@example.com", role="ops")
    assert "decision.resolved" in client.get(f"/decisions/{decision['id']}").text  # the API's ledger entry


def test_a_replayed_post_says_who_answered_and_changes_nothing(app, client, team):
    csrf = signed_in(app, client, team)
    decision = create_decision(client, team)
    assert _post(client, decision["id"], csrf, action="deny").status_code == 303
    again = _post(client, decision["id"], csrf, action="approve")
    assert again.status_code == 200 and "Already answered by sarah@example.com: denied." in again.text
    assert _api(client, team, decision["id"])["status"] == "denied"


def test_an_expired_decision_says_so(app, client, team):
    csrf = signed_in(app, client, team)
    decision = create_decision(client, team, timeout_minutes=1)
    from datetime import timedelta

    from heso.decisions import service
    from heso.extensions import db
    from heso.timeutil import utcnow
    with app.app_context():
        service.expire_one(decision["id"], utcnow() + timedelta(minutes=2))
        db.session.commit()
    late = _post(client, decision["id"], csrf, action="approve")
    assert late.status_code == 200 and "expired" in late.text and 'role="alert"' in late.text
    assert 'name="action" value="approve"' not in late.text  # no form on a settled decision


def test_modify_shows_the_difference_first_and_stores_the_modified_action(app, client, team):
    csrf = signed_in(app, client, team)
    decision = create_decision(client, team, action="Send contract to Acme Corp for $48,000/year")
    preview = _post(client, decision["id"], csrf, action="modify", step="preview", notes="Cap it",
                    modified_action="Send contract to Acme Corp for $40,000/year")
    assert preview.status_code == 200
    assert "<del>$48,000/year</del><ins>$40,000/year</ins>" in preview.text
    assert _api(client, team, decision["id"])["status"] == "pending"  # a preview changes nothing
    done = _post(client, decision["id"], csrf, action="modify", step="confirm", notes="Cap it",
                 modified_action="Send contract to Acme Corp for $40,000/year")
    assert done.status_code == 303
    answer = _api(client, team, decision["id"])
    assert (answer["status"], answer["modified_action"], answer["response_notes"]) == (
        "modified", "Send contract to Acme Corp for $40,000/year", "Cap it")


def test_bad_answers_are_refused_and_change_nothing(app, client, team):
    csrf = signed_in(app, client, team)
    decision = create_decision(client, team, options=["approve"])
    page = client.get(f"/decisions/{decision['id']}").text
    assert 'value="approve"' in page and 'value="deny"' not in page and "Modify the action" not in page
    for form, status in (({"action": "deny"}, 422), ({"action": "launch"}, 422),
                         ({"action": "approve", "notes": "x" * 10_001}, 422)):
        refused = _post(client, decision["id"], csrf, **form)
        assert refused.status_code == status and "Check the form" in refused.text or "not an option" in refused.text
    modifiable = create_decision(client, team)
    for text in ("", "   ", "x" * 10_001):
        refused = _post(client, modifiable["id"], csrf, action="modify", step="confirm", modified_action=text)
        assert refused.status_code == 422 and "modified_action" in refused.text
    assert {_api(client, team, one)["status"] for one in (decision["id"], modifiable["id"])} == {"pending"}


def test_a_post_without_its_csrf_token_changes_nothing(app, client, team):
    signed_in(app, client, team)
    decision = create_decision(client, team)
    for token in (None, "0" * 64):
        refused = _post(client, decision["id"], token, action="approve")
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert _api(client, team, decision["id"])["status"] == "pending"


def test_who_may_not_answer_sees_no_form_and_cannot_post(app, client, team):
    decision = create_decision(client, team)
    for email, role, status in (("viewer@example.com", "viewer", 403), ("bob@example.com", "approver", 403)):
        csrf = signed_in(app, client, team, email, role=role)
        page = client.get(f"/decisions/{decision['id']}")
        assert page.status_code == 200 and 'name="action"' not in page.text
        refused = _post(client, decision["id"], csrf, action="approve")
        assert refused.status_code == status
    assert "not an approver of this decision" in refused.text
    assert _api(client, team, decision["id"])["status"] == "pending"


def test_whoever_asked_cannot_approve(app, client, team):
    csrf = signed_in(app, client, team, "boss@x.com", role="admin")
    mine = client.post("/v1/decisions", json={"action": "Self-serve", "approver": "boss@x.com"},
                       headers={"X-CSRF-Token": csrf})
    assert mine.status_code == 201, mine.json
    assert 'value="approve"' not in client.get(f"/decisions/{mine.json['id']}").text
    refused = _post(client, mine.json["id"], csrf, action="approve")
    assert refused.status_code == 403 and "Whoever asked cannot approve" in refused.text
    assert _api(client, team, mine.json["id"])["status"] == "pending"


def test_other_teams_and_malformed_ids_are_404(app, client, team, other_team):
    csrf = signed_in(app, client, team)
    theirs = create_decision(client, other_team)
    for decision_id in (theirs["id"], "dec_nope", "x" * 5000, "dec_" + "0" * 26):
        assert client.get(f"/decisions/{decision_id}").status_code == 404
        assert _post(client, decision_id, csrf, action="approve").status_code == 404
    assert _api(client, other_team, theirs["id"])["status"] == "pending"


# --- In the browser -------------------------------------------------------------------------


def test_approve_in_the_console_and_the_api_reports_it(page, sign_in, client, team):
    sign_in(page, "sarah@example.com")
    decision = create_decision(client, team, action="Merge the release branch")
    page.goto(f"/decisions/{decision['id']}")
    page.get_by_label("Notes (optional)").first.fill("Ship it")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text("You approved this decision.")
    expect(page.locator("#decision-status")).to_have_text("approved")
    answer = _api(client, team, decision["id"])
    assert (answer["status"], answer["resolved_by"], answer["response_notes"]) == (
        "approved", "sarah@example.com", "Ship it")


def test_modify_in_the_console_answers_the_agents_long_poll(page, sign_in, client, team, live):
    sign_in(page, "sarah@example.com")
    decision = create_decision(client, team, action="Scale the cluster to 40 nodes")
    waiting = Background(lambda: requests.get(f"{live}/v1/decisions/{decision['id']}?wait=20",
                                              headers=team.headers("agent"), timeout=30))
    page.goto(f"/decisions/{decision['id']}")
    page.get_by_text("Modify the action").click()
    page.get_by_label("Modified action").fill("Scale the cluster to 20 nodes")
    page.get_by_role("button", name="Preview changes").click()
    expect(page.locator(".decision-diff del")).to_have_text("40")
    expect(page.locator(".decision-diff ins")).to_have_text("20")
    page.get_by_role("button", name="Confirm modification").click()
    expect(page.locator("#decision-status")).to_have_text("modified")
    answer = waiting.result(30).json()
    assert (answer["status"], answer["modified_action"]) == ("modified", "Scale the cluster to 20 nodes")


def test_a_decision_answered_meanwhile_says_by_whom(page, sign_in, client, team):
    sign_in(page, "sarah@example.com")
    decision = create_decision(client, team, approver=None, approvers=["sarah@example.com", "bob@example.com"])
    page.goto(f"/decisions/{decision['id']}")
    client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "deny"},
                headers=team.as_member("bob@example.com"))
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("alert").filter(has_text="Already answered")).to_have_text(
        "Already answered by bob@example.com: denied.")
    expect(page.locator("#decision-status")).to_have_text("denied")


def test_the_decision_page_fits_a_phone(page, sign_in, client, team):
    sign_in(page, "sarah@example.com")
    decision = create_decision(client, team, action="Run " + "a-very-long-command-without-spaces" * 10,
                               context={"payload": {"key": "v" * 300, "lines": [f"line {n}" for n in range(30)]}})
    page.set_viewport_size(PHONE)
    page.goto(f"/decisions/{decision['id']}")
    page.get_by_text("Show the context").click()
    page.get_by_text("Modify the action").click()
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    wide = page.evaluate("[...document.querySelectorAll('body *')].filter(e => e.scrollWidth > e.clientWidth + 1"
                         " && e.clientWidth > 0).map(e => e.tagName + '.' + e.className)")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), wide
    assert re.search(r"Run a-very-long", page.locator(".decision-action").first.inner_text())
