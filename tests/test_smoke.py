from tests.factories import create_decision


def test_create_and_read_decision(client, team):
    created = create_decision(client, team)
    response = client.get(f"/v1/decisions/{created['id']}", headers=team.headers("agent"))
    assert response.status_code == 200
    assert response.json["status"] == "pending"
