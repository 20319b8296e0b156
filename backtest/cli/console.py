"""Terminal output and the one-line error exit shared by every ``costbt`` command.

Kept apart from `backtest.cli` (which imports every command module) so that a command module can
be imported on its own without an import cycle.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from costbt.data.errors import DataError

# Wide output when piped (CI logs, files); the terminal's width otherwise.
out = Console(width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., object])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line and return the exit to raise (status 2: bad input)."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


def reports_bad_input(func: F) -> F:
    """Turn `DataError` (and other bad-input errors) into one line and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DataError as exc:
            raise fail(exc.message) from None

    return wrapper  # type: ignore[return-value]


def cell(name: str, value) -> str:
    """A table cell: flags in words, shares in per cent, other numbers to 4 digits."""
    from costbt.backtest.degenerate import label

    if name == "flag":
        return label(value)
    if name in ("exposure", "entry_share") and isinstance(value, float):
        return "-" if value != value else f"{value:.1%}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
