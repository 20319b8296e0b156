"""Terminal output and the one-line error exit shared by every ``costbt`` command.

Kept apart from `backtest.cli` (which imports every command module) so that a command module can
be imported on its own without an import cycle.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from costbt.data.errors import DataError

# Wide output when piped (CI logs, files); the terminal's width otherwise. No markup and no
# emoji codes: user text (titles, study names, paths, values) is printed as given, never read
# as style ("[/]", "[bold red]") or emoji (":b:"); styles are applied with rich.text.Text.
out = Console(width=None if sys.stdout.isatty() else 150, markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)

F = TypeVar("F", bound=Callable[..., object])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line and return the exit to raise (status 2: bad input)."""
    line = Text.assemble(("error:", "bold red"), " ", message)
    err.print(line, highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


#: Set to any value to see the traceback of an unexpected error instead of its one line.
DEBUG_VARIABLE = "COSTBT_DEBUG"

#: Click's usage errors (typer vendors click; its base class is reached through a public one).
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

#: errno values of a full disk or an exhausted quota.
_FULL = {errno.ENOSPC, errno.EDQUOT}


def exit_for(exc: BaseException) -> typer.Exit | None:
    """The one-line exit for an exception a command let through, or None to let it go on.

    * `DataError` (bad input found in a file, a flag or a value): its message, exit 2.
    * ``KeyboardInterrupt``: "interrupted", exit 130 (what a shell reports for Ctrl-C).
    * A closed standard output (``| head``): exit 0, nothing more is written.
    * A full disk or quota: the file and "no space left on device", exit 1 (the environment
      failed, not the input; the stores write atomically, so nothing stored is half-written).
    * Any other ``OSError``: the file and the system's reason, exit 1.
    * ``MemoryError``: exit 1 with a hint to narrow the work.
    * Anything else is a bug: one line naming it, exit 1; with ``COSTBT_DEBUG`` set, None (the
      traceback is shown).

    Click's own exits and usage errors (exit 2, one line) are not translated.
    """
    if isinstance(exc, (typer.Exit, typer.Abort, _CLICK_ERROR, SystemExit)):
        return None
    if isinstance(exc, DataError):
        return fail(exc.message)
    if isinstance(exc, KeyboardInterrupt):
        return fail("interrupted", code=130)
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return typer.Exit(code=0)
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else "a file"
        if exc.errno in _FULL:
            return fail(f"no space left on device writing {where}: free space and run again", 1)
        return fail(f"cannot use {where}: {exc.strerror or exc}", code=1)
    if isinstance(exc, MemoryError):
        return fail("out of memory: narrow the span, the grid or --chunk-size and run again", 1)
    if os.environ.get(DEBUG_VARIABLE):
        return None
    text = str(exc).splitlines()[0] if str(exc) else ""
    return fail(
        f"internal error ({type(exc).__name__}{': ' + text if text else ''}); this is a bug in "
        f"costbt: please report it with the command (set {DEBUG_VARIABLE}=1 for the traceback)",
        code=1,
    )


def _silence_stdout() -> None:
    """Point standard output at /dev/null so that nothing more fails on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test runner's buffer)
        pass


def reports_bad_input(func: F) -> F:
    """Every exception a command lets through becomes one line and its exit (`exit_for`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - translated, or re-raised as it was
            translated = exit_for(exc)
            if translated is None:
                raise
            raise translated from None

    return wrapper  # type: ignore[return-value]


class SafeGroup(TyperGroup):
    """The command group that translates what any subcommand lets through (`exit_for`), and
    prints click's usage errors (an unknown flag, a value out of range, a missing option) as
    one line, ``error: ... (see 'costbt tune --help')``, exit 2, instead of the usage block."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _CLICK_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `costbt`: the help
                exc.show()
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            err.print(
                Text.assemble(("error:", "bold red"), " ", exc.format_message() + hint),
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(exc.exit_code)
        except typer.Abort:
            err.print(Text.assemble(("error:", "bold red"), " aborted"), highlight=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except BaseException as exc:  # noqa: BLE001 - translated, or re-raised as it was
            translated = exit_for(exc)
            if translated is None:
                raise
            raise translated from None


def cell(name: str, value) -> str:
    """A table cell: flags in words, shares in per cent, other numbers to 4 digits."""
    from costbt.backtest.degenerate import label

    if name == "flag":
        return label(value)
    if name in ("exposure", "entry_share") and isinstance(value, float):
        return "-" if value != value else f"{value:.1%}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
