"""A hypothesis state machine over the inbox: outcomes, polls, acks (good, replayed, unknown)
in any order. Every event is delivered, oldest first, by every poll until it is acked, and
never after; nothing is lost, nothing appears twice."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.agents.conftest import bearer, invite, register
from tests.factories import decision_body


def build_machine(client, team):
    class Inbox(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            agent = register(client, invite(client, team)["token"])
            self.key = bearer(agent["api_key"])
            self.unacked: list[str] = []  # subject ids, in the order their events were written
            self.acked: set[str] = set()  # event ids
            self.event_of: dict[str, str] = {}  # subject id -> event id, once seen

        def poll(self, limit=100):
            body = client.get(f"/v1/events?limit={limit}", headers=self.key).json
            events = body.get("events", [])
            for event in events:
                known = self.event_of.setdefault(event["subject_id"], event["id"])
                assert known == event["id"], "one outcome, one event id"
            return events

        @rule(action=st.sampled_from(["approve", "deny", "cancel"]))
        def settle(self, action):
            decision = client.post("/v1/decisions", json=decision_body(), headers=self.key).json
            if action == "cancel":
                client.post(f"/v1/decisions/{decision['id']}/cancel", json={}, headers=self.key)
            else:
                client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": action},
                            headers=team.headers("approver"))
            self.unacked.append(decision["id"])

        @rule(limit=st.integers(min_value=1, max_value=5))
        def poll_some(self, limit):
            events = self.poll(limit)
            assert [event["subject_id"] for event in events] == self.unacked[:limit]

        @rule(data=st.data())
        def ack_some(self, data):
            events = self.poll()
            if not events:
                return
            chosen = data.draw(st.lists(st.sampled_from(events), min_size=1, max_size=len(events), unique_by=id))
            ids = [event["id"] for event in chosen]
            answer = client.post("/v1/events/ack", json={"event_ids": ids}, headers=self.key).json
            assert answer["acked"] == len(set(ids)) and answer["already_acked"] == 0
            for event in chosen:
                self.unacked.remove(event["subject_id"])
                self.acked.add(event["id"])
            assert answer["remaining"] == len(self.unacked)

        @rule()
        def replay_ack(self):
            if self.acked:
                some = sorted(self.acked)[:3]
                answer = client.post("/v1/events/ack", json={"event_ids": some}, headers=self.key).json
                assert answer["acked"] == 0 and answer["already_acked"] == len(some)

        @rule()
        def ack_with_an_unknown_id(self):
            events = self.poll()
            ids = [event["id"] for event in events[:1]] + ["evt_01JZZZZZZZZZZZZZZZZZZZZZZZ"]
            response = client.post("/v1/events/ack", json={"event_ids": ids}, headers=self.key)
            assert response.status_code == 404  # and nothing was acked: the invariant checks it

        @invariant()
        def every_unacked_event_is_delivered_and_no_acked_one(self):
            events = self.poll()
            assert [event["subject_id"] for event in events] == self.unacked
            assert not {event["id"] for event in events} & self.acked

    return Inbox


def test_inbox_state_machine(client, team):
    machine = build_machine(client, team)
    machine.TestCase.settings = settings(max_examples=15, stateful_step_count=20, deadline=None)
    machine.TestCase().runTest()
