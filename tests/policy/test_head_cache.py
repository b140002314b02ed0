"""The per-process cache of each team's active policy head (heso/policy/runtime.py).

The promise it must keep: a new activation (an upload, a rollback, the CLI) applies to the next
call in the process that made it, and in every other process as soon as the invalidation
reaches it through Redis (one message), never after the cache's max age. Two apps here are two
web processes of one deployment (own cache, own subscriber; shared database and Redis). The
max age is an hour, so only the invalidation can make the second one change its answer within
the test's deadline.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from heso import local_cache, wakeups
from heso.extensions import db
from heso.policy import runtime
from heso.policy.models import PolicyBundle, PolicyHead
from tests.conftest import _build_app, close_app
from tests.helpers import wait_until
from tests.policy.bundles import bundle, upload

pytestmark = pytest.mark.app_config(LOCAL_CACHE_SECONDS=3600)

DEADLINE = 10
ALLOWS_PUSH = bundle("v1")  # rule "git": tools git.* allowed
DENIES_PUSH = bundle("v2", default="deny", rules=[{"id": "no-git", "match": {"tools": ["git.*"]}, "effect": "deny"}])


def push(app, team) -> str:
    """What policy answers a ``git.push`` tool call in ``app`` (the policy version with it)."""
    answer = app.test_client().post("/v1/tools/authorize", json={"tool": "git.push"}, headers=team.headers("agent"))
    assert answer.status_code == 200, answer.json
    return f"{answer.json['decision']} {answer.json['policy_version']}"


def cached_in(app, team) -> bool:
    with app.app_context():
        return local_cache.cache(runtime.HEADS, app).get(team.id) is not None


def warm(app, team) -> str:
    """A call in ``app`` with its subscriber connected, so that the team's head is cached there."""
    push(app, team)  # starts the subscriber
    wait_until(wakeups.wakeups(app).connected.is_set, DEADLINE, message="the subscriber to connect")
    answer = push(app, team)
    assert push(app, team) == answer and cached_in(app, team)
    return answer


def answers_soon(app, team, expected: str) -> None:
    wait_until(lambda: push(app, team) == expected, DEADLINE, message=f"{expected!r} in the other process")


def test_an_activation_applies_at_once_here_and_in_another_process_that_cached_the_head(app, client, team,
                                                                                       other_process):
    assert upload(client, team, ALLOWS_PUSH).status_code == 201
    assert warm(app, team) == warm(other_process, team) == "allow v1"
    assert upload(client, team, DENIES_PUSH).status_code == 201
    assert push(app, team) == "deny v2"  # the activating process: its very next call
    answers_soon(other_process, team, "deny v2")
    # a rollback is an activation of an older version: the same
    assert client.post("/v1/policy/bundles/v1/activate", headers=team.headers()).status_code == 200
    assert push(app, team) == "allow v1"
    answers_soon(other_process, team, "allow v1")


def test_an_activation_from_the_cli_reaches_a_process_that_cached_the_head(app, client, team, heso, other_process):
    assert upload(client, team, ALLOWS_PUSH).status_code == 201
    assert upload(client, team, DENIES_PUSH, activate=False).status_code == 201
    assert warm(other_process, team) == "allow v1"
    heso("policy", "activate", "v2", "--team", team.id)
    answers_soon(other_process, team, "deny v2")


def test_with_redis_down_the_head_is_read_on_every_call(app, client, team, database_url):
    """No subscriber, no cache: even a change nobody announces (written straight into the
    database, as no HESO code path does) applies to the next call."""
    assert upload(client, team, ALLOWS_PUSH).status_code == 201
    assert upload(client, team, DENIES_PUSH, activate=False).status_code == 201
    deaf = _build_app(database_url, "redis://127.0.0.1:1/0", LOCAL_CACHE_SECONDS=3600)
    try:
        for _ in range(3):
            assert push(deaf, team) == "allow v1"
        assert not cached_in(deaf, team)
        with app.app_context():
            v2 = db.session.scalar(db.select(PolicyBundle.id).where(PolicyBundle.team_id == team.id,
                                                                    PolicyBundle.version == "v2"))
            db.session.execute(update(PolicyHead).where(PolicyHead.team_id == team.id)
                               .values(bundle_id=v2, version="v2").execution_options(synchronize_session=False))
            db.session.commit()
        assert push(deaf, team) == "deny v2"
    finally:
        close_app(deaf)


def test_a_change_to_a_head_column_the_read_ignores_keeps_the_cache(app, client, team):
    assert upload(client, team, ALLOWS_PUSH).status_code == 201
    warm(app, team)
    with app.app_context():
        head = db.session.get(PolicyHead, team.id)
        head.last_error = "a sync's bookkeeping"
        db.session.commit()
    assert cached_in(app, team)
