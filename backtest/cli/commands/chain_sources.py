"""``costbt data chain``: chain statistics from blockchain.com or Coin Metrics into the cache.

    costbt data chain --provider blockchain_com [--chart hash-rate ...] [--since DATE]
    costbt data chain --provider coinmetrics [--metric HashRate ...] [--since DATE]
        [--cache-dir DIR] [--api-url URL] [--quiet]

Network and pandas-heavy modules are imported inside the command. Bad input exits 2 with one line
naming the flag; a failed download prints one line and exits with the error's code (2 for a
rejected request or key, 1 otherwise), keeping everything already written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from costbt.backtest.cli.commands.options import WritableCacheDir, checked_api_url, parse_day
from costbt.backtest.cli.console import fail, out, reports_bad_input

if TYPE_CHECKING:
    import pandas as pd

    from costbt.data.sources.blockchain_com import ChainResult

PROVIDERS = ("blockchain_com", "coinmetrics")


def _summary(result: ChainResult) -> None:
    span = "empty" if result.first is None else f"{result.first.date()}..{result.last.date()}"
    out.print(
        f"{result.key.filename}: {result.rows} rows {span} (+{result.new_rows} new, "
        f"{result.requests} requests, complete through {result.through.date()})",
        highlight=False,
        soft_wrap=True,
    )


def register(data_app: typer.Typer) -> None:
    """Add ``costbt data chain`` to ``data_app``."""

    @data_app.command("chain")
    @reports_bad_input
    def chain(
        provider: Annotated[
            str,
            typer.Option("--provider", help="blockchain_com (charts API) or coinmetrics (API v4)."),
        ],
        chart: Annotated[
            list[str] | None,
            typer.Option(
                "--chart",
                help="blockchain.com chart (repeatable): hash-rate, difficulty, miners-revenue, "
                "transaction-fees-usd. Default: all four.",
                show_default=False,
            ),
        ] = None,
        metric: Annotated[
            list[str] | None,
            typer.Option(
                "--metric",
                help="Coin Metrics metric id (repeatable or comma-separated), e.g. HashRate, "
                "BlkCnt, IssTotNtv, SplyCur, PriceUSD, CapMrktCurUSD. Default: HashRate.",
                show_default=False,
            ),
        ] = None,
        since: Annotated[
            str | None,
            typer.Option(
                "--since",
                help="First UTC day to (re)fetch. Default: the last cached day (refetched), or "
                "2009-01-03 when nothing is cached.",
                show_default=False,
            ),
        ] = None,
        cache_dir: WritableCacheDir = None,
        api_url: Annotated[
            str | None,
            typer.Option(
                "--api-url",
                help="Provider base URL, e.g. a local server (default: https://api.blockchain.info "
                "or $COSTBT_BLOCKCHAIN_COM_URL; https://community-api.coinmetrics.io/v4 or "
                "$COSTBT_COINMETRICS_URL). Coin Metrics URLs include /v4.",
                show_default=False,
                callback=checked_api_url,
            ),
        ] = None,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", help="No progress output, only the summary.")
        ] = False,
        now: Annotated[
            str | None,
            typer.Option("--now", hidden=True, help="Pretend the current UTC time is this."),
        ] = None,
    ) -> None:
        """Download daily chain statistics (hash rate, difficulty, revenue, fees) into the cache.

        Incremental and resumable: starts at the last cached day, never stores the unfinished
        current UTC day, and writes after every request. Coin Metrics API key (optional):
        $COSTBT_COINMETRICS_API_KEY.
        """
        if provider not in PROVIDERS:
            raise fail(f"--provider: '{provider}' is not one of {', '.join(PROVIDERS)}")
        since_ts = parse_day("--since", since)
        now_ts = parse_day("--now", now)
        if provider == "blockchain_com":
            if metric:
                raise fail("--metric applies to --provider coinmetrics (use --chart)")
            from costbt.data.sources import blockchain_com as source

            charts = list(dict.fromkeys(chart or source.CHARTS))
            for c in charts:
                if c not in source.CHARTS:
                    raise fail(
                        f"--chart: '{c}' is not a supported chart "
                        f"(supported: {', '.join(source.CHARTS)})"
                    )
            jobs = [("blockchain_com", c) for c in charts]
        else:
            if chart:
                raise fail("--chart applies to --provider blockchain_com (use --metric)")
            from costbt.data.sources import coinmetrics as source

            names = [
                m.strip() for raw in (metric or source.DEFAULT_METRICS) for m in raw.split(",")
            ]
            try:
                specs = source.resolve_metrics(n for n in names if n)
            except ValueError as exc:
                raise fail(f"--metric: {exc}") from None
            jobs = [("coinmetrics", [m.name for m in specs])]
        _run(jobs, cache_dir, api_url, quiet, since_ts, now_ts)


def _run(
    jobs: list[tuple[str, str | list[str]]],
    cache_dir: Path | None,
    api_url: str | None,
    quiet: bool,
    since: pd.Timestamp | None,
    now: pd.Timestamp | None,
) -> None:
    """Run each download, printing a summary line per series; stop at the first failure."""
    from costbt.backtest.cli.progress import ConsoleProgress
    from costbt.data.cache import Cache
    from costbt.data.sources import blockchain_com as bc
    from costbt.data.sources import coinmetrics as cm
    from costbt.data.sources.retry import FetchError

    cache = Cache(cache_dir)
    progress = ConsoleProgress(out, quiet=quiet)
    for provider, what in jobs:
        try:
            if provider == "blockchain_com":
                config = bc.ChartConfig(base_url=api_url)
                result = bc.download_chart(
                    what,
                    cache,
                    client=bc.make_client(config, progress=progress),
                    config=config,
                    since=since,
                    now=now,
                    progress=progress,
                )
            else:
                config = cm.CoinMetricsConfig(base_url=api_url)
                key = cm.api_key_from_env()
                result = cm.download_asset_metrics(
                    cache,
                    what,
                    client=cm.make_client(config, api_key=key, progress=progress),
                    config=config,
                    api_key=key,
                    since=since,
                    now=now,
                    progress=progress,
                )
        except FetchError as exc:
            progress.finish()
            message = f"{exc.message} (rows already written are kept; rerun to resume)"
            raise fail(message, code=exc.exit_code) from None
        except KeyboardInterrupt:
            progress.finish()
            raise fail(
                "interrupted: rows already written are kept; rerun to resume", code=130
            ) from None
        finally:
            progress.finish()
        _summary(result)
