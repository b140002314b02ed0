"""heso.testing's fixtures give a plugin's tests a whole HESO: a migrated app, a team with
keys and a member, decisions made through the API (issue 14: no fixture from HESO's tests/)."""

from heso.channels import api
from heso.testing import create_decision


def test_the_fixtures_make_a_working_heso(heso_test_app, heso_test_client, heso_test_team):
    decision = create_decision(heso_test_client, heso_test_team, urgency="low")
    assert decision["status"] == "pending" and decision["approver"] == "sarah@example.com"
    with heso_test_app.app_context():
        answered = api.respond(heso_test_team.id, decision["id"], "approve", "sarah@example.com", via="mychat",
                               credential="mychat:U1")
    assert (answered["status"], answered["resolved_by"], answered["resolved_via"]) == (
        "approved", "sarah@example.com", "mychat")
    audit = heso_test_client.get(f"/v1/audit?subject_id={decision['id']}", headers=heso_test_team.headers())
    assert {entry["event"] for entry in audit.json["data"]} == {"decision.created", "decision.resolved"}


def test_each_test_gets_a_fresh_database(heso_test_client, heso_test_team):
    listed = heso_test_client.get("/v1/decisions", headers=heso_test_team.headers())
    assert listed.status_code == 200 and listed.json["data"] == []
