"""``costbt data fetch`` and ``costbt data update``: exchange candles and funding through ccxt."""

from __future__ import annotations

from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import (
    Now,
    Quiet,
    Strict,
    WritableCacheDir,
    checked_api_url,
    fail_fetch,
    parse_instant,
)
from costbt.backtest.cli.console import err, fail, out, reports_bad_input

ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="Send the exchange's REST requests to this base URL (a mirror or a local replay server); "
        "default: the exchange's own, or $COSTBT_EXCHANGE_URL.",
        show_default=False,
        callback=checked_api_url,
    ),
]


def _summary(results) -> None:
    from rich.table import Table

    t = Table(title="Cached series", title_justify="left")
    for col in ("series", "rows", "new", "first", "last", "requests", "gaps"):
        t.add_column(col, no_wrap=True)
    for r in results:
        gaps = ", ".join(f"{g.missing} after {g.after}" for g in r.gaps[:3]) or "none"
        if len(r.gaps) > 3:
            gaps += f" (+{len(r.gaps) - 3} more)"
        t.add_row(
            r.key.filename,
            str(r.rows),
            str(r.new_rows),
            str(r.first),
            str(r.last),
            str(r.requests),
            gaps,
        )
    out.print(t)


def _run(jobs, *, cache_dir, api_url, quiet, strict, now_ms) -> None:
    """Sync each (exchange_id, SyncRequest); stop at the first failure with one clear line."""
    from costbt.backtest.cli.progress import ConsoleProgress
    from costbt.data.cache import Cache
    from costbt.data.sources.exchange import ExchangeConfig, make_exchange
    from costbt.data.sources.ohlcv import sync
    from costbt.data.sources.retry import FetchError

    cache = Cache(cache_dir)
    exchanges = {}
    results = []
    progress = ConsoleProgress(err if quiet else out, quiet=quiet)
    try:
        for exchange_id, request in jobs:
            if exchange_id not in exchanges:
                exchanges[exchange_id] = make_exchange(ExchangeConfig(exchange_id, api_url=api_url))
            results.append(
                sync(exchanges[exchange_id], cache, request, now_ms=now_ms, progress=progress)
            )
    except FetchError as exc:
        progress.finish()
        if results:
            _summary(results)
        raise fail_fetch(exc) from None
    except KeyboardInterrupt:
        progress.finish()
        raise fail(
            "interrupted: rows already written are kept; rerun to resume", code=130
        ) from None
    _summary(results)
    gappy = [r for r in results if r.gaps]
    if strict and gappy:
        g = gappy[0].gaps[0]
        raise fail(
            f"--strict: {gappy[0].key.filename} has {len(gappy[0].gaps)} gap(s), first {g.missing} missing after {g.after}",
            code=1,
        )


def register(data_app: typer.Typer) -> None:
    @data_app.command("fetch")
    @reports_bad_input
    def fetch(
        exchange: Annotated[
            str, typer.Option("--exchange", help="ccxt exchange id (binance, deribit, okx, ...).")
        ] = "binance",
        symbol: Annotated[
            str,
            typer.Option(
                "--symbol",
                help="Unified symbol: BTC/USDT (spot), BTC/USDT:USDT (USDT-M perpetual).",
            ),
        ] = "BTC/USDT",
        timeframe: Annotated[
            str, typer.Option("--timeframe", help="Candle length (1d, 4h, ...).")
        ] = "1d",
        since: Annotated[
            str | None,
            typer.Option(
                "--since",
                help="First candle (UTC date); earlier than the cache extends it backwards.",
            ),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(
                "--until", help="Last candle's open time (UTC date, inclusive); default: now."
            ),
        ] = None,
        funding: Annotated[
            bool,
            typer.Option(
                "--funding",
                help="Fetch the funding-rate history of a perpetual instead of candles.",
            ),
        ] = False,
        cache_dir: WritableCacheDir = None,
        api_url: ApiUrl = None,
        quiet: Quiet = False,
        strict: Strict = False,
        now: Now = None,
    ) -> None:
        """Download candles (or funding rates) into the cache, resuming from what is stored."""
        from costbt.data.sources.ohlcv import SyncRequest

        since_ms, until_ms, now_ms = (
            parse_instant("--since", since),
            parse_instant("--until", until),
            parse_instant("--now", now),
        )
        if since_ms is not None and until_ms is not None and until_ms < since_ms:
            raise fail(f"--until: {until} is before --since {since}")
        request = SyncRequest(
            symbol, "funding" if funding else "ohlcv", timeframe, since_ms, until_ms
        )
        _run(
            [(exchange, request)],
            cache_dir=cache_dir,
            api_url=api_url,
            quiet=quiet,
            strict=strict,
            now_ms=now_ms,
        )

    @data_app.command("futures")
    @reports_bad_input
    def futures(
        exchange: Annotated[
            str, typer.Option("--exchange", help="Exchange of the dated futures (deribit).")
        ] = "deribit",
        contract: Annotated[
            list[str] | None,
            typer.Option(
                "--contract",
                help="Instrument id, e.g. BTC-27DEC24 (repeatable); default: every quarterly in the window.",
            ),
        ] = None,
        since: Annotated[
            str | None, typer.Option("--since", help="First day wanted (UTC date).")
        ] = None,
        until: Annotated[
            str | None, typer.Option("--until", help="Last expiry wanted (UTC date); default: now.")
        ] = None,
        cache_dir: WritableCacheDir = None,
        api_url: ApiUrl = None,
        quiet: Quiet = False,
        strict: Strict = False,
        now: Now = None,
    ) -> None:
        """Download quarterly futures (expired ones too) by exchange instrument id, for basis history."""
        import pandas as pd

        from costbt.backtest.cli.progress import ConsoleProgress
        from costbt.data.cache import Cache
        from costbt.data.sources.dated_futures import (
            Contract,
            deribit_quarterlies,
            fetch_contract,
            parse_deribit_instrument,
        )
        from costbt.data.sources.exchange import ExchangeConfig, make_exchange
        from costbt.data.sources.retry import FetchError

        if exchange != "deribit":
            raise fail(f"--exchange: dated futures are implemented for deribit, not '{exchange}'")
        since_ms, until_ms, now_ms = (
            parse_instant("--since", since),
            parse_instant("--until", until),
            parse_instant("--now", now),
        )
        now_ts = (
            pd.Timestamp(now_ms, unit="ms")
            if now_ms is not None
            else pd.Timestamp.now(tz="UTC").tz_localize(None)
        )
        if contract:
            contracts = []
            for name in contract:
                try:
                    contracts.append(Contract("deribit", name, parse_deribit_instrument(name)))
                except ValueError as exc:
                    raise fail(f"--contract: {exc}") from None
        else:
            if since is None:
                raise fail("--since DATE is needed when no --contract is given")
            start = pd.Timestamp(since_ms, unit="ms")
            end = pd.Timestamp(until_ms, unit="ms") if until_ms is not None else now_ts
            horizon = now_ts + pd.Timedelta(days=400)
            contracts = [
                c
                for c in deribit_quarterlies(start, end)
                if start <= c.expiry <= horizon and c.expiry - pd.Timedelta(days=400) <= end
            ]
        cache = Cache(cache_dir)
        client = make_exchange(ExchangeConfig("deribit", api_url=api_url))
        progress = ConsoleProgress(err if quiet else out, quiet=quiet)
        results = []
        skipped: list[str] = []
        try:
            for c in contracts:
                try:
                    results.append(
                        fetch_contract(
                            client, cache, c, since_ms=since_ms, now_ms=now_ms, progress=progress
                        )
                    )
                except FetchError as exc:
                    if contract or exc.exit_code != 2:
                        raise
                    # The calendar is a superset: a quarterly not (yet) listed is skipped.
                    progress.finish()
                    skipped.append(c.instrument)
        except FetchError as exc:
            progress.finish()
            raise fail_fetch(exc) from None
        _summary(results)
        for name in skipped:
            err.print(
                f"skipped {name}: the exchange does not list it (not yet, or never, traded)",
                highlight=False,
            )
        gappy = [r for r in results if r.gaps]
        if strict and gappy:
            raise fail(f"--strict: {gappy[0].key.filename} has gaps", code=1)

    @data_app.command("update")
    @reports_bad_input
    def update(
        symbol: Annotated[
            list[str] | None,
            typer.Option(
                "--symbol", help="Only these symbols (default: every cached exchange series)."
            ),
        ] = None,
        prepend: Annotated[
            bool, typer.Option("--prepend", help="Also extend each series backwards to --since.")
        ] = False,
        since: Annotated[
            str | None, typer.Option("--since", help="With --prepend: how far back (UTC date).")
        ] = None,
        cache_dir: WritableCacheDir = None,
        api_url: ApiUrl = None,
        quiet: Quiet = False,
        strict: Strict = False,
        now: Now = None,
    ) -> None:
        """Fetch only what is newer than each cached series' last candle (which is refetched)."""
        from costbt.data.cache import Cache
        from costbt.data.sources.ohlcv import SyncRequest

        if prepend and since is None:
            raise fail("--prepend needs --since DATE (how far back to extend)")
        if since is not None and not prepend:
            raise fail(
                "--since is only used with --prepend (update always continues from the last stored candle)"
            )
        since_ms, now_ms = parse_instant("--since", since), parse_instant("--now", now)
        cache = Cache(cache_dir)
        entries = [e for e in cache.manifest()["files"].values() if e.get("client") == "ccxt"]
        if symbol:
            unknown = sorted(set(symbol) - {e["symbol"] for e in entries})
            if unknown:
                raise fail(
                    f"--symbol: '{unknown[0]}' is not in the cache (fetch it first with costbt data fetch)"
                )
            entries = [e for e in entries if e["symbol"] in symbol]
        if not entries:
            raise fail(
                f"nothing to update: the cache {cache.root.resolve()} has no exchange series "
                "(use costbt data fetch, or --cache-dir)"
            )
        jobs = [
            (
                e["exchange"],
                SyncRequest(
                    e["symbol"],
                    e["kind"],
                    e["timeframe"] if e["kind"] == "ohlcv" else "1d",
                    since_ms if prepend else None,
                ),
            )
            for e in sorted(entries, key=lambda e: e["file"])
        ]
        _run(jobs, cache_dir=cache_dir, api_url=api_url, quiet=quiet, strict=strict, now_ms=now_ms)
