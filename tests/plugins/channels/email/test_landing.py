"""The pages behind email links: GET shows, only a confirmed POST acts (RELIABILITY #13–15)."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import update

from heso.channels import interactions
from heso.channels import links as email_links
from heso.channels.link_throttle import INVALID_LIMIT
from heso.decisions import service
from heso.decisions.models import Decision
from heso.extensions import db
from heso.timeutil import utcnow
from heso.worker import build_worker
from tests.factories import create_decision
from tests.plugins.channels.email.conftest import bodies, links, notification, send

NONCE = re.compile(r'name="nonce" value="([^"]+)"')
INVALID_TITLE = "This link is not valid, was used, or has expired"


def status_of(client, team, decision_id):
    return client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json


def nonce_of(page) -> str:
    return NONCE.search(page.get_data(as_text=True)).group(1)


def mailed_links(app, team, smtp, decision, recipient="sarah@example.com", event="decision.created"):
    assert send(app, notification(app, team, decision, event=event)).ok
    return links(smtp.mailbox.to(recipient)[-1])


def test_an_emailed_link_needs_a_confirmed_post(email_app, client, team, smtp):
    decision = create_decision(client, team, urgency="critical", context={"amount": 48000})
    approve = mailed_links(email_app, team, smtp, decision)["Approve"]

    page = client.get(approve)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Approve this request?" in html and "Send contract to Acme Corp" in html
    assert "CRITICAL URGENCY" in html and ">amount</th>" in html
    assert '<button type="submit" class="approve" name="confirm" value="approve">' in html
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    assert "<script" not in html and "http" not in html.split("<body>")[1]  # no JavaScript, no CDN

    # What mail scanners do: HEAD, a GET without cookies, posting without the page's nonce,
    # with a forged one, or auto-submitting the form (form.submit() sends no button value).
    assert client.head(approve).status_code == 200
    assert email_app.test_client(use_cookies=False).get(approve).status_code == 200
    assert client.post(approve).status_code == 400
    assert client.post(approve, data={"nonce": "forged", "confirm": "approve"}).status_code == 400
    assert client.post(approve, data={"nonce": nonce_of(page)}).status_code == 400
    deny = mailed_links(email_app, team, smtp, decision)["Deny"]
    other_pages_nonce = nonce_of(client.get(deny))
    assert client.post(approve, data={"nonce": other_pages_nonce, "confirm": "approve"}).status_code == 400
    assert status_of(client, team, decision["id"])["status"] == "pending"

    done = client.post(approve, data={"nonce": nonce_of(page), "confirm": "approve", "notes": "Go ahead"})
    assert done.status_code == 200
    assert "Approved by sarah@example.com" in done.get_data(as_text=True)
    outcome = status_of(client, team, decision["id"])
    assert (outcome["status"], outcome["resolved_by"], outcome["resolved_via"], outcome["response_notes"]) == (
        "approved", "sarah@example.com", "email", "Go ahead")

    invalid = client.get("/answer/garbage").get_data()
    for again in (client.get(approve), client.post(approve, data={"nonce": nonce_of(page), "confirm": "approve"}),
                  client.get(deny)):
        assert (again.status_code, again.get_data()) == (404, invalid)  # used links answer like unknown ones
    audit = client.get(f"/v1/audit?subject_id={decision['id']}", headers=team.headers()).json["data"]
    assert [entry["event"] for entry in audit].count("decision.resolved") == 1
    [resolved] = [entry["data"] for entry in audit if entry["event"] == "decision.resolved"]
    assert (resolved["member_id"], resolved["member"], resolved["via"], resolved["credential"]) == (
        team.member_ids["sarah@example.com"], "sarah@example.com", "email", "email_link")


def test_modify_asks_what_should_change(email_app, client, team, smtp):
    decision = create_decision(client, team)
    modify = mailed_links(email_app, team, smtp, decision)["Request changes"]
    page = client.get(modify)
    assert 'name="modified_action"' in page.get_data(as_text=True)
    empty = client.post(modify, data={"nonce": nonce_of(page), "confirm": "modify"})
    assert empty.status_code == 422 and "Say what should change." in empty.get_data(as_text=True)
    assert status_of(client, team, decision["id"])["status"] == "pending"
    done = client.post(modify, data={"nonce": nonce_of(page), "confirm": "modify", "notes": "Too high",
                                     "modified_action": "Send it for $40,000/year"})
    assert done.status_code == 200 and "Changes requested" in done.get_data(as_text=True)
    outcome = status_of(client, team, decision["id"])
    assert (outcome["status"], outcome["modified_action"], outcome["response_notes"]) == (
        "modified", "Send it for $40,000/year", "Too high")


def test_unusable_links_all_answer_alike(email_app, client, team, other_team, smtp):
    decision = create_decision(client, team, options=["approve", "deny"])
    deny = mailed_links(email_app, team, smtp, decision)["Deny"]
    token = deny.rsplit("/", 1)[1]
    theirs = create_decision(client, other_team)
    with email_app.app_context():
        other_key = URLSafeTimedSerializer("another secret key", salt=email_links.LINK_SALT)
        claims = {"d": decision["id"], "t": team.id, "a": "approve", "r": "sarah@example.com"}
        forged = {
            "tampered": token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
            "truncated": token[: len(token) // 2],
            "garbage": "not-a-token",
            "huge": "x" * 5000,
            "unknown decision": email_links.make_token("dec_01JZZZZZZZZZZZZZZZZZZZZZZZ", team.id, "deny",
                                                       "sarah@example.com"),
            "another team's decision": email_links.make_token(theirs["id"], team.id, "deny", "sarah@example.com"),
            "option not offered": email_links.make_token(decision["id"], team.id, "modify", "sarah@example.com"),
            "not an approver": email_links.make_token(decision["id"], team.id, "deny", "mallory@example.com"),
            "a member, not an approver": email_links.make_token(decision["id"], team.id, "deny", "bob@example.com"),
            "core action token": interactions.action_token(decision["id"], team.id, "sarah@example.com"),
            "other salt": URLSafeTimedSerializer(email_app.config["SECRET_KEY"], salt="heso.email-link.v0").dumps(
                claims),
            "other key": other_key.dumps(claims),
            "a nonce": email_links.make_nonce(token),
        }
        nonces = {case: email_links.make_nonce(bad) for case, bad in forged.items()}  # "valid" for the bad token
    answers = []
    for index, (case, bad) in enumerate(forged.items()):
        url = f"/answer/{bad}"
        environ = {"REMOTE_ADDR": f"10.0.0.{index}"}  # keep each case under the throttle
        for response in (client.get(url, environ_base=environ), client.head(url, environ_base=environ),
                         client.post(url, data={"nonce": nonces[case], "confirm": "deny"}, environ_base=environ)):
            answers.append((case, response.status_code, response.get_data() if response.request.method != "HEAD"
                            else None))
    assert {status for _, status, _ in answers} == {404}, [(case, status) for case, status, _ in answers]
    assert len({body for _, _, body in answers if body is not None}) == 1
    assert INVALID_TITLE in next(body for _, _, body in answers if body).decode()
    assert status_of(client, team, decision["id"])["status"] == "pending"
    assert client.get(deny).status_code == 200  # the real link still works


def test_a_link_expires_with_its_decision_and_then_answers_like_an_invalid_one(email_app, client, team, smtp):
    decision = create_decision(client, team)
    deny = mailed_links(email_app, team, smtp, decision)["Deny"]
    nonce = nonce_of(client.get(deny))
    with email_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    invalid = client.get("/answer/garbage").get_data()
    page = client.get(deny)
    assert (page.status_code, page.get_data()) == (404, invalid)
    assert status_of(client, team, decision["id"])["status"] == "pending"  # the GET changed nothing
    posted = client.post(deny, data={"nonce": nonce, "confirm": "deny"})
    assert (posted.status_code, posted.get_data()) == (404, invalid)
    assert status_of(client, team, decision["id"])["status"] == "pending"  # expiring is the expiry job's work


def test_fifty_parallel_posts_of_one_link_settle_it_once(email_app, client, team):
    decision = create_decision(client, team)
    with email_app.app_context():
        url = "/answer/" + email_links.make_token(decision["id"], team.id, "approve", "sarah@example.com")
    barrier = threading.Barrier(50)

    def click(number):
        # Each from its own address: the 49 losers' "used link" answers must not add up to the
        # guessing throttle's 30 per address (test_guessing_links_is_throttled_per_address), or the
        # last ones would be 429 depending on who checked the throttle first.
        browser, device = email_app.test_client(), {"REMOTE_ADDR": f"198.51.100.{number + 1}"}
        nonce = nonce_of(browser.get(url, environ_base=device))
        barrier.wait(timeout=20)
        return browser.post(url, data={"nonce": nonce, "confirm": "approve"}, environ_base=device)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(click, range(50)))
    assert sorted(response.status_code for response in responses) == [200] + [404] * 49
    assert {loser.get_data(as_text=True) for loser in responses if loser.status_code == 404} == {
        client.get("/answer/garbage", environ_base={"REMOTE_ADDR": "198.51.100.9"}).get_data(as_text=True)}
    assert status_of(client, team, decision["id"])["status"] == "approved"
    audit = client.get(f"/v1/audit?subject_id={decision['id']}", headers=team.headers()).json["data"]
    assert [entry["event"] for entry in audit].count("decision.resolved") == 1


def test_guessing_links_is_throttled_per_address(email_app, client, team):
    decision = create_decision(client, team)
    with email_app.app_context():
        url = "/answer/" + email_links.make_token(decision["id"], team.id, "approve", "sarah@example.com")
    guesser = {"REMOTE_ADDR": "203.0.113.7"}
    for guess in range(INVALID_LIMIT):
        assert client.get(f"/answer/guess{guess}", environ_base=guesser).status_code == 404
    blocked = client.get("/answer/one-more", environ_base=guesser)
    assert blocked.status_code == 429 and 200 < int(blocked.headers["Retry-After"]) <= 300
    # Once throttled, a right guess looks the same as a wrong one.
    assert client.get(url, environ_base=guesser).status_code == 429
    page = client.get(url, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert page.status_code == 200
    assert client.post(url, data={"nonce": nonce_of(page), "confirm": "approve"},
                       environ_base=guesser).status_code == 429
    assert status_of(client, team, decision["id"])["status"] == "pending"


def test_quorum_counts_each_approver_once(email_app, client, team, smtp):
    decision = create_decision(client, team, approver=None, approvers=["a@example.com", "b@example.com"], quorum=2)
    assert send(email_app, notification(email_app, team, decision)).ok
    approve_a = links(smtp.mailbox.to("a@example.com")[0])["Approve"]
    approve_b = links(smtp.mailbox.to("b@example.com")[0])["Approve"]
    first = client.post(approve_a, data={"nonce": nonce_of(client.get(approve_a)), "confirm": "approve"})
    assert first.status_code == 200 and "1 of 2 approvals" in first.get_data(as_text=True)
    again = client.get(approve_a)  # a's vote is in: a's link is used
    assert again.status_code == 404 and INVALID_TITLE in again.get_data(as_text=True)
    assert status_of(client, team, decision["id"])["status"] == "pending"
    second = client.post(approve_b, data={"nonce": nonce_of(client.get(approve_b)), "confirm": "approve"})
    assert second.status_code == 200 and "Approved by b@example.com" in second.get_data(as_text=True)
    assert status_of(client, team, decision["id"])["status"] == "approved"


def test_escalation_mails_the_backup_and_retires_the_first_approvers_links(email_app, client, team, smtp):
    decision = create_decision(client, team, escalate_to="backup@example.com", escalate_after_minutes=5)
    first_approve = mailed_links(email_app, team, smtp, decision)["Approve"]
    with email_app.app_context():
        assert service.escalate_one(decision["id"], now=utcnow() + timedelta(minutes=6))
    escalated = status_of(client, team, decision["id"])
    backup = mailed_links(email_app, team, smtp, escalated, recipient="backup@example.com",
                          event="decision.escalated")
    [message] = smtp.mailbox.to("backup@example.com")
    assert message["Subject"].strip().startswith("[HIGH] Escalated to you: ")
    assert "escalated to you" in bodies(message)[0]
    assert client.get(first_approve).status_code == 404
    page = client.get(backup["Deny"])
    assert page.status_code == 200
    assert client.post(backup["Deny"], data={"nonce": nonce_of(page), "confirm": "deny"}).status_code == 200
    outcome = status_of(client, team, decision["id"])
    assert (outcome["status"], outcome["resolved_by"]) == ("denied", "backup@example.com")


def test_the_outbox_mails_the_request_and_the_outcome(email_app, client, team, smtp):
    email_app.config["EMAIL_FROM_DOMAINS"] = "acme.test"  # the operator lets teams send as acme.test
    configured = client.put("/v1/channels/email/config", json={"from_address": "agents@acme.test"},
                            headers=team.headers())
    assert configured.status_code == 200, configured.json
    decision = create_decision(client, team, channel="email")
    with email_app.app_context():
        build_worker(email_app).work(burst=True)
    [request] = smtp.mailbox.parsed()
    assert request["From"] == "agents@acme.test"
    approve = links(request)["Approve"]
    assert client.post(approve, data={"nonce": nonce_of(client.get(approve)), "confirm": "approve"}).status_code == 200
    with email_app.app_context():
        build_worker(email_app).work(burst=True)
    _, outcome = smtp.mailbox.parsed()
    assert outcome["Subject"].strip().startswith("Approved: ")
    listing = client.get(f"/v1/deliveries?decision_id={decision['id']}", headers=team.headers("ops")).json["data"]
    assert sorted((row["event"], row["status"]) for row in listing) == [("decision.created", "delivered"),
                                                                        ("decision.resolved", "delivered")]
