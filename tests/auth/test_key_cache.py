"""The verified-key cache (heso/auth/service.py, heso/auth/key_cache.py, heso/local_cache.py).

The attack it must not allow: a key (or its member, or its agent) is stopped in one process
while another process of the same deployment still holds the key's row in its cache. Two apps
here are two such processes: each has its own cache and its own Redis subscriber, and they
share the database and Redis. Each cache's max age is an hour, so only the invalidation through
Redis can make the second process refuse within the test's deadline.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from heso import local_cache, wakeups
from heso.auth import key_cache, members, tokens
from heso.auth.models import ApiKey
from heso.extensions import db
from heso.timeutil import utcnow
from tests.agents.conftest import bearer, invite, register
from tests.conftest import _build_app, close_app
from tests.helpers import wait_until
from tests.test_errors import assert_envelope

pytestmark = pytest.mark.app_config(LOCAL_CACHE_SECONDS=3600)

#: Generous: an invalidation takes a Redis round trip; the cache's max age is an hour.
DEADLINE = 10
PROBE = "/v1/decisions?limit=1"


def cached_in(app, headers: dict[str, str]) -> bool:
    """Whether ``app``'s cache holds the key of ``headers`` (after a request with it there)."""
    key_id = tokens.parse(headers["Authorization"].split()[1])
    with app.app_context():
        return local_cache.cache(key_cache.TOPIC, app).get(key_id) is not None


def warm(app, headers: dict[str, str]) -> None:
    """Authenticate once in ``app`` with its subscriber connected, so the key's row is cached."""
    client = app.test_client()
    assert client.get(PROBE, headers=headers).status_code == 200  # starts the subscriber
    wait_until(wakeups.wakeups(app).connected.is_set, DEADLINE, message="the subscriber to connect")
    assert client.get(PROBE, headers=headers).status_code == 200
    assert cached_in(app, headers)


def refused_soon(app, method: str, path: str, headers: dict[str, str], status: int, code: str, **kwargs) -> None:
    client = app.test_client()
    wait_until(lambda: client.open(path, method=method, headers=headers, **kwargs).status_code == status,
               DEADLINE, message=f"{code} in the other process")
    assert_envelope(client.open(path, method=method, headers=headers, **kwargs), status, code)


def test_a_key_revoked_in_one_process_is_refused_at_once_by_another_that_cached_it(app, client, team,
                                                                                    other_process):
    agent_key = team.headers("agent")
    warm(app, agent_key)
    warm(other_process, agent_key)
    key_id = tokens.parse(team.keys["agent"])
    assert client.delete(f"/v1/keys/{key_id}", headers=team.headers()).status_code == 200
    # The revoking process forgot it synchronously: refused on its very next request.
    assert_envelope(client.get(PROBE, headers=agent_key), 401, "KEY_REVOKED")
    refused_soon(other_process, "GET", PROBE, agent_key, 401, "KEY_REVOKED")


def test_a_key_revoked_from_the_cli_is_refused_by_a_process_that_cached_it(app, team, heso, other_process):
    agent_key = team.headers("agent")
    warm(other_process, agent_key)
    heso("keys", "revoke", tokens.parse(team.keys["agent"]))
    refused_soon(other_process, "GET", PROBE, agent_key, 401, "KEY_REVOKED")


def test_a_disabled_member_is_stopped_at_once_elsewhere(app, client, team, other_process):
    email = "a@x.com"
    member_key = team.as_member(email)
    warm(other_process, member_key)
    disabled = client.patch(f"/v1/members/{team.member_ids[email]}", json={"status": "disabled"},
                            headers=team.headers())
    assert disabled.status_code == 200, disabled.json
    refused_soon(other_process, "GET", PROBE, member_key, 401, "MEMBER_DISABLED")


def test_a_shrunk_role_takes_effect_at_once_elsewhere(app, client, team, other_process):
    member_id, other_admin = (team.member_ids[email] for email in sorted(team.member_ids)[:2])
    for admin in (member_id, other_admin):  # two: a team keeps at least one admin
        assert client.patch(f"/v1/members/{admin}", json={"role": "admin"}, headers=team.headers()).status_code == 200
    created = client.post("/v1/keys", json={"scopes": ["admin"], "member_id": member_id}, headers=team.headers())
    admin_key = bearer(created.json["key"])
    warm(other_process, admin_key)
    assert other_process.test_client().get("/v1/keys", headers=admin_key).status_code == 200
    assert client.patch(f"/v1/members/{member_id}", json={"role": "approver"},
                        headers=team.headers()).status_code == 200
    # The key's admin scope is cut to the new role: the other process must not keep what it cached.
    refused_soon(other_process, "GET", "/v1/keys", admin_key, 403, "FORBIDDEN")


def test_a_paused_or_revoked_agent_is_stopped_at_once_elsewhere(app, client, team, other_process):
    agent = register(client, invite(client, team)["token"])
    headers = bearer(agent["api_key"])
    warm(other_process, headers)
    body = {"action": "Deploy", "approver": "a@x.com"}
    assert other_process.test_client().post("/v1/decisions", json=body, headers=headers).status_code == 201
    assert client.post(f"/v1/agents/{agent['id']}/status", json={"status": "paused"},
                       headers=team.headers()).status_code == 200
    refused_soon(other_process, "POST", "/v1/decisions", headers, 403, "AGENT_PAUSED", json=body)
    assert client.post(f"/v1/agents/{agent['id']}/revoke", headers=team.headers()).status_code == 200
    refused_soon(other_process, "GET", PROBE, headers, 401, "KEY_REVOKED")


def test_with_redis_down_the_cache_is_bypassed_and_a_revocation_holds_at_once(app, client, team, database_url):
    """No subscriber, no cache: a change nobody can announce (here written straight into the
    database) is still seen on the next request."""
    deaf = _build_app(database_url, "redis://127.0.0.1:1/0")
    try:
        deaf_client, agent_key = deaf.test_client(), team.headers("agent")
        for _ in range(3):
            assert deaf_client.get(PROBE, headers=agent_key).status_code == 200
        assert not cached_in(deaf, agent_key)
        with app.app_context():
            db.session.execute(update(ApiKey).where(ApiKey.id == tokens.parse(team.keys["agent"]))
                               .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
            db.session.commit()
        assert_envelope(deaf_client.get(PROBE, headers=agent_key), 401, "KEY_REVOKED")
    finally:
        close_app(deaf)


def test_a_wrong_secret_for_a_cached_key_id_is_refused(app, client, team):
    agent_key = team.headers("agent")
    warm(app, agent_key)
    key_id = tokens.parse(team.keys["agent"])
    forged = f"heso_{key_id}_{'A' * 32}"
    forged += tokens._checksum(forged)  # well-formed, right id, wrong secret
    assert_envelope(client.get(PROBE, headers=bearer(forged)), 401, "INVALID_KEY")


def test_a_disabled_member_cannot_be_named_as_approver_by_a_process_that_cached_them(app, client, team,
                                                                                       other_process):
    """The approvers a decision names are cached per process too (heso.auth.members)."""
    body = {"action": "Deploy", "approver": "a@x.com"}
    other = other_process.test_client()
    warm(other_process, team.headers("agent"))
    assert other.post("/v1/decisions", json=body, headers=team.headers("agent")).status_code == 201
    with other_process.app_context():
        assert local_cache.cache(members.APPROVERS_TOPIC, other_process).get((team.id, "a@x.com")) == "active"
    assert client.patch(f"/v1/members/{team.member_ids['a@x.com']}", json={"status": "disabled"},
                        headers=team.headers()).status_code == 200
    refused_soon(other_process, "POST", "/v1/decisions", team.headers("agent"), 422, "VALIDATION_ERROR", json=body)
