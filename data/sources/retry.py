"""Retry with exponential backoff and jitter, shared by every downloader.

delay(attempt) = min(max_delay_s, base_delay_s * 2**(attempt - 1)) * (1 + jitter * U[-1, 1]),
unless the server said how long to wait (HTTP ``Retry-After``), which is then honoured (capped at
``max_retry_after_s``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class FetchError(Exception):
    """A download failed for good. ``exit_code`` 2 means bad input (unknown symbol, bad key);
    ``status`` is the HTTP status when one caused it."""

    def __init__(self, message: str, *, exit_code: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures."""

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


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form); None when absent or unparsable."""
    if value is None:
        return None
    try:
        return max(0.0, float(str(value).strip()))
    except ValueError:
        return None
