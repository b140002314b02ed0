"""Click leases without a process to kill: a claim left behind, a lost retry, a click handled
twice, and the sweeper's channel recovery hook (``ChannelPlugin.recover``)."""

import time
from datetime import timedelta

from heso_channel_slack import tasks
from rq.registry import ScheduledJobRegistry

from heso import tasks as core_tasks
from heso.channels import registry
from heso.extensions import state
from heso.timeutil import utcnow
from tests.helpers import installed_entry_points
from tests.plugins.channels.slack.conftest import click_payload, form, post_signed, run_jobs, slack_decision
from tests.plugins.channels.slack.test_worker_kill import decision_of, leases_and_waiting, ledger_count


def claim_and_die(app) -> bytes:
    """What a drain does first, then nothing: the worker died with the click in hand."""
    with app.app_context():
        redis = state().redis
        state().queue.empty()  # the drain job went with the worker
        return redis.register_script(tasks._CLAIM)(keys=[tasks.CLICKS_KEY, tasks.LEASES_KEY],
                                                   args=[time.time() + app.config["DELIVERY_LEASE_SECONDS"]])


def recover_at(app, seconds_from_now: float) -> int:
    with app.app_context():
        return tasks.recover(utcnow() + timedelta(seconds=seconds_from_now))


def test_the_ack_files_no_lease_and_a_handled_click_leaves_none(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))
    assert leases_and_waiting(slack_app) == (0, 1)
    run_jobs(slack_app)
    assert leases_and_waiting(slack_app) == (0, 0)
    assert decision_of(client, slack_team, decision["id"])["status"] == "approved"


def test_a_claim_left_behind_is_put_back_once_its_lease_runs_out(slack_team, client, slack, slack_app):
    slack_app.config["DELIVERY_LEASE_SECONDS"] = 30
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))
    assert claim_and_die(slack_app) is not None
    assert leases_and_waiting(slack_app) == (1, 0)
    assert recover_at(slack_app, 20) == 0  # its lease still runs
    assert recover_at(slack_app, 31) == 1
    assert recover_at(slack_app, 31) == 0  # moved once, however many sweepers
    assert leases_and_waiting(slack_app) == (0, 1)
    run_jobs(slack_app)  # recover queued the drain
    assert decision_of(client, slack_team, decision["id"])["status"] == "approved"
    assert ledger_count(slack_app, decision["id"], "decision.resolved") == 1
    assert leases_and_waiting(slack_app) == (0, 0)


def test_a_click_handled_twice_is_one_transition(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))
    with slack_app.app_context():
        [record] = state().redis.lrange(tasks.CLICKS_KEY, 0, -1)
    run_jobs(slack_app)
    with slack_app.app_context():  # recovered after its answer committed: the same click again
        state().redis.rpush(tasks.CLICKS_KEY, record)
        assert tasks.drain_clicks() == {"already settled": 1}
    assert ledger_count(slack_app, decision["id"], "decision.resolved") == 1
    assert slack.ephemerals("U0SARAH") == ["Already decided by sarah@example.com: approved. Your click changed "
                                           "nothing."]


def test_a_lost_retry_is_recovered_at_its_time_and_a_late_retry_job_then_does_nothing(slack_team, client, slack,
                                                                                      slack_app):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    slack.fail("users.info", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))
    run_jobs(slack_app)
    assert leases_and_waiting(slack_app) == (1, 0)  # waiting for its retry, under a lease
    with slack_app.app_context():
        scheduled = ScheduledJobRegistry(queue=state().queue)
        [job_id] = scheduled.get_job_ids()
        retry = state().queue.fetch_job(job_id)
        scheduled.remove(job_id)  # the retry job is lost (Redis restarted from an older snapshot, say)
    assert recover_at(slack_app, 20) == 0
    assert recover_at(slack_app, 31) == 1
    run_jobs(slack_app)
    assert decision_of(client, slack_team, decision["id"])["status"] == "approved"
    with slack_app.app_context():
        assert tasks.retry_click(*retry.args) == "already recovered"
    assert ledger_count(slack_app, decision["id"], "decision.resolved") == 1
    assert len(slack.called("users.info")) == 2


BROKEN = '''
from heso.channels.base import ChannelPlugin, DeliveryResult
from heso.schemas import StrictSchema


class BrokenRecovery(ChannelPlugin):
    name = "brokenrecovery"
    config_schema = StrictSchema

    def send(self, notification):
        return DeliveryResult(ok=True)

    def recover(self, now):
        raise RuntimeError("this plugin's recovery is broken")
'''


def test_the_sweeper_recovers_clicks_even_when_another_plugins_recovery_fails(slack_team, client, slack, slack_app,
                                                                              tmp_path):
    slack_app.config["DELIVERY_LEASE_SECONDS"] = 0
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))
    claim_and_die(slack_app)
    (tmp_path / "heso_broken_recovery.py").write_text(BROKEN)
    with installed_entry_points(tmp_path, "heso-broken-recovery",
                                "[heso.channels]\nbrokenrecovery = heso_broken_recovery:BrokenRecovery\n", registry):
        with slack_app.app_context():
            assert registry.get("brokenrecovery") is not None
            assert core_tasks.sweep()["recovered"] == 1
    run_jobs(slack_app)
    assert decision_of(client, slack_team, decision["id"])["status"] == "approved"
