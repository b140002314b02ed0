"""The SDK's durable receipt outbox against a real HESO server that goes away mid-push."""

from __future__ import annotations

import json
import socket
import threading

from sqlalchemy import func, select

from heso.client import errors
from heso.client._transport import Transport
from heso.client.outbox import ReceiptOutbox
from heso.extensions import db
from heso.receipts.models import Receipt
from tests.helpers import serve_wsgi
from tests.receipts.helpers import operator


class CutAnswers:
    """WSGI middleware: let the app handle the Nth batch fully (it commits), then drop the
    connection before a byte of the answer is sent, as a crash or a network cut would."""

    def __init__(self, app, cut: set[int]) -> None:
        self.app, self.cut, self.seen = app, cut, 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] != "/v1/receipts/batch":
            return self.app(environ, start_response)
        with self.lock:
            self.seen += 1
            number = self.seen
        if number not in self.cut:
            return self.app(environ, start_response)
        body = b"".join(self.app(environ, lambda *args, **kwargs: None))
        assert body.startswith(b"[")
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        return []




def _transport(url, team, retries=2):
    transport = Transport(url, team.keys["agent"], timeout=5, max_retries=retries)
    transport.sleep = lambda seconds: None  # the backoff's clock; the retries themselves are real
    return transport


def _stored(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Receipt))


def test_no_receipt_is_lost_when_answers_are_cut_or_the_server_is_down(app, client, team, tmp_path):
    signer = operator(client, team)
    path = str(tmp_path / "outbox.db")
    middleware = CutAnswers(app, cut={2})
    with serve_wsgi(middleware) as url:
        outbox = ReceiptOutbox(path, _transport(url, team), batch_size=100)
        for n in range(250):
            outbox.add(signer.sign({"tool": "deploy", "n": n}, "v1"))
        outbox.add(signer.sign({"tool": "deploy", "n": 0}, "v1", issued_at="2026-01-01T00:00:00.000Z"))
        assert outbox.counts()["pending"] == 251
        result = outbox.flush()
        assert result.error is None and result.delivered == 251 and result.pending == 0
        assert middleware.seen == 4  # batch 2 committed, its answer lost, pushed again: duplicates
        assert _stored(app) == 251
        duplicates = [row for row in outbox.entries("delivered") if row["reason"] == "duplicate"]
        assert len(duplicates) == 100 and all(row["receiptId"].startswith("rcp_") for row in duplicates)
        for n in range(250, 350):
            outbox.add(signer.sign({"tool": "deploy", "n": n}, "v1"))
    # The server is gone: the push fails, nothing is lost, and a new process finds it all again.
    down = outbox.flush()
    assert isinstance(down.error, errors.TransportError) and down.pending == 100
    outbox.close()
    with serve_wsgi(app) as url:
        restarted = ReceiptOutbox(path, _transport(url, team), batch_size=100)
        assert restarted.counts() == {"pending": 100, "delivered": 251, "rejected": 0}
        assert restarted.flush().delivered == 100
        assert restarted.counts() == {"pending": 0, "delivered": 351, "rejected": 0}
        restarted.close()
    assert _stored(app) == 351


def test_503_and_429_leave_receipts_pending_refusals_are_kept(httpserver, tmp_path):
    from nacl.signing import SigningKey

    from heso.client.receipts import ReceiptSigner

    signer = ReceiptSigner(SigningKey.generate(), "team_x", "bot")
    outbox = ReceiptOutbox(str(tmp_path / "o.db"), Transport(httpserver.url_for("/"), "heso_k", max_retries=1))
    outbox.transport.sleep = lambda seconds: None
    for n in range(3):
        outbox.add(signer.sign({"n": n}, "v1"))
    for status in (503, 429, 401, 403):  # busy, or a key refused: the receipts are fine, they wait
        httpserver.expect_request("/v1/receipts/batch").respond_with_json(
            {"error": "X", "message": "busy", "details": {}}, status=status, headers={"Retry-After": "0"})
        result = outbox.flush()
        assert result.error is not None and result.error.status == status and result.pending == 3
        httpserver.clear()
    answers = [{"receiptId": "rcp_1", "accepted": True},
               {"receiptId": None, "accepted": False, "rejectionReason": "bad_signature"},
               {"receiptId": None, "accepted": False, "rejectionReason": "quota_exceeded"}]
    httpserver.expect_request("/v1/receipts/batch", method="POST").respond_with_json(answers)
    result = outbox.flush()
    assert (result.delivered, result.rejected, result.pending) == (1, 1, 1)
    assert [row["reason"] for row in outbox.entries("rejected")] == ["bad_signature"]
    sent = json.loads(httpserver.log[-1][0].get_data())
    assert [receipt["action"] for receipt in sent["receipts"]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert httpserver.log[-1][0].headers["Idempotency-Key"].startswith("outbox-")


def test_a_batch_too_large_is_split_and_a_receipt_too_large_alone_is_set_aside(app, client, team, tmp_path):
    """413 for the whole batch used to raise from every flush, holding every receipt back."""
    signer = operator(client, team)
    blob = "x" * 1_200_000
    receipts = [signer.sign({"tool": "upload", "n": n, "blob": blob}, "v1") for n in range(4)]
    receipts.append(signer.sign({"tool": "upload", "n": "huge", "blob": "y" * 9_000_000}, "v1"))
    receipts += [signer.sign({"tool": "upload", "n": n, "blob": blob}, "v1") for n in range(5, 9)]
    with serve_wsgi(app) as url:
        outbox = ReceiptOutbox(str(tmp_path / "outbox.db"), _transport(url, team), batch_size=16)
        for receipt in receipts:
            outbox.add(receipt)
        result = outbox.flush()
        outbox.close()
    assert result.error is None and (result.delivered, result.rejected, result.pending) == (8, 1, 0)
    (rejected,) = ReceiptOutbox(str(tmp_path / "outbox.db"), _transport(url, team)).entries("rejected")
    assert rejected["reason"] == "too_large" and rejected["receipt"]["action"]["n"] == "huge"
    assert _stored(app) == 8
