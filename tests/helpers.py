"""Small test helpers shared by several test modules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.05,
               message: str = "condition") -> T:
    """Call ``predicate`` until it returns a truthy value and return that value.

    Fails the test (``AssertionError``) if ``timeout`` seconds pass first. The predicate
    is always called once more at the deadline, so a slow machine never fails a test whose
    condition became true during the last interval.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
