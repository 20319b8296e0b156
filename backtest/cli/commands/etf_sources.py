"""``costbt data etf-flows``: fetch a dated snapshot of Farside's spot-ETF flows, show revisions.

    costbt data etf-flows [--cache-dir DIR] [--api-url URL] [--timeout S]
    costbt data etf-flows --as-of SNAPSHOT [--cache-dir DIR]

Without ``--as-of`` the page is downloaded and stored as a new snapshot (named by the fetch time,
UTC), and a summary is printed: rows, span, funds, and the days added and cells revised since the
previous snapshot. With ``--as-of`` nothing is downloaded: the stored snapshot in effect at that
time (the latest taken at or before it; a label like ``snapshot-2026-04-11T153000Z``, an ISO
timestamp, or a date meaning the end of that UTC day) is summarised against the one before it.
Network and pandas-heavy code is imported inside the command.
"""

from __future__ import annotations

from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import WritableCacheDir, checked_api_url

ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="Farside's page URL, or a base URL for the default page path "
        "(default: https://farside.co.uk/bitcoin-etf-flow-all-data/).",
        show_default=False,
        callback=checked_api_url,
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Do not download; summarise the stored snapshot in effect at this time "
        "(snapshot label, ISO timestamp, or a date = the end of that UTC day).",
        show_default=False,
    ),
]
Timeout = Annotated[
    float, typer.Option("--timeout", help="Per-request timeout in seconds.", min=0.01)
]
Revisions = Annotated[
    int, typer.Option("--show-revisions", help="List up to N revised cells.", min=0)
]


def _print(message: str) -> None:
    from costbt.backtest.cli.console import out

    out.print(message, highlight=False, markup=False, soft_wrap=True)


def _error(message: str, code: int) -> typer.Exit:
    """One error line on stderr (``error: ...``) and the exit to raise (2: bad input)."""
    from costbt.backtest.cli.console import fail

    return fail(message, code)


def _summarise(snap, previous, diff, show: int) -> None:
    from costbt.data.sources.farside import describe_revisions

    frame = snap.frame
    first, last = frame.index.min().date(), frame.index.max().date()
    funds = [c for c in frame.columns if c != "total_usd_m"]
    _print(
        f"snapshot {snap.label}: {len(frame)} trading days, {first} .. {last}, "
        f"{len(funds)} funds + total (US$ millions)"
    )
    if previous is None or diff is None:
        _print("previous snapshot: none (this is the first; nothing to compare)")
        return
    _print(
        f"previous snapshot {previous.label}: {len(previous.frame)} trading days; "
        f"{len(diff.added_days)} new days, {len(diff.removed_days)} days no longer listed, "
        f"{len(diff.revised)} revised cells"
    )
    if diff.added_days:
        _print(f"  new days: {diff.added_days[0].date()} .. {diff.added_days[-1].date()}")
    for line in describe_revisions(diff, limit=show) if show else []:
        _print(f"  revised {line}")


def etf_flows(
    cache_dir: WritableCacheDir = None,
    api_url: ApiUrl = None,
    as_of: AsOf = None,
    timeout: Timeout = 30.0,
    show_revisions: Revisions = 10,
) -> None:
    """Fetch Farside's spot-ETF flows as a new dated snapshot; print rows and revisions."""
    from costbt.data.cache import Cache
    from costbt.data.errors import DataError
    from costbt.data.sources import farside
    from costbt.data.sources.retry import FetchError

    cache = Cache(cache_dir)
    if as_of is not None:
        try:
            cutoff = farside.parse_as_of(as_of)
        except DataError:
            raise _error(
                f"--as-of: '{as_of}' is not a snapshot label (snapshot-YYYY-MM-DDTHHMMSSZ), "
                "date or timestamp",
                2,
            ) from None
        try:
            snap = farside.load_snapshot(cache, cutoff)
        except DataError as exc:
            raise _error(f"--as-of {as_of}: {exc.message}", 2) from None
        previous = farside.previous_snapshot(cache, snap.taken_at)
        diff = None if previous is None else farside.compare(previous, snap)
        _summarise(snap, previous, diff, show_revisions)
        return
    try:
        config = farside.FarsideConfig.from_url(api_url, timeout_s=timeout)
    except DataError:
        raise _error(f"--api-url: '{api_url}' is not an http(s) URL", 2) from None
    try:
        result = farside.fetch_snapshot(
            cache, config, on_retry=lambda msg: _print(f"  {config.url}: {msg}")
        )
    except FetchError as exc:
        raise _error(exc.message, exc.exit_code) from None
    _summarise(result.snapshot, result.previous, result.diff, show_revisions)
    if result.unknown_funds:
        cols = ", ".join(f"{t} (kept as {t.lower()}_usd_m)" for t in result.unknown_funds)
        _print(
            f"new fund columns not in data.bundled_files.ETF_FUNDS: {cols}; "
            "they stay in the snapshot but not in the panel"
        )
    if result.holiday_rows:
        _print(f"dropped {result.holiday_rows} holiday rows (every fund '-')")
    _print(f"wrote {cache.path(result.snapshot.key)}")


def register(data_app: typer.Typer) -> None:
    """Add ``etf-flows`` to ``costbt data``."""
    from costbt.backtest.cli.console import reports_bad_input

    data_app.command("etf-flows")(reports_bad_input(etf_flows))
