"""A fixed-window counter of invalid link answers per client address (``heso.throttle``).

Only *invalid* answers count, and once an address has made too many, every answer to every
link from it is 429, valid or not, so the throttle itself does not tell a guesser when a guess
was right. The window opens at an address's first invalid answer; its remaining TTL is the
``Retry-After``. Redis is a hint: if it is unreachable the pages work unthrottled (logged),
because refusing every approver would be the worse failure.
"""

from __future__ import annotations

from heso import throttle

#: Invalid answers allowed per address and window before every answer is 429.
INVALID_LIMIT = 30
WINDOW_SECONDS = 5 * 60
#: Named when only email had links; kept so a deploy does not reset open windows.
KEY_PREFIX = "email-invalid:"


def blocked_for(address: str) -> int | None:
    """Seconds until ``address`` may try again, or None if it is not throttled."""
    return throttle.blocked_for(KEY_PREFIX + address, INVALID_LIMIT)


def count_invalid(address: str) -> None:
    """Record one invalid answer from ``address``, opening its window if none is open."""
    throttle.count_request(KEY_PREFIX + address, WINDOW_SECONDS)
