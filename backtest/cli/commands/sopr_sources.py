"""``costbt data sopr`` (Glassnode API) and ``costbt data import`` (any vendor's CSV/JSON export).

    costbt data sopr --provider glassnode [--since YYYY-MM-DD] [--until YYYY-MM-DD]
                     [--cache-dir DIR] [--api-url URL] [--timeout S]
    costbt data import --file PATH --map VENDOR_COL=costbt_col [--map ...] --date-column COL
                       [--date-format FMT] [--kind sopr] [--source NAME] [--cache-dir DIR]

The Glassnode key is read from ``$COSTBT_GLASSNODE_API_KEY`` (else ``$GLASSNODE_API_KEY``) and
never printed or written. Bad input (missing key, unknown provider, bad flag value, bad file)
ends with one line naming it and exit status 2; a download that fails for good exits 1.
Network and pandas-heavy code is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import WritableCacheDir, checked_api_url

PROVIDERS = ("glassnode",)


def _print(message: str) -> None:
    from costbt.backtest.cli.console import out

    out.print(message, highlight=False, markup=False, soft_wrap=True)


def _error(message: str, code: int) -> typer.Exit:
    """One error line on stderr (``error: ...``) and the exit to raise (2: bad input)."""
    from costbt.backtest.cli.console import fail

    return fail(message, code)


def _day(flag: str, value: str | None):
    """``YYYY-MM-DD`` -> Timestamp (None passes); exit 2 naming the flag otherwise."""
    if value is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        ts = None
    if ts is None or ts is pd.NaT:
        raise _error(f"{flag}: '{value}' is not a date (YYYY-MM-DD)", 2)
    return ts


def sopr(
    provider: Annotated[
        str, typer.Option("--provider", help="Where to download SOPR from: glassnode.")
    ] = "glassnode",
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="First day to fetch (default: the last stored day, refetched; else all).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Last day to fetch (default: now).", show_default=False),
    ] = None,
    cache_dir: WritableCacheDir = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="API base URL (default: https://api.glassnode.com).",
            show_default=False,
            callback=checked_api_url,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Per-request timeout in seconds.", min=0.01)
    ] = 30.0,
) -> None:
    """Download SOPR and STH-SOPR (daily) into the cache; the key comes from the environment."""
    if provider not in PROVIDERS:
        raise _error(
            f"--provider: '{provider}' is not supported (known: {', '.join(PROVIDERS)}); for "
            "another vendor export a CSV or JSON file and use `costbt data import`",
            2,
        )
    start, end = _day("--since", since), _day("--until", until)
    if start is not None and end is not None and end < start:
        raise _error(f"--until: {until} is before --since {since}", 2)

    from costbt.data.cache import Cache
    from costbt.data.sources import glassnode
    from costbt.data.sources.retry import FetchError

    config = glassnode.GlassnodeConfig(
        base_url=api_url or glassnode.DEFAULT_BASE_URL, timeout_s=timeout
    )
    cache = Cache(cache_dir)
    try:
        result = glassnode.fetch_sopr(
            cache, config, since=start, until=end, on_retry=lambda msg: _print(f"  {msg}")
        )
    except FetchError as exc:
        raise _error(exc.message, exc.exit_code) from None
    frame = result.frame
    span = f"{frame.index.min().date()} .. {frame.index.max().date()}" if len(frame) else "empty"
    since_text = "full history" if result.since is None else f"from {result.since.date()}"
    _print(
        f"glassnode sopr, sth_sopr: fetched {result.fetched_rows} days ({since_text}), "
        f"{result.rows} stored, {span}; publication lag 1 day"
    )
    _print(f"wrote {cache.path(result.key)}")


def parse_mapping(values: list[str] | None) -> dict[str, str]:
    """``["SOPR=sopr", "STH-SOPR=sth_sopr"]`` -> mapping; exit 2 naming a bad ``--map`` value."""
    mapping: dict[str, str] = {}
    for raw in values or []:
        vendor, sep, target = raw.rpartition("=")
        if not sep or not vendor.strip() or not target.strip():
            raise _error(f"--map: '{raw}' is not VENDOR_COLUMN=costbt_column", 2)
        if vendor.strip() in mapping:
            raise _error(f"--map: vendor column '{vendor.strip()}' is mapped twice", 2)
        mapping[vendor.strip()] = target.strip()
    if not mapping:
        raise _error("--map: give at least one VENDOR_COLUMN=costbt_column", 2)
    return mapping


def import_file(
    file: Annotated[Path, typer.Option("--file", help="The vendor's CSV or JSON export.")],
    date_column: Annotated[str, typer.Option("--date-column", help="The file's date column.")],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="VENDOR_COLUMN=costbt_column, repeatable (e.g. --map SOPR=sopr "
            "--map STH-SOPR=sth_sopr).",
            show_default=False,
        ),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(
            "--date-format",
            help="strptime format of the dates (default: ISO 8601 or unix s/ms, detected).",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[str, typer.Option("--kind", help="What the series is.")] = "sopr",
    source: Annotated[
        str, typer.Option("--source", help="Vendor name, used in the cache key.")
    ] = "vendor",
    merge: Annotated[
        bool,
        typer.Option("--merge", help="Add and update the file's days in a series already cached."),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace a series already cached by the file's rows."),
    ] = False,
    cache_dir: WritableCacheDir = None,
) -> None:
    """Import a vendor's daily CSV/JSON export into the cache through a column mapping."""
    from costbt.data.cache import Cache
    from costbt.data.errors import DataError
    from costbt.data.sources import vendor_import

    if not file.is_file():
        raise _error(f"--file: '{file}' is not a file", 2)
    if merge and replace:
        raise _error("--merge and --replace exclude each other: give one", 2)
    try:
        vendor_import.validate_kind(kind)
    except DataError as exc:
        raise _error(f"--kind: {exc.message}", 2) from None
    cols = parse_mapping(mapping)
    try:
        vendor_import.validate_mapping(cols, date_column, kind)
    except DataError as exc:
        raise _error(f"--map: {exc.message}", 2) from None
    try:
        vendor_import.validate_source(source)
    except DataError:
        raise _error(
            f"--source: '{source}' must be 1-40 lower-case letters, digits, '-' or '_'", 2
        ) from None
    try:
        result = vendor_import.import_vendor_file(
            file,
            cols,
            date_column,
            date_format,
            kind,
            source,
            cache=Cache(cache_dir),
            on_existing="merge" if merge else "replace" if replace else "refuse",
        )
    except DataError as exc:
        about_file = exc.path is not None and exc.path == file
        raise _error(f"--file: {exc.message}" if about_file else exc.message, 2) from None
    frame = result.frame
    _print(
        f"imported {file.name}: {result.rows} days, {frame.index.min().date()} .. "
        f"{frame.index.max().date()}, columns {', '.join(frame.columns)}"
    )
    _print(f"wrote {Cache(cache_dir).path(result.key)}")


def register(data_app: typer.Typer) -> None:
    """Add ``sopr`` and ``import`` to ``costbt data``."""
    from costbt.backtest.cli.console import reports_bad_input

    data_app.command("sopr")(reports_bad_input(sopr))
    data_app.command("import")(reports_bad_input(import_file))
