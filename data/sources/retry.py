"""Retry with exponential backoff and jitter, shared by every downloader.

delay(attempt) = min(max_delay_s, base_delay_s * 2**(attempt - 1)) * (1 + jitter * U[-1, 1]),
unless the server said how long to wait (HTTP ``Retry-After``), which is then honoured. A
``Retry-After`` longer than ``max_retry_after_s`` (120 s) is not slept through: Binance answers
an IP ban (HTTP 418) with the seconds until the ban is over, from 2 minutes up to 3 days, and a
download that sleeps that long looks hung. `long_wait` turns such an answer into a `FetchError`
(exit status 1) giving the wait's end in UTC, so the caller stops at once.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


class FetchError(Exception):
    """A download failed for good. ``exit_code`` 2 means bad input (unknown symbol, bad key);
    ``status`` is the HTTP status when one caused it; ``reason`` is the message without the
    leading "which source and request" (for callers that add their own context)."""

    def __init__(
        self,
        message: str,
        *,
        exit_code: int = 1,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.reason = reason if reason is not None else message


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures.

    Attributes:
        max_attempts: requests per operation, the first included.
        base_delay_s, max_delay_s, jitter: the exponential backoff (see module doc).
        max_retry_after_s: the longest ``Retry-After`` that is waited for; a longer one stops the
            download (`long_wait`).
        sleep, rng: injectable for tests.
    """

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    jitter: float = 0.25
    max_retry_after_s: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    rng: random.Random = field(default_factory=lambda: random.Random(), compare=False, repr=False)

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (attempts count from 1)."""
        if retry_after_s is not None and retry_after_s >= 0:
            return min(retry_after_s, self.max_retry_after_s)
        base = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return max(0.0, base * (1 + self.jitter * self.rng.uniform(-1, 1)))


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """``Retry-After`` in seconds; None when absent or unparsable.

    Both forms of RFC 9110 are read: delta-seconds (``"120"``) and an HTTP-date, which is turned
    into seconds from ``now_s`` (the response's ``Date``, else the local clock).
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    when_ms = http_date_ms(text)
    if when_ms is None:
        return None
    reference = time.time() if now_s is None else now_s
    return max(0.0, when_ms / 1000 - reference)


def http_date_ms(value: str | None) -> int | None:
    """An HTTP date (a ``Date`` header: the server's clock, whole seconds) as epoch milliseconds;
    None when absent or unreadable."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return int(when.timestamp() * 1000)


def utc_text(ms: float) -> str:
    """``ms`` (epoch milliseconds) as ``2026-12-05 14:30:00 UTC``."""
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def long_wait(
    policy: RetryPolicy,
    retry_after_s: float | None,
    *,
    status: int | None,
    now_ms: float,
    where: str,
) -> FetchError | None:
    """The error to stop with when the server asks for a longer wait than the policy allows.

    None when there is no ``Retry-After`` or it is short enough to be honoured. ``now_ms`` is the
    clock the wait counts from (the response's ``Date`` where known); the message gives the end
    of the wait (for HTTP 418, the end of the IP ban) in UTC.
    """
    if retry_after_s is None or retry_after_s <= policy.max_retry_after_s:
        return None
    until = utc_text(now_ms + retry_after_s * 1000)
    if status == 418:
        reason = f"the server has banned this IP address (HTTP 418) until {until}"
    elif status == 429:
        reason = f"rate limited (HTTP 429): the server asks to wait until {until}"
    else:
        code = f"HTTP {status}" if status else "Retry-After"
        reason = f"the server asks to wait until {until} ({code})"
    reason += (
        f" (Retry-After {retry_after_s:,.0f} s; costbt waits at most"
        f" {policy.max_retry_after_s:,.0f} s)"
    )
    return FetchError(f"{where}: {reason}", status=status, reason=reason)
