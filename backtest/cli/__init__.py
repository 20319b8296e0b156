"""The ``costbt`` command.

Only light modules are imported at start-up (typer, rich, pandas through ``data``); commands that
need vectorbt, quantstats or optuna import them inside the command. Bad input of any kind ends
with one line on stderr naming the file, flag or value, and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from costbt.backtest.cli.commands.options import (
    BundleDir,
    check_output_file,
    parse_day,
    readable_cache,
)
from costbt.backtest.cli.console import (  # noqa: F401 - re-exported
    SafeGroup,
    err,
    fail,
    out,
    reports_bad_input,
)

app = typer.Typer(
    name="costbt",
    help="Backtest cost-based Bitcoin strategies on point-in-time data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=SafeGroup,
)
data_app = typer.Typer(
    help="The bundled dataset and the point-in-time panel.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=SafeGroup,
)
app.add_typer(data_app, name="data")


MaxGap = Annotated[
    list[str] | None,
    typer.Option(
        "--max-gap-days",
        help="Gap limit override, FILE=DAYS (e.g. chain_1d.csv=5) or DAYS for every file; 'none' disables.",
        show_default=False,
    ),
]


def parse_gap_limits(values: list[str] | None) -> dict[str, int | None]:
    """``["chain_1d.csv=5", "3"]`` -> ``{"chain_1d.csv": 5, "*": 3}``; bad values exit 2."""
    from costbt.data import bundled_files as bf

    limits: dict[str, int | None] = {}
    for raw in values or []:
        name, _, val = raw.rpartition("=")
        key = name or "*"
        if key != "*" and key not in bf.BY_FILE:
            raise fail(f"--max-gap-days: unknown file '{key}' (known: {', '.join(bf.BY_FILE)})")
        if val.strip().lower() == "none":
            limits[key] = None
            continue
        try:
            days = int(val)
        except ValueError:
            raise fail(
                f"--max-gap-days: '{val}' is not a whole number of days (in '{raw}')"
            ) from None
        if days < 0:
            raise fail(f"--max-gap-days: {days} is negative (in '{raw}')")
        limits[key] = days
    if "*" in limits:
        every = limits.pop("*")
        limits = {f: every for f in bf.BY_FILE} | limits
    return limits


def group_identical(coverages: list) -> list[tuple[list[str], object]]:
    """Merge columns whose coverage is identical (same span, count and gaps) into one row."""
    groups: dict[tuple, tuple[list[str], object]] = {}
    for c in coverages:
        key = (c.first, c.last, c.values, c.expected, c.gaps)
        groups.setdefault(key, ([], c))[0].append(c.column)
    return list(groups.values())


def _fmt_day(ts) -> str:
    return "-" if ts is None else str(ts.date())


@data_app.command("status")
@reports_bad_input
def data_status(
    bundle_dir: BundleDir = None,
    max_gap_days: MaxGap = None,
    gaps: Annotated[int, typer.Option("--gaps", help="List up to N gaps per column.", min=0)] = 3,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Download cache (default: $COSTBT_CACHE_DIR, else $COSTBT_HOME/cache, else the user cache folder).",
            callback=readable_cache,
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with status 1 if a cached series has gaps.")
    ] = False,
) -> None:
    """Show the bundled files (manifest, hashes, sources), coverage per column, gaps, the panel,
    and the cached downloads (source, coverage, gaps, age)."""
    from costbt.data import bundle
    from costbt.data import bundled_files as bf
    from costbt.data.coverage import column_coverage
    from costbt.data.panel import PANEL_SOURCES, build_panel

    limits = parse_gap_limits(max_gap_days)
    root = bundle.bundle_dir(bundle_dir)
    manifest = bundle.read_manifest(root)
    checks = {c.file: c for c in bundle.verify(root)}
    entries = {e["file"]: e for e in manifest["files"]}
    unknown = [f for f in entries if f not in bf.BY_FILE]
    if unknown:
        raise fail(f"{root / 'manifest.json'}: lists unknown file '{unknown[0]}'")

    t = Table(title=f"Bundled dataset: {root}", title_justify="left")
    for col in ("file", "rows", "first", "last", "sha256", "source repositories"):
        t.add_column(col, no_wrap=col in ("file", "rows", "first", "last", "sha256"))
    for name, entry in entries.items():
        chk = checks[name]
        if chk.actual_sha256 is None:
            sha = Text("missing", style="red")
        elif chk.ok:
            sha = Text(f"{entry['sha256'][:12]} ok", style="green")
        else:
            sha = Text(f"{chk.actual_sha256[:12]} != manifest", style="red")
        repos = sorted({s["repository"] for s in entry.get("sources", [])})
        t.add_row(
            name,
            str(entry.get("rows", "?")),
            entry.get("first", "?"),
            entry.get("last", "?"),
            sha,
            ", ".join(repos),
        )
    out.print(t)
    bad = [c for c in checks.values() if not c.ok]
    if bad:
        c = bad[0]
        what = (
            "is missing"
            if c.actual_sha256 is None
            else "does not match its sha256 in manifest.json"
        )
        raise fail(
            f"{root / c.file}: {what} (changed since the bundle was built; rebuild with scripts/build_bundled.py)"
        )

    frames = {}
    cov = Table(
        title="Coverage per column (columns with identical coverage share a row; "
        "expected days follow each file's cadence)",
        title_justify="left",
    )
    for col in ("file", "columns", "first", "last", "values", "coverage", "gaps (largest first)"):
        cov.add_column(col, no_wrap=col in ("first", "last", "values", "coverage"))
    for name in entries:
        schema = bf.BY_FILE[name]
        frame = bundle.load(schema, root, max_gap_days=limits.get(name, "default"))
        frames[name] = frame
        for cols, c in group_identical(column_coverage(frame, schema)):
            pct = "-" if c.coverage is None else f"{100 * c.coverage:.2f}%"
            worst = sorted(c.gaps, key=lambda g: (-g.days, g.first))[:gaps]
            listed = ", ".join(
                f"{g.first.date()}" + (f"..{g.last.date()} ({g.days} d)" if g.days > 1 else "")
                for g in worst
            )
            more = f" +{len(c.gaps) - len(worst)} more" if len(c.gaps) > len(worst) else ""
            cov.add_row(
                name,
                ", ".join(cols)
                if len(cols) <= 6
                else f"{cols[0]} .. {cols[-1]} ({len(cols)} columns)",
                _fmt_day(c.first),
                _fmt_day(c.last),
                str(c.values),
                pct,
                f"{len(c.gaps)}: {listed}{more}" if c.gaps else ("none" if c.expected else "-"),
            )
    out.print(cov)

    panel = build_panel({s.name: frames[s.schema.file] for s in PANEL_SOURCES if s.bundled})
    p = Table(title="Point-in-time panel (row d = known at 00:00 UTC of d+1)", title_justify="left")
    for col in ("source", "columns", "lag", "hold", "first available", "first row", "last row"):
        p.add_column(col, no_wrap=True)
    for s in PANEL_SOURCES:
        cols = [pc for _, pc in s.columns]
        present = [c for c in cols if c in panel.columns]
        valid = panel[present].dropna(how="all").index if present else panel.index[:0]
        p.add_row(
            s.name,
            str(len(cols)),
            f"{s.lag_days} d",
            f"{s.hold_days} d" if s.hold_days else "-",
            s.first_available or "as published",
            _fmt_day(valid.min() if len(valid) else None) if s.bundled else "cache only",
            _fmt_day(valid.max() if len(valid) else None) if s.bundled else "cache only",
        )
    out.print(p)
    for s in PANEL_SOURCES:
        out.print(f"  {s.name}: {s.known_when}", highlight=False)
    out.print(
        f"panel: {len(panel)} rows x {panel.shape[1]} columns, {panel.index.min().date()} .. "
        f"{panel.index.max().date()}; manifest sha256 {bundle.manifest_hash(root)[:16]}"
    )
    _cache_status(cache_dir, strict)


def _cache_status(cache_dir: Path | None, strict: bool) -> None:
    import pandas as pd

    from costbt.data.cache import Cache
    from costbt.data.coverage import cached_series

    cache = Cache(cache_dir)
    series = cached_series(cache)
    if not series:
        out.print(f"cache {cache.root}: no downloads yet (costbt data fetch ...)")
        return
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    t = Table(title=f"Cached downloads: {cache.root}", title_justify="left")
    for col in (
        "series",
        "source",
        "symbol",
        "tf",
        "rows",
        "first",
        "last",
        "gaps",
        "data age",
        "fetched",
        "sha256",
    ):
        t.add_column(col, no_wrap=True)
    for s in series:
        age = "-" if s.last is None else f"{(now - s.last).days} d"
        fetched = (
            "-"
            if s.fetched_at is None
            else f"{(now - s.fetched_at).total_seconds() / 3600:.1f} h ago"
        )
        t.add_row(
            s.file,
            s.source,
            s.symbol,
            s.timeframe,
            str(s.rows),
            _fmt_day(s.first),
            _fmt_day(s.last),
            f"{s.gaps} (largest {s.largest_gap})" if s.gaps else "none",
            age,
            fetched,
            Text("ok", style="green") if s.hash_ok else Text("changed", style="red"),
        )
    out.print(t)
    gappy = [s for s in series if s.gaps]
    if strict and gappy:
        raise fail(f"--strict: cached series {gappy[0].file} has {gappy[0].gaps} gap(s)", code=1)


@data_app.command("panel")
@reports_bad_input
def data_panel(
    output: Annotated[
        Path, typer.Option("--out", help="Write the panel to this .csv or .parquet file.")
    ],
    bundle_dir: BundleDir = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Build the panel as known at the close of this UTC day."),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First row to keep (YYYY-MM-DD).")
    ] = None,
    max_gap_days: MaxGap = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Download cache (default: $COSTBT_CACHE_DIR, else $COSTBT_HOME/cache, else the user cache folder).",
            callback=readable_cache,
        ),
    ] = None,
    use_cache: Annotated[
        str,
        typer.Option(
            "--use-cache",
            help="Cached downloads: 'extend' adds rows after the bundled span, 'replace' prefers them, 'no' ignores them.",
        ),
    ] = "extend",
    etf_snapshot: Annotated[
        str | None,
        typer.Option(
            "--etf-snapshot",
            help="Farside snapshot to use (label, date or timestamp: the latest taken by then); "
            "default: the latest taken by --as-of, else the latest.",
        ),
    ] = None,
) -> None:
    """Export the point-in-time daily panel (and its provenance beside it, as .provenance.json)."""
    import json

    from costbt.data.panel import load_panel

    if use_cache not in ("extend", "replace", "no"):
        raise fail(f"--use-cache: '{use_cache}' must be extend, replace or no")

    as_of_day, start_day = parse_day("--as-of", as_of), parse_day("--start", start)
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise fail(f"--out: '{output}' must end in .csv or .parquet")
    check_output_file("--out", output, "panel.parquet")
    panel = load_panel(
        bundle_dir,
        as_of=as_of,
        start=start,
        max_gap_days=parse_gap_limits(max_gap_days),
        cache_dir=cache_dir,
        use_cache=None if use_cache == "no" else use_cache,
        etf_snapshot=etf_snapshot,
    )
    if panel.empty:  # an empty file is no answer: say which flag emptied it
        if start_day is not None:
            known = "" if as_of_day is None else f" as known on {as_of_day.date()}"
            raise fail(f"--start: no row of the panel from {start_day.date()}{known}")
        first = load_panel(bundle_dir, max_gap_days=parse_gap_limits(max_gap_days)).index.min()
        raise fail(
            f"--as-of: no row of the panel as known on {as_of_day.date()} (the data start on "
            f"{first.date()})"
        )
    from costbt.data import atomic_files
    from costbt.data.cache import frame_to_parquet_bytes

    if suffix == ".csv":
        atomic_files.write_text(output, panel.to_csv(date_format="%Y-%m-%d"))
    else:
        atomic_files.write_bytes(output, frame_to_parquet_bytes(panel))
    prov = output.with_name(output.name + ".provenance.json")
    atomic_files.write_text(prov, json.dumps(panel.attrs["provenance"], indent=2) + "\n")
    out.print(f"wrote {output} ({len(panel)} rows x {panel.shape[1]} columns) and {prov.name}")
    for source, p in panel.attrs["provenance"]["cache"].items():
        out.print(
            f"  {source}: {p['cache_rows']} rows from cache {p['cache_file']} ({p['mode']}), {p['bundled_rows']} bundled"
        )


def _register_provider_commands() -> None:
    import importlib

    from costbt.backtest.cli.commands import PROVIDER_COMMAND_MODULES

    for name in PROVIDER_COMMAND_MODULES:
        try:
            module = importlib.import_module(f"costbt.backtest.cli.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"costbt.backtest.cli.commands.{name}":
                raise
            continue
        module.register(data_app)


_register_provider_commands()

from costbt.backtest.cli.commands import attribution_cmd as _attribution_command  # noqa: E402
from costbt.backtest.cli.commands import backtest_cmd as _backtest_command  # noqa: E402
from costbt.backtest.cli.commands import claims_cmd as _claims_command  # noqa: E402
from costbt.backtest.cli.commands import cost as _cost_command  # noqa: E402 - registered after app exists
from costbt.backtest.cli.commands import episodes_cmd as _episodes_command  # noqa: E402
from costbt.backtest.cli.commands import fidelity_cmd as _fidelity_command  # noqa: E402
from costbt.backtest.cli.commands import ledger_cmd as _ledger_command  # noqa: E402
from costbt.backtest.cli.commands import lookahead_cmd as _lookahead_command  # noqa: E402
from costbt.backtest.cli.commands import signals_status as _signals_command  # noqa: E402
from costbt.backtest.cli.commands import sweep_cmd as _sweep_command  # noqa: E402
from costbt.backtest.cli.commands import tune_cmd as _tune_command  # noqa: E402
from costbt.backtest.cli.commands import walkforward_cmd as _walkforward_command  # noqa: E402

_cost_command.register(app)
_signals_command.register(app)
_backtest_command.register(app)
_sweep_command.register(app)
_episodes_command.register(app)
_fidelity_command.register(app)
_attribution_command.register(app)
_claims_command.register(app)
_tune_command.register(app)
_walkforward_command.register(app)
_ledger_command.register(app)
_lookahead_command.register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
