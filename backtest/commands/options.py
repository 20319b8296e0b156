"""Options and flag parsing shared by the download commands (one definition, one message)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from backtest.console import fail

if TYPE_CHECKING:
    import pandas as pd

CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Cache folder (default: data/cache, or $COSTBT_CACHE_DIR).",
        show_default=False,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output, only the summary.")]
Strict = Annotated[
    bool, typer.Option("--strict", help="Exit with status 1 if the stored series has gaps.")
]
Now = Annotated[
    str | None,
    typer.Option(
        "--now",
        hidden=True,
        help="Pretend the current time is this UTC instant (replaying history).",
    ),
]


def parse_day(flag: str, value: str | None) -> pd.Timestamp | None:
    """A UTC date or ISO timestamp -> tz-naive UTC Timestamp; exits 2 naming the flag if bad."""
    if value is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise fail(f"{flag}: '{value}' is not a date (YYYY-MM-DD) or ISO timestamp") from None
    if ts is pd.NaT:
        raise fail(f"{flag}: '{value}' is not a date (YYYY-MM-DD)")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def parse_instant(flag: str, value: str | None) -> int | None:
    """Like `parse_day`, as epoch milliseconds."""
    ts = parse_day(flag, value)
    return None if ts is None else int(ts.value // 1_000_000)


def fail_fetch(exc) -> typer.Exit:
    """One line for a `FetchError`, with its exit code; partial downloads are kept."""
    hint = "" if exc.exit_code == 2 else " (rows already written are kept; rerun to resume)"
    return fail(f"{exc.message}{hint}", code=exc.exit_code)


def prepare_report_folder(report: Path | None) -> None:
    """Create ``--report``'s folder before any work (exit 2 naming it when that is impossible):
    a report that cannot be written should not cost a whole run."""
    if report is None:
        return
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(
            f"--report: cannot create the folder {report.parent}: {exc.strerror or exc}"
        ) from None
