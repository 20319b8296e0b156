"""Options and flag parsing shared by the download commands (one definition, one message)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from costbt.backtest.cli.console import fail

if TYPE_CHECKING:
    import pandas as pd

CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Cache folder (default: $COSTBT_CACHE_DIR, else $COSTBT_HOME/cache, else the user cache folder).",
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


def run_config(
    config: Path | None, strategy: str | None, param: list[str] | None, default: str = "below_cost"
) -> tuple[str, dict, dict]:
    """(strategy, fixed values, file) of a run from ``--config``, ``--strategy`` and ``--param``:
    the one merge every command uses (`costbt.backtest.config.merge`); the flags win over the
    file. Exit 2 naming ``--config`` or ``--param`` on a bad file or item."""
    from costbt.backtest.cli.commands.cost import parse_params
    from costbt.backtest.config import merge, read_toml
    from costbt.signals.params import ParamError

    try:
        file_cfg = read_toml(config) if config is not None else {}
    except ParamError as exc:
        raise fail(f"--config: {exc}") from None
    name = strategy or file_cfg.get("strategy") or default
    if not isinstance(name, str):
        raise fail(f"--config: strategy {name!r} is not a name")
    return name, merge(file_cfg, parse_params(param)), file_cfg


def load_strategy(name: str | None, *, benchmarks: bool = False, flag: str = "--strategy"):
    """The `Strategy` ``--strategy`` names: a built-in, ``FILE.py:NAME``, ``module:NAME`` or a
    plugin (`costbt.strategies.registry`); exit 2 with one line saying why it cannot load."""
    from costbt.strategies import STRATEGIES, StrategyError

    if name is None:
        raise fail(f"{flag}: no strategy given")
    try:
        strategy = STRATEGIES.resolve(name)
    except StrategyError as exc:
        raise fail(f"{flag}: {exc}") from None
    if strategy.benchmark and not benchmarks:
        raise fail(f"{flag}: '{name}' is a benchmark, not a strategy to test")
    return strategy


def prepare_report_folder(report: Path | None) -> None:
    """Create ``--report``'s folder before any work (exit 2 naming it when that is impossible):
    a report that cannot be written should not cost a whole run."""
    if report is None:
        return
    if report.is_dir():
        raise fail(
            f"--report: {report} is a folder; give a file name such as {report / 'report.html'}"
        )
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(
            f"--report: cannot create the folder {report.parent}: {exc.strerror or exc}"
        ) from None


def load_traded_panel(
    first: pd.Timestamp | None, last: pd.Timestamp | None
) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """The bundled panel up to ``last`` (``--end``; nothing after it is read) and the first and
    last priced days of ``first``..``last``; exits 2 naming ``--end`` or ``--start`` when that
    span holds no spot price (before any expensive work).

    Signals see all history before ``first`` (warm trailing windows and expanding fits, as a
    trader had them); trading is limited to ``first``..``last``.
    """
    from costbt.data.panel import load_panel

    whole = load_panel()
    priced = whole.index[whole["close_usd"].notna().to_numpy()]
    shown = f"they run {priced.min().date()} .. {priced.max().date()}"
    panel = whole if last is None else whole.loc[:last]
    days = priced if last is None else priced[priced <= last]
    if not len(days):
        raise fail(f"--end: no spot prices on or before {last.date()} ({shown})")
    if first is not None:
        days = days[days >= first]
        if not len(days):
            span = "" if last is None else f" and on or before {last.date()}"
            raise fail(f"--start: no spot prices on or after {first.date()}{span} ({shown})")
    return panel, days.min(), days.max()


def wants_fees(fixed: dict, searched=()) -> bool:
    """Whether a run asks for ``include_fees``: fixed to true (raw ``--param`` text or a
    validated value), or searched / swept (``searched``: parameter names)."""
    from costbt.signals.params import Param, ParamError

    try:  # the parameters' own reading of a bool; a bad value is reported by the run itself
        value = Param("include_fees", "bool", False).validate(fixed.get("include_fees", False))
    except ParamError:
        value = False
    return value or "include_fees" in searched


def refuse_fees_without_data(panel: pd.DataFrame, wanted: bool, flag: str = "--param") -> None:
    """Exit 2 naming ``include_fees`` when a run asks for fees and the panel has no fee series
    (the bundled data has none): its cost, and so its signal, would be unknown on every day."""
    if not wanted:
        return
    if "fees_btc" in panel.columns and panel["fees_btc"].notna().any():
        return
    raise fail(
        f"{flag} include_fees: the bundled data has no transaction-fee series, so the cost "
        "would be unknown on every day; fees are a declared input of 'costbt cost --param "
        "include_fees=true' with cached fee data. Without them the cost divides by the subsidy "
        "only, which overstates it (docs/signals.md)"
    )
