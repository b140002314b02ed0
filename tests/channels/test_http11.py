"""The hand-written HTTP/1.1 exchange of webhook deliveries, against answers written byte for byte.

A ``socketpair`` stands for the connection: what the "receiver" end writes is exactly what
the exchange reads, so every framing (Content-Length, chunked, to the end of the connection)
and every malformed answer is tried as a real receiver could send it.
"""

from __future__ import annotations

import socket
import threading
import time
from http.client import BadStatusLine, HTTPException, IncompleteRead, RemoteDisconnected

import pytest

from heso.channels import http11

HEAD = http11.request_head("POST", "/hook", "example.com", {"User-Agent": "HESO", "webhook-id": "dlv_1"}, 2)


def answered(*chunks: bytes, close: bool = False, max_bytes: int = 1024) -> tuple[http11.Answer, bytes]:
    """The exchange's answer when the receiver writes ``chunks`` (then closes, if ``close``), and the request it got."""
    ours, theirs = socket.socketpair()
    got = bytearray()

    def receiver() -> None:
        while b"\r\n\r\n" not in got or not got.endswith(b"{}"):
            got.extend(theirs.recv(4096))
        for chunk in chunks:
            theirs.sendall(chunk)
        if close:
            theirs.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=receiver, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    try:
        return http11.exchange(ours, HEAD, b"{}", max_bytes, lambda: deadline - time.monotonic()), bytes(got)
    finally:
        thread.join(10)
        ours.close()
        theirs.close()


def test_the_request_is_written_as_http_client_writes_it():
    _, request = answered(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert request == (b"POST /hook HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: identity\r\n"
                       b"Content-Length: 2\r\nUser-Agent: HESO\r\nwebhook-id: dlv_1\r\n\r\n{}")


def test_a_header_the_caller_gives_replaces_the_default():
    head = http11.request_head("POST", "/", "a.test", {"Accept-Encoding": "gzip"}, 0)
    assert head.count(b"Accept-Encoding") == 1 and b"Accept-Encoding: gzip\r\n" in head


@pytest.mark.parametrize("headers", [{"X-Evil": "a\r\nInjected: yes"}, {"X-Evil": "a\nb"}, {"X-Evil": "a\0"},
                                     {"Bad Name": "x"}, {"X:y": "x"}, {"X-Euro": "€"}])
def test_a_header_that_would_split_the_request_is_refused(headers):
    with pytest.raises(ValueError):
        http11.request_head("POST", "/", "a.test", headers, 0)


def test_a_content_length_answer_is_read_and_the_connection_kept():
    answer, _ = answered(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello")
    assert (answer.status, answer.body, answer.truncated, answer.reusable) == (200, b"hello", False, True)
    assert answer.headers == {"content-length": "5", "x-a": "1, 2"}


def test_an_answer_in_pieces_is_put_together():
    answer, _ = answered(b"HTTP/1.1 2", b"00 OK\r\nContent-", b"Length: 5\r\n", b"\r\nhel", b"lo")
    assert (answer.status, answer.body, answer.reusable) == (200, b"hello", True)


def test_a_chunked_answer_is_decoded_with_its_extensions_and_trailers():
    answer, _ = answered(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
    assert (answer.body, answer.truncated, answer.reusable) == (b"hello world", False, True)


def test_an_answer_past_the_cap_is_cut_and_its_connection_not_reused():
    for written in (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"):
        answer, _ = answered(written, max_bytes=4)
        assert (answer.body, answer.truncated, answer.reusable) == (b"0123", True, False)
    answer, _ = answered(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n0123", max_bytes=4)
    assert (answer.body, answer.truncated, answer.reusable) == (b"0123", False, True)


def test_an_answer_without_length_is_read_to_the_end_of_the_connection():
    answer, _ = answered(b"HTTP/1.0 200 OK\r\n\r\nall of it", close=True)
    assert (answer.body, answer.truncated, answer.reusable) == (b"all of it", False, False)
    answer, _ = answered(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 50, close=True, max_bytes=10)
    assert (answer.body, answer.truncated) == (b"x" * 10, True)


@pytest.mark.parametrize(("written", "reusable"), [
    (b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", False),
    (b"HTTP/1.0 204 No Content\r\n\r\n", False),
    (b"HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n", True),
    (b"HTTP/1.1 204 No Content\n\n", True),  # bare LF line ends, as http.client accepts
    (b"HTTP/1.1 204 No Content\r\n\r\nextra", False),  # bytes nobody asked for
])
def test_keep_alive_is_what_both_sides_agreed(written, reusable):
    assert answered(written)[0].reusable is reusable


def test_a_bare_lf_head_ends_at_its_own_blank_line_whatever_the_body_holds():
    answer, _ = answered(b"HTTP/1.1 200 OK\nContent-Length: 8\n\nab\r\n\r\ncd")
    assert (answer.status, answer.headers, answer.body, answer.reusable) == (
        200, {"content-length": "8"}, b"ab\r\n\r\ncd", True)


def test_interim_answers_are_skipped_and_folded_headers_joined():
    answer, _ = answered(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                         b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nX-Long: a\r\n  b\r\nContent-Length: 0\r\n\r\n")
    assert (answer.status, answer.headers["retry-after"], answer.headers["x-long"]) == (429, "7", "a b")


@pytest.mark.parametrize(("written", "error"), [
    (b"", RemoteDisconnected),
    (b"SSH-2.0-OpenSSH\r\n\r\n", BadStatusLine),
    (b"HTTP/1.1 2000 OK\r\n\r\n", BadStatusLine),
    (b"HTTP/1.1 200 OK", BadStatusLine),  # closed mid-head
    (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", HTTPException),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", HTTPException),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HTTPException),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", IncompleteRead),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", HTTPException),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", HTTPException),
    (b"HTTP/1.1 200 OK\r\nX: " + b"y" * (70 * 1024), http11.LineTooLong),
])
def test_an_answer_that_is_not_http_says_so(written, error):
    with pytest.raises(error):
        answered(written, close=True)


def test_a_silent_receiver_meets_the_deadline():
    ours, theirs = socket.socketpair()
    deadline = time.monotonic() + 0.3
    try:
        with pytest.raises(TimeoutError):
            http11.exchange(ours, HEAD, b"{}", 1024, lambda: deadline - time.monotonic())
    finally:
        ours.close()
        theirs.close()
