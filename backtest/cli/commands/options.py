"""Options and flag parsing shared by the download commands (one definition, one message)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from costbt.backtest.cli.console import fail

if TYPE_CHECKING:
    import pandas as pd


def readable_cache(value: Path | None) -> Path | None:
    """``--cache-dir`` callback of a command that only reads the cache."""
    check_input_folder("--cache-dir", value)
    return value


def _writable_cache(value: Path | None) -> Path | None:
    check_output_folder("--cache-dir", value)
    return value


def checked_api_url(value: str | None) -> str | None:
    """``--api-url`` callback: an ``http://`` or ``https://`` URL with a host and no spaces,
    refused while the flags are parsed (exit 2), not found out as a download failure (exit 1)."""
    if value is None:
        return None
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in value)
    ):
        raise fail(f"--api-url: '{value}' is not an http:// or https:// URL with a host")
    return value


def checked_bundle_dir(value: Path | None) -> Path | None:
    """``--bundle-dir`` callback: a folder holding a bundle's ``manifest.json``."""
    if value is None:
        return None
    from costbt.data.bundle import MANIFEST

    if not (value / MANIFEST).is_file():
        raise fail(
            f"--bundle-dir: '{value}' is not a bundled dataset folder (it holds no {MANIFEST})"
        )
    return value


#: ``--bundle-dir``: checked while the flags are parsed.
BundleDir = Annotated[
    Path | None,
    typer.Option(
        "--bundle-dir",
        help="Folder of the bundled dataset (default: the package's data/bundled, or "
        "$COSTBT_BUNDLE_DIR).",
        show_default=False,
        callback=checked_bundle_dir,
    ),
]


_CACHE_HELP = (
    "Cache folder (default: $COSTBT_CACHE_DIR, else $COSTBT_HOME/cache, else the user cache "
    "folder)."
)
#: ``--cache-dir`` of a command that reads the cache: a file (or a path below one) is refused
#: while the flags are parsed, before any work.
CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help=_CACHE_HELP, show_default=False, callback=readable_cache),
]
#: ``--cache-dir`` of a command that writes into the cache (downloads, tuning journals): it must
#: be a folder files can be written in (or can be created), checked before any work.
WritableCacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help=_CACHE_HELP, show_default=False, callback=_writable_cache),
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


#: The largest ``--seed`` (numpy and Optuna take 0 .. 2**32 - 1; walk-forward adds the window's
#: number, so a margin is kept).
MAX_SEED = 2**31 - 1

#: The dates a flag may name: the Unix epoch to 2200 (bitcoin's data start in 2009; a date far
#: outside is a typo, and pandas' own limits start at 1677 and end in 2262).
FIRST_DAY, LAST_DAY = "1970-01-01", "2200-12-31"


def parse_day(flag: str, value: str | None) -> pd.Timestamp | None:
    """A UTC date or ISO timestamp -> tz-naive UTC Timestamp; exits 2 naming the flag if bad:
    empty, not a date, or outside `FIRST_DAY` .. `LAST_DAY`."""
    if value is None:
        return None
    import pandas as pd

    if not str(value).strip():
        raise fail(f"{flag}: empty; give a date (YYYY-MM-DD) or an ISO timestamp")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError, NotImplementedError):
        raise fail(f"{flag}: '{value}' is not a date (YYYY-MM-DD) or ISO timestamp") from None
    if ts is pd.NaT:
        raise fail(f"{flag}: '{value}' is not a date (YYYY-MM-DD)")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if not (pd.Timestamp(FIRST_DAY) <= ts <= pd.Timestamp(LAST_DAY) + pd.Timedelta(days=1)):
        raise fail(f"{flag}: '{value}' is outside {FIRST_DAY} .. {LAST_DAY}")
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


def value_flag(text: str, config: Path | None, param: list[str] | None) -> str:
    """The flag a fixed value's error belongs to: ``--param`` when a ``--param`` item names the
    parameter ``text`` is about, else ``--config FILE`` when a file was given (its ``[params]``
    or ``[engine]`` holds it), else ``--param``."""
    import re

    names = {item.partition("=")[0].strip().removeprefix("engine.") for item in param or []}
    if any(
        n and re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", text) for n in names
    ):
        return "--param"
    return f"--config {config}" if config is not None else "--param"


def setting_flag(
    exc,
    config: Path | None,
    param: list[str] | None,
    renames: dict[str, str] | None = None,
    default: str = "--strategy",
) -> str:
    """The flag of a library error's ``field`` (`backtest.tuning.TuningError`,
    `backtest.walkforward.WalkForwardError`): ``fixed`` is `value_flag`'s, a renamed field its
    flag, another ``--`` and the field with dashes; ``default`` when the error has no field."""
    field = getattr(exc, "field", None)
    if field is None:
        return default
    if field == "fixed":
        return value_flag(str(exc), config, param)
    return (renames or {}).get(field, "--" + field.replace("_", "-"))


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


def check_output_file(flag: str, path: Path | None, example: str = "report.html") -> None:
    """Exit 2 naming ``flag`` when ``path`` cannot be written as a file, before any work
    (`backtest.output_paths.file_problem`; nothing is created): an output that cannot be
    written should not cost a whole run."""
    if path is None:
        return
    from costbt.backtest.output_paths import file_problem

    problem = file_problem(path, example)
    if problem is not None:
        raise fail(f"{flag}: {problem}")


def check_output_folder(flag: str, folder: Path | None) -> None:
    """Exit 2 naming ``flag`` when files cannot be written in ``folder`` (or it cannot be created),
    before any work (`backtest.output_paths.folder_problem`)."""
    if folder is None:
        return
    from costbt.backtest.output_paths import folder_problem

    problem = folder_problem(folder)
    if problem is not None:
        raise fail(f"{flag}: {problem}")


def check_input_file(flag: str, path: Path | None) -> None:
    """Exit 2 naming ``flag`` unless ``path`` (to be read) is an existing regular file."""
    if path is None:
        return
    if Path(path).is_dir():
        raise fail(f"{flag}: '{path}' is a folder, not a file")
    if not Path(path).is_file():
        raise fail(f"{flag}: '{path}': file not found")


def check_input_folder(flag: str, folder: Path | None) -> None:
    """Exit 2 naming ``flag`` when ``folder`` (to be read, and perhaps filled later) is a file
    or lies below one; a missing folder is fine (nothing there yet)."""
    if folder is None:
        return
    folder = Path(folder)
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                raise fail(f"{flag}: {part} is a file, not a folder")
            return


def prepare_report_folder(report: Path | None) -> None:
    """``--report`` checked before any work (`check_output_file`)."""
    check_output_file("--report", report)


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
