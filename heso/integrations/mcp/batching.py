"""Micro-batching: while one request to HESO is in flight, the items that arrive wait and go
together in the next one.

A gateway in front of fast tools is bound by its round trips to HESO, not by its own work; a
client making eight calls at once needs one request per wave, not eight. No timer: an item
that finds nothing in flight is sent at once (no added latency when idle), so a batch is
exactly what piled up during the previous round trip.

Hand-written (a few dozen lines over anyio) because the libraries that batch (``aiostream``,
``asyncio-batcher`` and the like) flush on a size or a timer, which adds latency when idle.
Everything sent through it must be safe to send twice (HESO's call ids and result hashes
replay): when the caller sending a batch is cancelled mid-flight, the other callers' items go
back to the queue for the next request (its own is dropped: its caller gave up on it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")
R = TypeVar("R")


class Item(Generic[T, R]):
    """One queued value and, once its batch came back, its answer (or the exception it raised)."""

    __slots__ = ("answer", "done", "error", "value")

    def __init__(self, value: T) -> None:
        self.value = value
        self.done = False
        self.answer: R | None = None
        self.error: BaseException | None = None


class MicroBatcher(Generic[T, R]):
    """Items go out through ``send`` (a list in, one answer or exception per item out, in order).

    ``capacity`` bounds the items queued or in flight: :meth:`enqueue` waits for room beyond it.
    The flushing is done by whichever waiting caller finds nothing in flight (no task of its own).
    """

    def __init__(self, send: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], *, max_items: int = 100,
                 capacity: int = 10_000) -> None:
        self._send = send
        self._max_items = max_items
        self._capacity = capacity
        self._room_left: anyio.Semaphore | None = None  # made in the event loop, on first use
        self._queue: deque[Item[T, R]] = deque()
        self._in_flight = False
        self._landed: anyio.Event | None = None  # set when the request in flight comes back (one per request)
        #: How many requests went out (for tests and benchmarks).
        self.requests = 0

    async def submit(self, value: T) -> R:
        """Send ``value`` in the next batch and return its answer (raise its exception)."""
        return await self.result(await self.enqueue(value))

    @property
    def _room(self) -> anyio.Semaphore:
        if self._room_left is None:
            self._room_left = anyio.Semaphore(self._capacity)
        return self._room_left

    async def enqueue(self, value: T) -> Item[T, R]:
        """Queue ``value`` (waiting for room when ``capacity`` items are already queued).

        With room, no turn of the event loop: ``Semaphore.acquire`` yields even then (two
        checkpoints), which for every call and every result hash was a few % of the gateway's CPU."""
        try:
            self._room.acquire_nowait()
        except anyio.WouldBlock:
            await self._room.acquire()
        item: Item[T, R] = Item(value)
        self._queue.append(item)
        return item

    async def result(self, item: Item[T, R]) -> R:
        """Wait for ``item``'s answer, sending batches while nothing else is in flight."""
        try:
            while not item.done:
                if self._in_flight and self._landed is not None:
                    await self._landed.wait()
                else:
                    await self._flush()
        except BaseException:
            if item in self._queue:  # given up before it was sent: it is never sent
                self._queue.remove(item)
                self._room.release()
            raise
        if item.error is not None:
            raise item.error
        return item.answer  # type: ignore[return-value]  # R, set with done

    async def _flush(self) -> None:
        batch = [self._queue.popleft() for _ in range(min(self._max_items, len(self._queue)))]
        self._in_flight = True
        self._landed = anyio.Event()
        self.requests += 1
        try:
            answers = await self._send([item.value for item in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(batch)} items sent, {len(answers)} answers")
        except Exception as exc:  # noqa: BLE001 - the request failed: so did each of its items
            answers = [exc] * len(batch)
        except BaseException:  # cancelled mid-flight: the batch goes out again with the next one
            self._queue.extendleft(reversed(batch))
            raise
        finally:
            self._in_flight = False
            self._landed.set()  # the waiters look again: one of them sends what queued meanwhile
        for item, answer in zip(batch, answers, strict=True):
            if isinstance(answer, BaseException):
                item.error = answer
            else:
                item.answer = answer
            item.done = True
            self._room.release()
