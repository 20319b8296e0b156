"""Progress reporting for long downloads: a rich bar on a terminal, plain lines otherwise.

Implements the `data.sources.ohlcv.Progress` protocol. ``quiet`` silences progress (the command's
final summary is still printed by the command).
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ConsoleProgress:
    """Rows fetched / rows expected, as a rich progress bar or as plain lines."""

    def __init__(self, console: Console, *, quiet: bool = False, plain: bool | None = None) -> None:
        self.console = console
        self.quiet = quiet
        self.plain = (not sys.stdout.isatty()) if plain is None else plain
        self._bar: Progress | None = None
        self._task = None
        self._desc = ""
        self._done = 0
        self._total: int | None = None
        self._last_line = 0.0

    def start(self, description: str, total: int | None) -> None:
        self._desc, self._done, self._total = description, 0, total
        if self.quiet:
            return
        if self.plain:
            self.console.print(
                f"{description}: starting (expected rows: {total if total is not None else 'unknown'})",
                highlight=False,
            )
            return
        self._bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total)

    def advance(self, rows: int, detail: str = "") -> None:
        self._done += rows
        if self.quiet:
            return
        if detail and self._bar is None and self.plain:
            self.console.print(f"  {detail}", highlight=False, soft_wrap=True)
        if self._bar is not None:
            if self._total is not None and self._done > self._total:
                self._bar.update(self._task, total=self._done)
            self._bar.update(self._task, completed=self._done)
        elif self.plain and time.monotonic() - self._last_line > 0.5:
            self._last_line = time.monotonic()
            total = f"/{self._total}" if self._total is not None else ""
            self.console.print(f"{self._desc}: {self._done}{total} rows", highlight=False)

    def note(self, message: str) -> None:
        if not self.quiet:
            target = self._bar.console if self._bar is not None else self.console
            target.print(
                f"  {self._desc}: {message}", highlight=False, style="yellow", markup=False
            )

    def finish(self) -> None:
        if not self._desc:
            return
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.plain and not self.quiet:
            self.console.print(f"{self._desc}: {self._done} rows", highlight=False)
        self._desc = ""
