"""A worker killed (SIGKILL) mid-delivery loses nothing: the lease runs out, the sweeper
re-enqueues, the next attempt carries the same webhook-id (RELIABILITY.md #5)."""

import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import select
from werkzeug import Response

from heso.channels import outbox
from heso.channels.models import Delivery
from heso.channels.signing import generate_secret
from heso.extensions import db
from heso.worker import build_worker
from tests.factories import create_decision
from tests.helpers import kill_process_group, wait_until

LEASE_SECONDS = 2


#: 1 round per database in CI; RELIABILITY.md's full count:
#: ``HESO_SOAK_ROUNDS=100 pytest tests/channels/test_worker_crash.py``.
ROUNDS = int(os.environ.get("HESO_SOAK_ROUNDS", "1"))


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_sigkill_mid_delivery_is_redelivered_with_the_same_id(app, client, team, httpserver, database_url,
                                                             redis_url, round_number):
    app.config.update(WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8", DELIVERY_LEASE_SECONDS=LEASE_SECONDS)
    release, seen = threading.Event(), []

    def receiver(request):
        seen.append(request.headers["webhook-id"])
        if len(seen) == 1:
            release.wait(timeout=30)  # the first attempt hangs until its worker is dead
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(receiver)
    configured = client.put("/v1/channels/webhook/config", headers=team.headers(),
                            json={"url": httpserver.url_for("/hook"), "secret": generate_secret()})
    assert configured.status_code == 200, configured.json
    create_decision(client, team, channel="webhook")

    env = dict(os.environ, HESO_DATABASE_URL=database_url, HESO_REDIS_URL=redis_url,
               HESO_DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS), HESO_WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8")
    worker = subprocess.Popen([sys.executable, "-m", "heso", "worker"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: seen, 30, message="the first attempt to reach the receiver")
    finally:
        kill_process_group(worker)  # the worker and its RQ scheduler child
        release.set()

    with app.app_context():
        (delivery,) = db.session.scalars(select(Delivery)).all()
        assert delivery.status == "sending"  # claimed by the dead worker, lease still held
        db.session.rollback()
        assert outbox.recover() == 0  # not while the lease is valid
        wait_until(lambda: outbox.recover() == 1, LEASE_SECONDS + 10, message="the lease to run out")
        build_worker(app).work(burst=True)
        delivered = db.session.get(Delivery, delivery.id, populate_existing=True)
    assert delivered.status == "delivered" and delivered.attempts == 2
    assert seen == [delivery.id, delivery.id]
