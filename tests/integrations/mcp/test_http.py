"""The gateway's batch requests on the event loop: kept-alive connections, a connection the server
closed, errors as the SDK raises them."""

import json

import anyio
import h11
import pytest

from heso.client.errors import NotFound, RateLimited, TransportError
from heso.integrations.mcp.http import BatchClient, usable


class Server:
    """An HTTP/1.1 server on a free port answering each request with ``answers`` in turn (status,
    headers, body); ``close_after_each`` closes the connection after every answer without saying so
    (as a server whose keep-alive timeout ran out between two requests)."""

    def __init__(self, *answers, close_after_each=False):
        self.answers = list(answers)
        self.close_after_each = close_after_each
        self.connections = 0
        self.requests = []

    async def handle(self, stream):
        self.connections += 1
        protocol = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                request, body = None, b""
                while True:
                    event = protocol.next_event()
                    if event is h11.NEED_DATA:
                        try:
                            protocol.receive_data(await stream.receive())
                        except anyio.EndOfStream:
                            return
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:
                        return
                headers = dict(request.headers)
                self.requests.append((request.target.decode(), headers.get(b"authorization"), json.loads(body)))
                status, extra, answer = self.answers.pop(0)
                content = json.dumps(answer).encode()
                await stream.send(protocol.send(h11.Response(status_code=status, headers=[
                    ("Content-Type", "application/json"), ("Content-Length", str(len(content))), *extra])))
                await stream.send(protocol.send(h11.Data(data=content)) + protocol.send(h11.EndOfMessage()))
                if self.close_after_each:
                    return
                protocol.start_next_cycle()


async def serving(server, test):
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, server.handle)
        client = BatchClient(f"http://127.0.0.1:{port}/base", "heso_key")
        try:
            await test(client)
        finally:
            await client.aclose()
            tasks.cancel_scope.cancel()


def test_requests_share_one_kept_alive_connection():
    server = Server(*[(200, [], [{"status": 200, "result": n}]) for n in range(3)])

    async def test(client):
        for n in range(3):
            assert await client.post("/v1/x", {"calls": [n]}) == [{"status": 200, "result": n}]

    anyio.run(serving, server, test)
    assert server.connections == 1
    assert server.requests == [("/base/v1/x", b"Bearer heso_key", {"calls": [n]}) for n in range(3)]


def test_a_connection_the_server_closed_is_replaced_and_the_request_sent_again():
    server = Server(*[(200, [], {"n": n}) for n in range(3)], close_after_each=True)

    async def test(client):
        for n in range(3):
            assert await client.post("/v1/x", {}) == {"n": n}

    anyio.run(serving, server, test)
    assert server.connections == 3 and len(server.requests) == 3  # each request answered once


def test_errors_are_the_sdks():
    refused = {"error": "RATE_LIMITED", "message": "slow down", "details": {}}
    server = Server((429, [("Retry-After", "0")], refused), (404, [], {"error": "NOT_FOUND", "message": "no"}),
                    (429, [("Retry-After", "0")], refused), (429, [("Retry-After", "0")], refused),
                    (429, [("Retry-After", "7")], refused))

    async def test(client):
        with pytest.raises(NotFound, match="no"):  # after one retry of the 429
            await client.post("/v1/x", {})
        with pytest.raises(RateLimited) as raised:  # two retries, then the third 429 is the answer
            await client.post("/v1/x", {})
        assert raised.value.retry_after == 7

    anyio.run(serving, server, test)
    assert len(server.requests) == 5


def test_no_server_is_a_transport_error():
    async def test():
        client = BatchClient("http://127.0.0.1:9", None, timeout=5)  # the discard port: nobody listens
        with pytest.raises(TransportError):
            await client.post("/v1/x", {})

    anyio.run(test)


def test_only_plain_http_without_a_proxy_goes_this_way(monkeypatch):
    assert usable("http://127.0.0.1:5000") and usable("http://heso.internal")
    assert not usable("https://heso.example.com")
    monkeypatch.setenv("http_proxy", "http://proxy.example.com:3128")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    assert not usable("http://heso.internal") and usable("http://127.0.0.1:5000")


def test_any_json_the_sdk_would_send_goes_as_it_would():
    server = Server((200, [], {"ok": True}))
    body = {"calls": [{"arguments": {"big": 2 ** 70, "text": "é \u2028"}}]}

    async def test(client):
        assert await client.post("/v1/x", body) == {"ok": True}

    anyio.run(serving, server, test)
    assert server.requests[0][2] == body


class Raw:
    """A server answering each request with the next of ``answers``, raw bytes, sent ``step`` bytes
    at a time (the client must put an answer together from any split); ``b""`` closes instead, and
    so does an answer saying ``Connection: close``, after it."""

    def __init__(self, *answers, step=None, hang=False):
        self.answers = list(answers)
        self.step = step
        self.hang = hang  # once the answers are out, keep the connection open, silent
        self.connections = 0

    async def handle(self, stream):
        self.connections += 1
        async with stream:
            buffer = b""
            while self.answers:
                while b"\r\n\r\n" not in buffer:
                    try:
                        buffer += await stream.receive()
                    except anyio.EndOfStream:
                        return
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(buffer) < length:
                    buffer += await stream.receive()
                buffer = buffer[length:]
                answer = self.answers.pop(0)
                if not answer:
                    return
                step = self.step or len(answer)
                for start in range(0, len(answer), step):
                    await stream.send(answer[start:start + step])
                if b"Connection: close" in answer:
                    return
            if self.hang:
                await anyio.sleep_forever()


def raw(status_line, headers, body):
    return b"\r\n".join([status_line, *headers, b"", body])


def test_answers_as_a_server_may_frame_them():
    chunked = raw(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"],
                  b"4;ext=1\r\n[1, \r\n2\r\n2]\r\n0\r\nX-T: 1\r\n\r\n")
    sized = raw(b"HTTP/1.1 200 OK", [b"content-length: 8", b"X-Other:v"], b'{"n": 2}')
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + raw(b"HTTP/1.1 200 OK", [b"Content-Length: 2"], b"{}")
    closing = raw(b"HTTP/1.1 200 OK", [b"Connection: close"], b'{"until": "closed"}')
    server = Raw(chunked, sized, interim, closing, sized, step=3)

    async def test(client):
        assert await client.post("/v1/x", {}) == [1, 2]
        assert await client.post("/v1/x", {}) == {"n": 2}
        assert await client.post("/v1/x", {}) == {}
        assert await client.post("/v1/x", {}) == {"until": "closed"}  # no length: read to the end
        assert await client.post("/v1/x", {}) == {"n": 2}  # on a new connection

    anyio.run(serving, server, test)
    assert server.connections == 2


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 2xx OK\r\nContent-Length: 2\r\n\r\n{}", b"SPDY/3 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\n{}", b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"x" * 70_000, b""])
def test_an_answer_that_is_not_http_is_a_transport_error(answer):
    server = Raw(answer, answer)

    async def test(client):
        with pytest.raises(TransportError):
            await client.post("/v1/x", {})

    anyio.run(serving, server, test)


def test_a_key_that_would_split_the_request_is_never_sent():
    async def test():
        client = BatchClient("http://127.0.0.1:9", "heso_key\r\nX-Injected: 1")
        with pytest.raises(TransportError, match="Authorization"):
            await client.post("/v1/x", {})

    anyio.run(test)


def test_no_answer_in_time_is_said_so_and_not_sent_again():
    server = Raw(raw(b"HTTP/1.1 200 OK", [b"Content-Length: 2"], b"{}"), b"HTTP/1.1 200 OK\r\n", hang=True)

    async def test(client):
        client.timeout = 1
        assert await client.post("/v1/x", {}) == {}
        with pytest.raises(TransportError, match="no answer in 1 s"):  # on the kept-alive connection
            await client.post("/v1/x", {})

    anyio.run(serving, server, test)
    assert server.connections == 1  # a timeout is not a connection the server closed: not sent again
