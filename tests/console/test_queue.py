"""The queue at ``/``: what waits for me first, filters, search, pages, and live refresh."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.agents.conftest import invite, register
from tests.console.approver import signed_in
from tests.console.conftest import PHONE
from tests.factories import create_decision


def _order(text: str, *ids: str) -> list[int]:
    return [text.index(decision_id) for decision_id in ids]


def _ids(text: str) -> list[str]:
    return re.findall(r'href="/decisions/(dec_[0-9A-Z]{26})"', text)


def test_what_waits_for_me_comes_first_then_by_urgency_and_deadline(app, client, team):
    signed_in(app, client, team)
    other_low = create_decision(client, team, approver="bob@example.com", urgency="low")
    other_critical = create_decision(client, team, approver="bob@example.com", urgency="critical")
    mine_low = create_decision(client, team, urgency="low")
    mine_high_later = create_decision(client, team, urgency="high", timeout_minutes=300)
    mine_high_sooner = create_decision(client, team, urgency="high", timeout_minutes=30)
    page = client.get("/")
    assert page.status_code == 200
    assert _ids(page.text) == [mine_high_sooner["id"], mine_high_later["id"], mine_low["id"],
                               other_critical["id"], other_low["id"]]
    assert page.text.index("Waiting for you") < page.text.index(mine_high_sooner["id"])
    assert page.text.index("The rest of the team") < page.text.index(other_critical["id"])
    assert 'data-countdown datetime="' in page.text


def test_a_quorum_i_have_voted_on_no_longer_waits_for_me(app, client, team):
    signed_in(app, client, team)
    voted = create_decision(client, team, approver=None, approvers=["sarah@example.com", "bob@example.com"],
                            quorum=2, urgency="critical")
    waiting = create_decision(client, team, urgency="low")
    assert client.post(f"/v1/decisions/{voted['id']}/resolve", json={"action": "approve"},
                       headers=team.as_member("sarah@example.com")).status_code == 200
    assert _ids(client.get("/").text) == [waiting["id"], voted["id"]]


def test_filters_narrow_the_queue(app, client, team):
    signed_in(app, client, team)
    agent = register(client, invite(client, team)["token"], name="deploy-bot")
    by_agent = client.post("/v1/decisions", json={"action": "Deploy v2", "approver": "sarah@example.com"},
                           headers={"Authorization": f"Bearer {agent['api_key']}"}).json
    critical = create_decision(client, team, urgency="critical", approver="bob@example.com")
    plain = create_decision(client, team, urgency="low")
    assert _ids(client.get("/?urgency=critical").text) == [critical["id"]]
    assert _ids(client.get("/?approver=bob@example.com").text) == [critical["id"]]
    assert _ids(client.get("/?agent=deploy-bot").text) == [by_agent["id"]]
    assert _ids(client.get(f"/?agent={agent['id']}").text) == [by_agent["id"]]
    assert _ids(client.get("/?agent=nobody").text) == []
    assert set(_ids(client.get("/?since=1h&status=pending").text)) == {by_agent["id"], critical["id"], plain["id"]}
    assert 'value="deploy-bot"' in client.get("/?agent=deploy-bot").text  # the form keeps the filter


def test_search_finds_settled_decisions_in_history(app, client, team):
    signed_in(app, client, team)
    settled = create_decision(client, team, action="Rotate the 100% production keys")
    create_decision(client, team, action="Something else")
    client.post(f"/v1/decisions/{settled['id']}/resolve", json={"action": "deny"},
                headers=team.as_member("sarah@example.com"))
    assert _ids(client.get("/").text) != [settled["id"]]  # no longer waiting
    found = client.get("/?q=100%25+production")
    assert _ids(found.text) == [settled["id"]] and "denied" in found.text
    assert _ids(client.get("/?q=_production").text) == []  # LIKE wildcards are literal
    assert _ids(client.get("/?q=production&status=pending").text) == []


def test_pages_follow_the_queue_order_without_repeats(app, client, team):
    signed_in(app, client, team)
    made = [create_decision(client, team, urgency=urgency, approver=approver)["id"]
            for urgency in ("low", "critical", "medium")
            for approver in ("sarah@example.com", "bob@example.com")]
    seen, url = [], "/?limit=2"
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen += _ids(page.text)
        match = re.search(r'href="([^"]+)">Next page', page.text)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert sorted(seen) == sorted(made) and len(seen) == len(made)
    assert _ids(client.get("/?limit=50").text) == seen


def test_bad_filters_say_what_is_wrong(app, client, team):
    signed_in(app, client, team)
    for query, word in (("status=bogus", "status"), ("urgency=urgent", "urgency"), ("since=yesterday", "since"),
                        ("cursor=1.1.1.nope", "cursor"), ("limit=100000", "limit"), ("q=" + "x" * 500, "q")):
        page = client.get(f"/?{query}")
        assert page.status_code == 422, query
        assert word in page.text and "<title>" in page.text


def test_another_teams_decisions_are_not_listed(app, client, team, other_team):
    signed_in(app, client, team)
    theirs = create_decision(client, other_team)
    ours = create_decision(client, team)
    assert _ids(client.get("/?status=any").text) == [ours["id"]]
    assert theirs["id"] not in client.get(f"/?q={theirs['action'][:10]}").text


def test_the_rows_fragment_answers_204_until_something_changes(app, client, team):
    signed_in(app, client, team)
    create_decision(client, team)
    page = client.get("/")
    poll = re.search(r'hx-get="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert client.get(poll).status_code == 204
    arrived = create_decision(client, team, approver="bob@example.com")
    rows = client.get(poll)
    assert rows.status_code == 200 and arrived["id"] in rows.text and "<html" not in rows.text


def test_the_queue_needs_a_session(client):
    assert client.get("/queue/rows").status_code == 303
    assert client.get("/queue/rows", headers={"HX-Request": "true"}).status_code == 401


# --- In the browser -------------------------------------------------------------------------


def test_a_decision_created_over_the_api_appears_without_a_reload(page, sign_in, client, team):
    sign_in(page, "sarah@example.com")
    page.goto("/")
    expect(page.get_by_text("Nothing waits for an answer.")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    decision = create_decision(client, team, action="Wire $9,000 to the new supplier", urgency="critical")
    link = page.get_by_role("link", name="Wire $9,000 to the new supplier")
    expect(link).to_be_visible(timeout=15_000)
    assert page.evaluate("window.notReloaded") is True  # swapped in by htmx, not a page load
    expect(page.locator("time[data-countdown]").first).to_have_text(re.compile(r"^in \d"))
    link.click()
    expect(page).to_have_url(re.compile(f"/decisions/{decision['id']}$"))


def test_a_decision_settled_elsewhere_leaves_the_queue_without_a_reload(page, sign_in, client, team):
    sign_in(page, "sarah@example.com")
    decision = create_decision(client, team, action="Drop the staging database")
    page.goto("/")
    link = page.get_by_role("link", name="Drop the staging database")
    expect(link).to_be_visible()
    client.post(f"/v1/decisions/{decision['id']}/cancel", json={}, headers=team.headers("agent"))
    expect(link).to_have_count(0, timeout=15_000)


def test_filtering_in_the_browser_keeps_the_filters(page, sign_in, client, team):
    sign_in(page, "sarah@example.com")
    create_decision(client, team, action="Restart the billing service", urgency="low")
    create_decision(client, team, action="Delete the old backups", urgency="critical")
    page.goto("/")
    page.get_by_label("Urgency").select_option("critical")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="Delete the old backups")).to_be_visible()
    expect(page.get_by_role("link", name="Restart the billing service")).to_have_count(0)
    expect(page.get_by_label("Urgency")).to_have_value("critical")


def test_the_queue_fits_a_phone(page, sign_in, client, team):
    sign_in(page, "sarah@example.com")
    for number in range(3):
        create_decision(client, team, action=f"Action {number} " + "with-a-very-long-unbroken-word" * 8,
                        approver=None, approvers=["sarah@example.com", "bob@example.com"])
    page.set_viewport_size(PHONE)
    page.goto("/")
    expect(page.locator("table.queue")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
