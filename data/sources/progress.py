"""The progress protocol every downloader reports to; the CLI renders it (backtest/cli/progress.py).

``start(description, total)`` opens a task (``total`` rows or days expected, None if unknown),
``advance(n, detail)`` adds ``n`` done, ``note(message)`` reports a retry or a skip, and
``finish()`` closes the task.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, description: str, total: int | None) -> None: ...
    def advance(self, n: int, detail: str = "") -> None: ...
    def note(self, message: str) -> None: ...
    def finish(self) -> None: ...


class SilentProgress:
    """A `Progress` that reports nothing (library use, tests)."""

    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, n: int, detail: str = "") -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass
