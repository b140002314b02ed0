"""The soak's steady load and its receivers.

:class:`Load` creates decisions (each with an Idempotency-Key, re-sent until HESO answers, so
every decision asked for is committed exactly once), gives each a fate (approved, denied,
cancelled, expired, or left pending) and long-polls them, through whichever web process
answers. :class:`Receivers` is the webhook and ``callback_url`` endpoint: it records every
request and answers the first attempt of one message in ten with a 500, so retries run
through the faults too.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field

import psycopg
import requests
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from tests.factories import TeamKeys

#: fate -> the status it must end in; weights of the draw.
FATES = {"approve": "approved", "deny": "denied", "cancel": "cancelled", "expire": "expired", "pending": "pending"}
FATE_WEIGHTS = {"approve": 3, "deny": 1, "cancel": 1, "expire": 2, "pending": 2}
#: A long-poll is hung if it has not answered this long after its ``wait`` (it should answer at ``wait``).
LONG_POLL_GRACE_SECONDS = 10
#: How long one request is retried through the faults before the driver gives up (a test failure).
ANSWER_DEADLINE_SECONDS = 120
APPROVER = "sarah@example.com"


@dataclass
class Received:
    path: str
    webhook_id: str
    event: str
    decision_id: str
    signature_ok: bool


class Receivers:
    """The WSGI app behind ``/webhook`` and ``/callback``."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets, self.lock = secrets, threading.Lock()
        self.requests: list[Received] = []
        self._refused: set[str] = set()

    def __call__(self, environ: dict, start_response):  # noqa: ANN204 - WSGI
        request = Request(environ)
        body = request.get_data()
        try:
            Webhook(self.secrets[request.path]).verify(body, dict(request.headers))
            signature_ok = True
        except Exception:  # noqa: BLE001 - any refusal counts as a bad signature
            signature_ok = False
        payload = json.loads(body)
        webhook_id = request.headers.get("webhook-id", "")
        with self.lock:
            self.requests.append(Received(request.path, webhook_id, payload["event"], payload["decision"]["id"],
                                          signature_ok))
            refuse = zlib.crc32(webhook_id.encode()) % 10 == 0 and webhook_id not in self._refused
            self._refused.add(webhook_id)
        return Response("try again" if refuse else "ok", status=500 if refuse else 200)(environ, start_response)

    def seen(self) -> list[Received]:
        with self.lock:
            return list(self.requests)


@dataclass
class Intent:
    """One decision the driver asked for, and what it then did to it."""

    key: str
    fate: str
    channel: str
    callback: bool
    decision_id: str | None = None
    created_with: int | None = None  # 201, or 200 when a retry found it committed by an earlier try
    acted_with: int | None = None  # the answer to the fate's request (resolve, cancel), 0 for the expiry


@dataclass
class LongPoll:
    wait: int
    elapsed: float
    outcome: str  # an HTTP status, or the exception's name (a web process killed mid-wait)
    at: float = 0.0  # seconds since the load started
    url: str = ""


@dataclass
class Load:
    urls: list[str]
    team: TeamKeys
    callback_url: str
    database_url: str
    seed: int
    pace_seconds: float = 0.1
    creators: int = 1
    pollers: int = 2
    intents: list[Intent] = field(default_factory=list)
    long_polls: list[LongPoll] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)  # (what, status or exception name) -> count
    non_json_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.to_act: queue.Queue[tuple[float, Intent]] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.started = time.monotonic()
        self.routable = set(self.urls)  # what a load balancer's health checks would route to

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        targets = [self._create] * self.creators + [self._poll] * self.pollers + [self._act]
        for number, target in enumerate(targets):
            thread = threading.Thread(target=self._guard, args=(target, random.Random(self.seed + number)),
                                      daemon=True, name=f"load-{target.__name__}-{number}")
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        """Stop creating and polling; the fates already drawn are all carried out first."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(ANSWER_DEADLINE_SECONDS + 30)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def _guard(self, target, rng: random.Random) -> None:
        try:
            target(rng)
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
            self.failures.append(f"{threading.current_thread().name}: {type(exc).__name__}: {exc}")

    # -- HTTP through the faults ------------------------------------------------------------------

    def route(self, url: str, up: bool) -> None:
        """Take a web process out of rotation before it is killed; back once it answers its health check."""
        with self.lock:
            (self.routable.add if up else self.routable.discard)(url)

    def _url(self, rng: random.Random) -> str:
        with self.lock:
            return rng.choice(sorted(self.routable) or self.urls)

    def _request(self, session: requests.Session, rng: random.Random, what: str, method: str, path: str,
                 accept: tuple[int, ...], **kwargs) -> requests.Response:
        """Send until one web process answers with an ``accept``ed status; 5xx, 429 and lost connections are retried."""
        deadline = time.monotonic() + ANSWER_DEADLINE_SECONDS
        while True:
            try:
                response = session.request(method, self._url(rng) + path, timeout=30, **kwargs)
                outcome = response.status_code
            except requests.RequestException as exc:
                response, outcome = None, type(exc).__name__
            with self.lock:
                self.answers[(what, outcome)] += 1
            if response is not None:
                if response.status_code in accept:
                    return response
                if response.status_code >= 500 and not _is_envelope(response):
                    self.non_json_errors.append(f"{what} {response.status_code}: {response.text[:200]!r}")
                if response.status_code < 500 and response.status_code != 429:
                    raise AssertionError(f"{what}: {response.status_code} {response.text[:300]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: no answer in {ANSWER_DEADLINE_SECONDS} s (last: {outcome})")
            time.sleep(0.2)

    def _create(self, rng: random.Random) -> None:
        session = requests.Session()
        while not self.stop_event.is_set():
            fate = rng.choices(list(FATE_WEIGHTS), weights=list(FATE_WEIGHTS.values()))[0]
            intent = Intent(key=uuid.uuid4().hex, fate=fate, channel=rng.choice(["webhook", "email"]),
                            callback=rng.random() < 0.5)
            body = {"action": f"soak {intent.key[:8]}", "approver": APPROVER, "channel": intent.channel,
                    "context": "production soak", "urgency": "high", "timeout_minutes": 120}
            if intent.callback:
                body["callback_url"] = self.callback_url
            headers = self.team.headers("agent", **{"Idempotency-Key": intent.key})
            answer = self._request(session, rng, "create", "POST", "/v1/decisions", (200, 201), json=body,
                                   headers=headers)
            intent.decision_id, intent.created_with = answer.json()["id"], answer.status_code
            with self.lock:
                self.intents.append(intent)
            if fate != "pending":
                self.to_act.put((time.monotonic() + rng.uniform(0.2, 2.0), intent))
            time.sleep(self.pace_seconds)

    def _act(self, rng: random.Random) -> None:
        """Carry out each intent's fate once it is due (so that long-polls see decisions settle mid-wait)."""
        session = requests.Session()
        while True:
            try:
                due, intent = self.to_act.get(timeout=0.2)
            except queue.Empty:
                if self.stop_event.is_set() and all(not thread.is_alive() for thread in self.threads
                                                    if thread.name.startswith("load-_create")):
                    return
                continue
            time.sleep(max(0.0, due - time.monotonic()))
            path = f"/v1/decisions/{intent.decision_id}"
            if intent.fate in ("approve", "deny"):
                answer = self._request(session, rng, intent.fate, "POST", f"{path}/resolve", (200, 409),
                                       json={"action": intent.fate}, headers=self.team.as_member(APPROVER))
                intent.acted_with = answer.status_code
            elif intent.fate == "cancel":
                answer = self._request(session, rng, "cancel", "POST", f"{path}/cancel", (200, 409), json={},
                                       headers=self.team.headers("agent"))
                intent.acted_with = answer.status_code
            else:
                self._expire_now(intent.decision_id)
                intent.acted_with = 0

    def _expire_now(self, decision_id: str) -> None:
        """The decision's clock runs out now: the sweeper must expire it (timeouts are whole minutes)."""
        deadline = time.monotonic() + ANSWER_DEADLINE_SECONDS
        while True:
            try:
                with psycopg.connect(self.database_url, connect_timeout=3) as connection:
                    connection.execute("UPDATE decisions SET expires_at = now() - interval '1 second' "
                                       "WHERE id = %s AND status = 'pending'", (decision_id,))
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _poll(self, rng: random.Random) -> None:
        session = requests.Session()
        while not self.stop_event.is_set():
            with self.lock:
                recent = [intent for intent in self.intents[-40:]]
            if not recent:
                time.sleep(0.1)
                continue
            intent, wait, url = rng.choice(recent), rng.choice([1, 2, 3, 5]), self._url(rng)
            started = time.monotonic()
            try:
                response = session.get(f"{url}/v1/decisions/{intent.decision_id}?wait={wait}",
                                       headers=self.team.headers("agent"), timeout=wait + LONG_POLL_GRACE_SECONDS)
                outcome = str(response.status_code)
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            elapsed = time.monotonic() - started
            with self.lock:
                self.long_polls.append(LongPoll(wait, elapsed, outcome, started - self.started, url))
            if outcome != "200":
                time.sleep(0.2)

    # -- what happened ------------------------------------------------------------------------------

    def committed(self) -> dict[str, Intent]:
        with self.lock:
            return {intent.decision_id: intent for intent in self.intents}


def _is_envelope(response: requests.Response) -> bool:
    try:
        return isinstance(response.json().get("error"), str)
    except ValueError:
        return False
