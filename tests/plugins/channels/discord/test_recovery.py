"""No press is lost: the row written before the ack is the truth, the job a hint.

A job lost with Redis, or claimed by a worker that died, is queued again by the sweeper
(:meth:`DiscordChannel.recover`) once its deadline passes; handling a press twice is one
answer. ``recover(now)`` takes the time, so these tests move the clock instead of waiting.
"""

import threading
from datetime import timedelta

from heso_channel_discord import presses
from heso_channel_discord.models import DiscordPress
from redis import Redis
from sqlalchemy import func, select, update

from heso import create_app
from heso import tasks as core_tasks
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.plugins.channels.discord.conftest import discord_decision, post_interaction, press, run_jobs

LATER = timedelta(seconds=61)  # past the default 60 s lease


def resolutions(app, decision_id) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision_id, LedgerEntry.event == "decision.resolved"))
        db.session.rollback()
        return count


def rows(app) -> list[tuple[str, str, int]]:
    with app.app_context():
        found = [(row.state, row.outcome, row.attempts) for row in db.session.scalars(select(DiscordPress))]
        db.session.rollback()
        return found


def recover(app, at) -> int:
    with app.app_context():
        return presses.recover(at)


def status(client, team, decision_id) -> str:
    return client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json["status"]


def pressed(client, team, discord, app):
    decision = discord_decision(client, team)
    run_jobs(app)
    assert post_interaction(client, team.id, press(discord, decision["id"])).json == {"type": 6}
    return decision


def test_a_press_whose_job_redis_lost_is_handled_after_its_deadline(discord_team, client, discord, discord_app,
                                                                     redis_url):
    decision = pressed(client, discord_team, discord, discord_app)
    Redis.from_url(redis_url).flushdb()  # the queued job is gone; the row is not
    assert recover(discord_app, utcnow()) == 0  # not before its deadline
    assert recover(discord_app, utcnow() + LATER) == 1
    run_jobs(discord_app)
    assert status(client, discord_team, decision["id"]) == "approved"
    assert resolutions(discord_app, decision["id"]) == 1
    assert rows(discord_app) == [("done", "approved", 1)]
    assert recover(discord_app, utcnow() + 2 * LATER) == 0  # done is done


def test_a_press_claimed_by_a_worker_that_died_is_taken_back_once_its_lease_runs_out(
        discord_team, client, discord, discord_app, redis_url):
    decision = pressed(client, discord_team, discord, discord_app)
    Redis.from_url(redis_url).flushdb()
    with discord_app.app_context():
        [press_id] = db.session.scalars(select(DiscordPress.id)).all()
        assert presses._claim(press_id) is not None  # ... and the worker that claimed it dies here
    assert rows(discord_app) == [("claimed", None, 1)]
    assert recover(discord_app, utcnow()) == 0  # its lease still runs
    with discord_app.app_context():
        assert presses.handle(press_id) == "not queued"  # nobody else takes a claimed press meanwhile
    assert recover(discord_app, utcnow() + LATER) == 1
    run_jobs(discord_app)
    assert status(client, discord_team, decision["id"]) == "approved"
    assert rows(discord_app) == [("done", "approved", 2)]


def test_a_press_handled_twice_is_one_transition(discord_team, client, discord, discord_app):
    decision = pressed(client, discord_team, discord, discord_app)
    run_jobs(discord_app)
    with discord_app.app_context():  # recovered after the answer committed (its worker died before "done")
        db.session.execute(update(DiscordPress).values(state="queued", token=None))
        db.session.commit()
        [press_id] = db.session.scalars(select(DiscordPress.id)).all()
        assert presses.handle(press_id) == "already settled"
    assert resolutions(discord_app, decision["id"]) == 1


def test_two_sweepers_at_once_queue_each_press_once(discord_team, client, discord, discord_app, redis_url):
    decisions = [discord_decision(client, discord_team) for _ in range(3)]
    run_jobs(discord_app)
    for decision in decisions:
        post_interaction(client, discord_team.id, press(discord, decision["id"]))
    Redis.from_url(redis_url).flushdb()
    at, barrier, counts = utcnow() + LATER, threading.Barrier(2), []

    def sweep() -> None:
        with discord_app.app_context():
            barrier.wait()
            counts.append(presses.recover(at))
            db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    [thread.start() for thread in threads]
    [thread.join(30) for thread in threads]
    assert sum(counts) == 3 and len(counts) == 2


def test_the_sweeper_runs_the_recovery(discord_team, client, discord, discord_app, redis_url):
    discord_app.config["DISCORD_LEASE_SECONDS"] = 0  # every press is overdue at once
    decision = pressed(client, discord_team, discord, discord_app)
    Redis.from_url(redis_url).flushdb()
    with discord_app.app_context():
        assert core_tasks.recover_channels() == 1  # what `heso scheduler` calls every sweep
    run_jobs(discord_app)
    assert status(client, discord_team, decision["id"]) == "approved"


def test_done_presses_are_forgotten_after_an_hour(discord_team, client, discord, discord_app):
    pressed(client, discord_team, discord, discord_app)
    run_jobs(discord_app)
    assert recover(discord_app, utcnow() + timedelta(minutes=59)) == 0 and len(rows(discord_app)) == 1
    assert recover(discord_app, utcnow() + timedelta(minutes=61)) == 0 and rows(discord_app) == []


def test_a_press_that_keeps_failing_is_given_up(discord_team, client, discord, discord_app):
    decision = pressed(client, discord_team, discord, discord_app)
    with discord_app.app_context():
        db.session.execute(update(DiscordPress).values(attempts=presses.MAX_ATTEMPTS))
        db.session.commit()
    run_jobs(discord_app)
    assert rows(discord_app) == [("done", "gave up", presses.MAX_ATTEMPTS + 1)]
    assert status(client, discord_team, decision["id"]) == "pending"


def test_a_press_acked_while_redis_is_down_is_handled_once_it_is_back(discord_team, client, discord, discord_app,
                                                                      database_url):
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    redis_down = create_app({"DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:9/0", "TESTING": True,
                             "DISCORD_API_URL": discord.url})
    answer = post_interaction(redis_down.test_client(), discord_team.id, press(discord, decision["id"]))
    assert answer.status_code == 200 and answer.json == {"type": 6}  # the press is a row: Discord hears "got it"
    with redis_down.app_context():
        db.session.remove()
        db.engine.dispose()
    assert recover(discord_app, utcnow() + LATER) == 1
    run_jobs(discord_app)
    assert status(client, discord_team, decision["id"]) == "approved"
