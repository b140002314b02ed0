"""The proxy's micro-batching: sent at once when idle, piled up while a request is in flight."""

import anyio
import pytest

from heso.integrations.mcp.batching import MicroBatcher


class Server:
    """A fake batch endpoint: records each request; ``hold`` keeps requests in flight until set."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.hold: anyio.Event | None = None
        self.fail: Exception | None = None

    async def send(self, values: list[str]) -> list[object]:
        self.requests.append(values)
        if self.hold is not None:
            await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        return [ValueError(value) if value.startswith("bad") else value.upper() for value in values]


def run(test):
    anyio.run(test)


def test_an_item_alone_goes_at_once_and_items_arriving_meanwhile_go_together():
    async def test():
        server = Server()
        batcher = MicroBatcher(server.send, max_items=3)
        assert await batcher.submit("a") == "A"  # idle: no waiting for company
        server.hold = anyio.Event()
        answers = {}

        async def one(value):
            answers[value] = await batcher.submit(value)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(one, "b")
            await anyio.wait_all_tasks_blocked()  # "b" is in flight
            for value in "cdefg":
                tasks.start_soon(one, value)
            await anyio.wait_all_tasks_blocked()
            server.hold.set()
        assert server.requests == [["a"], ["b"], ["c", "d", "e"], ["f", "g"]]  # at most max_items each
        assert answers == {value: value.upper() for value in "bcdefg"}
        assert batcher.requests == 4

    run(test)


def test_each_item_gets_its_own_error_and_a_failed_request_fails_all_of_its_items():
    async def test():
        server = Server()
        batcher = MicroBatcher(server.send)
        with pytest.raises(ValueError, match="bad-1"):
            await batcher.submit("bad-1")
        assert await batcher.submit("ok") == "OK"
        server.fail = ConnectionError("down")
        with pytest.raises(ConnectionError):
            await batcher.submit("x")

    run(test)


def test_an_item_given_up_before_it_was_sent_is_never_sent():
    async def test():
        server = Server()
        server.hold = anyio.Event()
        batcher = MicroBatcher(server.send)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(batcher.submit, "first")
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0):  # given up while "first" is in flight
                await batcher.submit("gone")
            server.hold.set()
        assert await batcher.submit("next") == "NEXT"
        assert server.requests == [["first"], ["next"]]

    run(test)


def test_the_others_items_of_a_batch_whose_sender_is_cancelled_go_out_again():
    async def test():
        server = Server()
        server.hold = anyio.Event()
        batcher = MicroBatcher(server.send)
        other = await batcher.enqueue("b")  # queued, its caller not yet waiting
        sender = anyio.CancelScope()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_submit_in, sender, batcher, "a")
            await anyio.wait_all_tasks_blocked()  # "a" sends ["b", "a"]
            sender.cancel()
        server.hold.set()
        assert await batcher.result(other) == "B"
        assert server.requests == [["b", "a"], ["b"]]  # "b" again (safe to resend), not "a": its caller gave up

    run(test)


async def _submit_in(scope, batcher, value):
    with scope:
        await batcher.submit(value)


def test_capacity_bounds_the_queue():
    async def test():
        server = Server()
        server.hold = anyio.Event()
        batcher = MicroBatcher(server.send, capacity=2)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(batcher.submit, "a")
            await anyio.wait_all_tasks_blocked()
            await batcher.enqueue("b")
            queued = []

            async def third():
                await batcher.enqueue("c")
                queued.append("c")

            tasks.start_soon(third)
            await anyio.wait_all_tasks_blocked()
            assert queued == []  # no room for a third until one is answered
            server.hold.set()
        assert queued == ["c"] and server.requests == [["a"]]

    run(test)


def test_queueing_with_room_takes_no_turn_of_the_event_loop():
    """Every call and every result hash is queued: with room, the other tasks do not run meanwhile
    (a turn of the loop per item was a few % of the gateway's CPU); without room it waits (above)."""
    async def test():
        batcher = MicroBatcher(Server().send, capacity=2)
        ran = []

        async def other():
            ran.append("other")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(other)
            await batcher.enqueue("a")
            await batcher.enqueue("b")
            assert ran == []  # not yet: no checkpoint on the way
        assert ran == ["other"]

    run(test)
