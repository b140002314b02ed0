"""Console (issue 16, approve and remember): a tool call's decision page offers "approve and
allow for N hours" with the tool and argument text to narrow; /grants lists the grant and
revokes it. On Flask's test client (the pages are plain forms, no script of their own)."""

from __future__ import annotations

from tests.console.approver import signed_in
from tests.grants.test_grants import BUNDLE, SARAH, call, held
from tests.policy.bundles import upload


def test_approve_and_allow_then_revoke_from_the_grants_page(app, client, team):
    assert upload(client, team, BUNDLE).status_code == 201
    decision_id = held(client, team, command="git status --short")
    csrf = signed_in(app, client, team, SARAH)
    page = client.get(f"/decisions/{decision_id}").get_data(as_text=True)
    assert "Approve and allow for these hours" in page and 'value="Bash"' in page and "git status --short" in page

    form = {"csrf_token": csrf, "action": "approve", "remember": "1", "remember_hours": "3",
            "shown_tool": "Bash", "remember_tool": "Bash", "shown_arguments": "git status --short"}
    bad = client.post(f"/decisions/{decision_id}/resolve", data={**form, "remember_arguments": "rm *"})
    assert bad.status_code == 422 and "does not match" in bad.get_data(as_text=True)
    done = client.post(f"/decisions/{decision_id}/resolve", data={**form, "remember_arguments": "git status*"})
    assert done.status_code == 303
    assert call(client, team.headers("agent"), command="git status")["decision"] == "allow"

    listing = client.get("/grants").get_data(as_text=True)
    assert "pattern <code>git status*</code>" in listing and 'href="/grants"' in listing and "Revoke" in listing
    grant_id = client.get("/v1/grants", headers=team.headers("ops")).json["data"][0]["id"]
    assert client.post(f"/grants/{grant_id}/revoke", data={"csrf_token": csrf}).status_code == 303
    assert client.post(f"/grants/{grant_id}/revoke", data={}).status_code == 403  # no CSRF token
    again = client.post(f"/grants/{grant_id}/revoke", data={"csrf_token": csrf})
    assert again.status_code == 200 and "already revoked" in again.get_data(as_text=True)
    assert "revoked</span> by sarah@example.com" in client.get("/grants?show=ended").get_data(as_text=True)
    assert client.get("/grants?show=nope").status_code == 422
    assert call(client, team.headers("agent"), command="git status")["decision"] == "pending"
