"""The dashboard's figures (heso.decisions.stats) on both databases: counts per day by outcome,
time to decision, pending by urgency and delivery outcomes, each for the caller's team only."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import update

from heso.channels.models import Delivery
from heso.decisions import stats
from heso.decisions.models import Decision
from heso.extensions import db
from heso.ids import new_id
from heso.timeutil import utcnow
from tests.factories import create_decision


def _answer(client, team, decision, action):
    response = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": action},
                           headers=team.headers("approver"))
    assert response.status_code == 200, response.json


def _set_times(decision_id, created, resolved=None):
    values = {"created_at": created} if resolved is None else {"created_at": created, "resolved_at": resolved}
    db.session.execute(update(Decision).where(Decision.id == decision_id).values(**values))


def _delivery(team_id, decision_id, status, created):
    db.session.add(Delivery(id=new_id("dlv"), team_id=team_id, decision_id=decision_id, channel="callback",
                            event="decision.resolved", status=status, next_attempt_at=created,
                            created_at=created, updated_at=created))


def test_dashboard_figures_count_this_teams_decisions(app, client, team, other_team):
    made = [create_decision(client, team, urgency=urgency) for urgency in ("high", "low", "low", "medium", "high")]
    approved, denied, modified_late, still_open, old = made
    _answer(client, team, approved, "approve")
    _answer(client, team, denied, "deny")
    _answer(client, team, modified_late, "approve")
    create_decision(client, other_team, urgency="critical")  # another team's: never counted
    now = datetime.combine(utcnow().date(), time(12), tzinfo=UTC)  # noon: every "today" below is today
    today, yesterday = now.date().isoformat(), (now - timedelta(days=1)).date().isoformat()
    with app.app_context():
        _set_times(approved["id"], now - timedelta(days=1, seconds=100), now - timedelta(days=1, seconds=40))  # 60 s
        _set_times(denied["id"], now - timedelta(seconds=700), now - timedelta(seconds=100))  # 600 s
        _set_times(modified_late["id"], now - timedelta(seconds=3700), now - timedelta(seconds=100))  # 3600 s
        _set_times(old["id"], now - timedelta(days=20))  # outside the 14 days, still pending
        _set_times(still_open["id"], now - timedelta(seconds=5))
        for status in ("delivered", "delivered", "delivered", "dead", "pending"):
            _delivery(team.id, approved["id"], status, now - timedelta(hours=1))
        _delivery(team.id, approved["id"], "failed", now - timedelta(days=30))  # too old to count
        db.session.commit()

        figures = stats.dashboard(team.id, now=now)

    per_day = {row["day"]: row for row in figures["per_day"]}
    assert len(figures["per_day"]) == 14 and figures["per_day"][-1]["day"] == today
    assert per_day[yesterday]["approved"] == 1 and per_day[yesterday]["total"] == 1
    assert (per_day[today]["approved"], per_day[today]["denied"], per_day[today]["open"]) == (1, 1, 1)
    assert per_day[today]["total"] == 3
    assert sum(row["total"] for row in figures["per_day"]) == 4  # the 20-day-old one is outside
    took = figures["time_to_decision"]
    assert took["answered"] == 3
    assert round(took["median_seconds"]) == 600 and round(took["p90_seconds"]) == 3600
    assert figures["pending"] == {"critical": 0, "high": 1, "medium": 1, "low": 0}
    assert figures["deliveries"] == {"delivered": 3, "failed": 0, "dead": 1, "in_flight": 1, "success_rate": 0.75}


def test_an_empty_team_has_zeros_and_no_rates(app, team):
    with app.app_context():
        figures = stats.dashboard(team.id)
    assert all(row["total"] == 0 for row in figures["per_day"])
    assert figures["time_to_decision"] == {"answered": 0, "median_seconds": None, "p90_seconds": None}
    assert set(figures["pending"].values()) == {0}
    assert figures["deliveries"]["success_rate"] is None
