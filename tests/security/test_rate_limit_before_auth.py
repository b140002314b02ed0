"""Issue 13, medium: rate limits were charged before authentication. A token forged with a victim's
key id (public: it is in every listing) and a random secret passes the checksum, so thousands of
bogus requests kept the victim's key at 429. Now a key is charged only once it verifies; failed
and unauthenticated requests count against the client's address."""

from __future__ import annotations

from heso.auth.tokens import _checksum, parse
from tests.test_rate_limits import LIST


def _forged(real: str) -> str:
    body = f"heso_{parse(real)}_{'Z' * 32}"
    return body + _checksum(body)


def test_forged_tokens_with_a_victims_key_id_do_not_exhaust_the_victims_limit(app, limited_app, database_url,
                                                                              redis_url, team):
    client = limited_app(database_url, redis_url, RATE_LIMIT="5 per hour").test_client()
    victim = team.keys["agent"]
    answers = [client.get(LIST, headers={"Authorization": f"Bearer {_forged(victim)}"},
                          environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code for _ in range(8)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}  # the attacker's address is limited
    for _ in range(5):  # the victim, from elsewhere, still has the whole of its own limit
        assert client.get(LIST, headers={"Authorization": f"Bearer {victim}"},
                          environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200
    assert client.get(LIST, headers={"Authorization": f"Bearer {victim}"},
                      environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 429


def test_a_verified_key_is_charged_once_per_request(app, limited_app, database_url, redis_url, team):
    client = limited_app(database_url, redis_url, RATE_LIMIT="3 per hour").test_client()
    for _ in range(3):
        assert client.get(LIST, headers=team.headers("agent")).status_code == 200
    assert client.get(LIST, headers=team.headers("agent")).status_code == 429
    assert client.get(LIST, headers=team.headers("ops")).status_code == 200  # another key: its own bucket
