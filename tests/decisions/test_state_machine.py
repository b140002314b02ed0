"""A hypothesis state machine over the decision lifecycle (RELIABILITY.md #24).

Create, resolve (every action, several resolvers), cancel, advance the clock, expire by
job and by sweep, in any order: a decision reaches at most one terminal outcome, a
terminal outcome never changes, and the ledger holds exactly one entry per transition.
"""

from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from heso import errors
from heso.auth.service import Principal
from heso.decisions import actors, service
from heso.decisions.models import FINAL, OPEN
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow

TRANSITION_EVENTS = ("decision.resolved", "decision.cancelled", "decision.expired", "decision.escalated")


def build_machine(app, team_id):
    principal = Principal(team_id=team_id, key_id="testkey00000", scopes=frozenset({"admin"}))

    class DecisionLifecycle(RuleBasedStateMachine):
        decisions = Bundle("decisions")

        def __init__(self):
            super().__init__()
            self.ctx = app.app_context()
            self.ctx.push()
            self.now = utcnow()
            self.final: dict[str, str] = {}
            self.escalated: set[str] = set()
            self.created: list[str] = []

        def teardown(self):
            db.session.remove()
            self.ctx.pop()

        @rule(target=decisions, timeout=st.integers(1, 30), escalate=st.booleans(),
              quorum=st.integers(1, 2))
        def create(self, timeout, escalate, quorum):
            data = {"action": "act", "approver": "a@x.com", "approvers": ["a@x.com", "b@x.com"], "quorum": quorum,
                    "urgency": "low", "timeout_minutes": timeout, "options": ["approve", "deny", "modify"],
                    "escalate_to": "boss@x.com" if escalate and timeout > 1 else None,
                    "escalate_after_minutes": 1 if escalate and timeout > 1 else None}
            decision, _ = service.create(principal, data, now=self.now)
            self.created.append(decision.id)
            return decision.id

        @rule(decision_id=decisions, action=st.sampled_from(["approve", "deny", "modify"]),
              who=st.sampled_from(["a@x.com", "b@x.com", "boss@x.com"]))
        def resolve(self, decision_id, action, who):
            try:
                service.resolve(team_id, decision_id, action, actors.of_channel(team_id, who, "test", "test"),
                                now=self.now)
            except (errors.AlreadyResolved, errors.Expired, errors.Conflict, errors.Forbidden):
                db.session.rollback()

        @rule(decision_id=decisions)
        def cancel(self, decision_id):
            try:
                service.cancel(principal, decision_id, now=self.now)
            except (errors.AlreadyResolved, errors.Expired):
                db.session.rollback()

        @rule(minutes=st.integers(1, 40))
        def advance_clock(self, minutes):
            self.now += timedelta(minutes=minutes)

        @rule(decision_id=decisions)
        def expiry_job(self, decision_id):
            service.expire_one(decision_id, now=self.now)

        @rule(decision_id=decisions)
        def escalation_job(self, decision_id):
            service.escalate_one(decision_id, now=self.now)

        @rule()
        def sweeper(self):
            service.sweep(now=self.now)

        @invariant()
        def terminal_outcomes_never_change(self):
            rows = db.session.execute(select(service.Decision.id, service.Decision.status)
                                      .where(service.Decision.id.in_(self.created))).all()
            for decision_id, status in rows:
                assert status in FINAL + OPEN
                if decision_id in self.final:
                    assert status == self.final[decision_id], (decision_id, self.final[decision_id], status)
                elif status in FINAL:
                    self.final[decision_id] = status
                if status == "escalated":
                    self.escalated.add(decision_id)
            db.session.rollback()
            self.check_one_ledger_entry_per_transition()

        def check_one_ledger_entry_per_transition(self):
            counts = dict(db.session.execute(
                select(LedgerEntry.subject_id, func.count())
                .where(LedgerEntry.subject_id.in_(self.created), LedgerEntry.event.in_(TRANSITION_EVENTS[:3]))
                .group_by(LedgerEntry.subject_id)).all())
            escalations = dict(db.session.execute(
                select(LedgerEntry.subject_id, func.count())
                .where(LedgerEntry.subject_id.in_(self.created), LedgerEntry.event == "decision.escalated")
                .group_by(LedgerEntry.subject_id)).all())
            db.session.rollback()
            for decision_id in self.final:
                assert counts.get(decision_id) == 1, (decision_id, counts.get(decision_id))
            assert set(counts) == set(self.final)
            assert all(count == 1 for count in escalations.values())
            assert set(escalations) <= self.escalated | set(self.final)

    return DecisionLifecycle


def test_lifecycle_state_machine(app, team):
    machine = build_machine(app, team.id)
    machine.TestCase.settings = settings(max_examples=15, stateful_step_count=25, deadline=None)
    machine.TestCase().runTest()
