"""Daily BTC asset metrics from the Coin Metrics API v4, into the download cache.

Source: ``GET https://community-api.coinmetrics.io/v4/timeseries/asset-metrics?assets=btc
&metrics=HashRate,...&frequency=1d&start_time=...&end_time=...&page_size=...&paging_from=start``
(https://docs.coinmetrics.io/api/v4). The answer is ``{"data": [{"asset": "btc",
"time": "2024-01-01T00:00:00.000000000Z", "HashRate": "123.4", ...}, ...], "next_page_token": ...,
"next_page_url": ...}``: numbers are quoted strings, ``null`` means "no data for this day" and a
missing metric name means "not supported"; the two page fields appear only while more rows
remain. ``start_time``/``end_time`` are inclusive; ``page_size`` is at most 10,000. A daily row's
``time`` is the start of its UTC day. Paging here sends ``next_page_token`` with the original query
(the documented cursor parameter) rather than following ``next_page_url``, so that every request
goes to the configured host and the API key is added by us, never copied from a response.

Metrics and their cached columns (named by unit; a metric not listed keeps a snake_case name, e.g.
``TxCnt`` -> ``tx_cnt``, and is recorded as unitless because its unit is not known here):

=================  ==================  ====================================================  =========
metric             column              unit and meaning                                      tier
=================  ==================  ====================================================  =========
``HashRate``       ``hashrate_ths``    TH/s; mean hash rate of the day                       community
``BlkCnt``         ``blocks``          blocks mined that day                                 community
``IssTotNtv``      ``issuance_btc``    BTC issued that day (block subsidies)                 community
``SplyCur``        ``supply_btc``      BTC in existence at the end of the day                community
``PriceUSD``       ``price_usd``       USD per BTC at the end of the day (reference rate)    community
``CapMrktCurUSD``  ``market_cap_usd``  USD; supply times price at the end of the day         community
``FeeTotNtv``      ``fees_btc``        BTC; transaction fees paid to miners that day         community
``DiffMean``       ``difficulty``      dimensionless; mean difficulty of the day's blocks    see below
=================  ==================  ====================================================  =========

``DiffMean`` is not in Coin Metrics' community CSV (data/raw SOURCES.md), so whether the keyless
community API serves it is unverified here; with a key it is requested like any other metric.

Cache: ``SeriesKey("coinmetrics", "asset_metrics", "btc", "1d")``: one frame indexed by ``time``
(tz-naive UTC day, ``datetime64[ns]``), one float64 column per metric ever downloaded.

API key: optional, from ``$COSTBT_COINMETRICS_API_KEY``. Coin Metrics documents the ``api_key``
query parameter as its only authentication, so the key has to travel in the URL; every error
message is redacted (``api_key=***``) before it leaves this module, progress notes never contain
URLs, and the manifest records only whether a key was used. With a key and no explicit URL the
Pro host ``https://api.coinmetrics.io/v4`` is used (as Coin Metrics' own client does).

Incremental, resumable, unfinished-day rules: as in `data.sources.blockchain_com`. The download
starts at the last stored day of the requested metrics (refetched; the earliest of their last
days, or 2009-01-03 for a metric not yet stored), asks for ``end_time`` = the last complete UTC
day, and writes the cache after every page.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError
from costbt.data.sources.blockchain_com import (
    GENESIS,
    ChainResult,
    check_cached,
    client_version,
    day,
    empty_frame,
    merge_days,
    public_url,
    utc_today,
)
from costbt.data.sources.http_client import HttpClient
from costbt.data.sources.progress import Progress, SilentProgress
from costbt.data.sources.retry import FetchError, RetryPolicy

COMMUNITY_URL = "https://community-api.coinmetrics.io/v4"
PRO_URL = "https://api.coinmetrics.io/v4"
ENV_URL = "COSTBT_COINMETRICS_URL"
ENV_API_KEY = "COSTBT_COINMETRICS_API_KEY"
ENDPOINT = "timeseries/asset-metrics"
SOURCE = "coinmetrics"
KIND = "asset_metrics"
TIMEFRAME = "1d"
MAX_PAGE_SIZE = 10_000
_METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_DECIMAL = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_ISO_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_MIN_DAY = pd.Timestamp("2008-01-01")
_MAX_DAY = pd.Timestamp("2200-01-01")


@dataclass(frozen=True)
class Metric:
    """A Coin Metrics metric and how it is stored.

    Attributes:
        name: the API's metric id (``HashRate``).
        column: the cached column, named with its unit.
        unit: our unit for the column (``unitless`` when not known).
        description: what one daily value is.
        community: True when Coin Metrics' community tier serves it, None when unverified.
    """

    name: str
    column: str
    unit: str
    description: str
    community: bool | None = True


KNOWN_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("HashRate", "hashrate_ths", "TH/s", "mean network hash rate of the day"),
        Metric("BlkCnt", "blocks", "blocks per day", "blocks mined that day"),
        Metric("IssTotNtv", "issuance_btc", "BTC per day", "new BTC issued that day (subsidies)"),
        Metric("SplyCur", "supply_btc", "BTC", "BTC in existence at the end of the day"),
        Metric("PriceUSD", "price_usd", "USD per BTC", "reference price at the end of the day"),
        Metric(
            "CapMrktCurUSD", "market_cap_usd", "USD", "supply times price at the end of the day"
        ),
        Metric(
            "FeeTotNtv",
            "fees_btc",
            "BTC per day",
            "transaction fees paid to miners that day (the panel's optional fee input)",
        ),
        Metric(
            "DiffMean",
            "difficulty",
            "dimensionless",
            "mean difficulty of the blocks mined that day",
            community=None,
        ),
    )
}
#: The metrics documented as served by the keyless community API.
COMMUNITY_METRICS = tuple(m.name for m in KNOWN_METRICS.values() if m.community)
DEFAULT_METRICS = ("HashRate",)


def snake_case(name: str) -> str:
    """``FeeTotNtv`` -> ``fee_tot_ntv``, ``CapMVRVCur`` -> ``cap_mvrv_cur``."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    s = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", s)
    return s.lower()


def metric(name: str) -> Metric:
    """The `Metric` for ``name``; unknown but well-formed names get a snake_case, unitless column.

    Raises:
        ValueError: ``name`` is not a Coin Metrics metric id (letters, digits, underscores).
    """
    if name in KNOWN_METRICS:
        return KNOWN_METRICS[name]
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise ValueError(f"'{str(name)[:60]}' is not a metric id (letters, digits and '_')")
    return Metric(name, snake_case(name), "unitless", "unknown to costbt", community=None)


def resolve_metrics(names: Iterable[str]) -> list[Metric]:
    """`Metric` objects for ``names`` (duplicates dropped, order kept); two metrics may not share
    a column. Raises ValueError naming the offending metric."""
    out: list[Metric] = []
    columns: dict[str, str] = {}
    for name in names:
        m = metric(name)
        if m.name in (o.name for o in out):
            continue
        if m.column in columns:
            raise ValueError(
                f"'{m.name}' and '{columns[m.column]}' would share column '{m.column}'"
            )
        columns[m.column] = m.name
        out.append(m)
    if not out:
        raise ValueError("no metric given")
    return out


@dataclass(frozen=True)
class CoinMetricsConfig:
    """How to download asset metrics.

    Attributes:
        base_url: API root including ``/v4``; default ``$COSTBT_COINMETRICS_URL``, else the Pro
            host with an API key, else the community host.
        page_size: rows per request (1..10,000); the cache is written after each page.
        timeout_s: per-request timeout.
        max_pages: a guard against a provider whose cursor never ends.
    """

    base_url: str | None = None
    page_size: int = MAX_PAGE_SIZE
    timeout_s: float = 30.0
    max_pages: int = 10_000

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")


def api_key_from_env() -> str | None:
    """``$COSTBT_COINMETRICS_API_KEY``, or None when unset or blank."""
    key = os.environ.get(ENV_API_KEY, "").strip()
    return key or None


def base_url(api_url: str | None = None, *, api_key: str | None = None) -> str:
    """``api_url``, else ``$COSTBT_COINMETRICS_URL``, else the Pro host (key) or community host."""
    return api_url or os.environ.get(ENV_URL) or (PRO_URL if api_key else COMMUNITY_URL)


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (raw and URL-encoded) replaced by ``***``."""
    if not secret:
        return text
    for form in {secret, urllib.parse.quote_plus(secret), urllib.parse.quote(secret, safe="")}:
        text = text.replace(form, "***")
    return text


def make_client(
    config: CoinMetricsConfig | None = None,
    *,
    api_key: str | None = None,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
) -> HttpClient:
    """An `HttpClient` for the API v4 root; retry notices (no URLs) go to ``progress.note``."""
    config = config or CoinMetricsConfig()
    return HttpClient(
        base_url(config.base_url, api_key=api_key),
        timeout_s=config.timeout_s,
        policy=policy or RetryPolicy(),
        on_retry=progress.note if progress is not None else None,
    )


def series_key(asset: str = "btc") -> SeriesKey:
    return SeriesKey(SOURCE, KIND, asset, TIMEFRAME)


# ---------------------------------------------------------------------------- parsing (pure)
def _value(raw: object) -> float:
    """A quoted decimal (or JSON number) -> float; null -> NaN; ValueError otherwise."""
    if raw is None:
        return math.nan
    if isinstance(raw, str):
        if len(raw) > 100 or not _DECIMAL.match(raw):
            raise ValueError("is not a decimal number")
        out = float(raw)
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        if isinstance(raw, int) and abs(raw) > 2**1023:
            raise ValueError("is out of range")
        out = float(raw)
    else:
        raise ValueError("is not a number")
    if not math.isfinite(out):
        raise ValueError("is not finite")
    return out


def _day(raw: object) -> pd.Timestamp:
    """``2024-01-01T00:00:00.000000000Z`` -> Timestamp('2024-01-01'); ValueError otherwise."""
    if not isinstance(raw, str) or not _ISO_TIME.match(raw):
        raise ValueError("is not an ISO 8601 time string")
    try:
        ts = pd.Timestamp(raw)
    except (ValueError, TypeError, OverflowError):
        raise ValueError("is not an ISO 8601 time") from None
    if ts is pd.NaT:
        raise ValueError("is not a time")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if not _MIN_DAY <= ts < _MAX_DAY:
        raise ValueError("is outside 2008..2200")
    if ts != ts.normalize():
        raise ValueError("is not 00:00 UTC (expected daily rows)")
    return ts.as_unit("ns")


def parse_asset_metrics(
    payload: object, metrics: Sequence[Metric | str], asset: str = "btc"
) -> tuple[pd.DataFrame, str | None]:
    """One asset-metrics page -> (frame indexed by ``time`` with one column per metric, token).

    Each row must be an object with ``time`` (00:00 UTC of the day, ISO 8601), ``asset`` equal
    to ``asset`` when present, and each requested metric as a quoted decimal, a number, null
    (NaN) or absent (NaN: not supported). Rows are sorted; for a day given twice the later row
    wins. The token is ``next_page_token`` (None on the last page). Raises `FetchError` on
    anything else, including a Coin Metrics error object.
    """
    specs = [m if isinstance(m, Metric) else metric(m) for m in metrics]
    where = "Coin Metrics asset-metrics"
    if not isinstance(payload, dict):
        raise FetchError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    if "error" in payload:
        err = payload["error"]
        msg = err.get("message") if isinstance(err, dict) else err
        raise FetchError(f"{where}: the API answered an error: {str(msg)[:200]}")
    rows = payload.get("data")
    if not isinstance(rows, list):
        raise FetchError(f"{where}: 'data' is missing or not a list")
    token = payload.get("next_page_token")
    if token is not None and (not isinstance(token, str) or not token):
        raise FetchError(f"{where}: 'next_page_token' is not a non-empty string")
    days: list[pd.Timestamp] = []
    values: list[list[float]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise FetchError(f"{where}: data[{i}] is not an object")
        if "asset" in row and row["asset"] != asset:
            raise FetchError(
                f"{where}: data[{i}].asset is {str(row['asset'])[:20]!r}, not {asset!r}"
            )
        try:
            days.append(_day(row.get("time")))
        except ValueError as exc:
            raise FetchError(
                f"{where}: data[{i}].time {exc} ({str(row.get('time'))[:40]!r})"
            ) from None
        vals = []
        for m in specs:
            try:
                vals.append(_value(row.get(m.name)))
            except ValueError as exc:
                raise FetchError(
                    f"{where}: data[{i}].{m.name} {exc} ({str(row.get(m.name))[:40]!r})"
                ) from None
        values.append(vals)
    columns = [m.column for m in specs]
    if not days:
        return empty_frame(columns), token
    index = pd.DatetimeIndex(days, name="time").as_unit("ns")
    frame = pd.DataFrame(np.asarray(values, dtype="float64"), index=index, columns=columns)
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame, token


# ---------------------------------------------------------------------------- network
def _get(client: HttpClient, params: dict[str, object], api_key: str | None) -> object:
    try:
        return client.get_json(ENDPOINT, params)
    except FetchError as exc:
        raise FetchError(redact(exc.message, api_key), exit_code=exc.exit_code) from None


def _column_metrics(entry: dict | None) -> dict[str, dict]:
    cols = (entry or {}).get("columns")
    return dict(cols) if isinstance(cols, dict) else {}


def download_asset_metrics(
    cache: Cache,
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    asset: str = "btc",
    client: HttpClient | None = None,
    config: CoinMetricsConfig | None = None,
    api_key: str | None = None,
    since: date | str | None = None,
    now: datetime | pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> ChainResult:
    """Bring ``metrics`` of ``asset`` in ``cache`` up to the last complete UTC day.

    Args:
        cache: where to store the series.
        metrics: Coin Metrics metric ids (see the module docstring for units and tiers).
        asset: Coin Metrics asset id.
        client: HTTP client (default: `make_client`); tests pass one with a fast policy.
        config: page size, timeout, base URL.
        api_key: default ``$COSTBT_COINMETRICS_API_KEY``; sent as ``api_key``, never logged.
        since: first day to (re)fetch; default: see the module docstring.
        now: the current time (default: the clock); its UTC day and later are never stored.
        progress: progress reporting.

    Raises:
        FetchError: the provider failed for good or answered malformed data (pages written
            before stay); messages never contain the key.
        DataError: the cached file is not a series of this downloader, or a cached column
            belongs to another metric.
        ValueError: a malformed metric id.
    """
    specs = resolve_metrics(metrics)
    config = config or CoinMetricsConfig()
    progress = progress or SilentProgress()
    api_key = api_key if api_key is not None else api_key_from_env()
    client = client or make_client(config, api_key=api_key, progress=progress)
    key = series_key(asset)
    path = cache.path(key)
    stored = cache.read(key)
    check_cached(stored, path, [])
    columns_meta = _column_metrics(cache.entry(key)) if stored is not None else {}
    for m in specs:
        owner = columns_meta.get(m.column, {}).get("metric")
        if owner is not None and owner != m.name:
            raise DataError(f"column '{m.column}' holds metric {owner}, not {m.name}", path=path)

    today = utc_today(now)
    through = today - pd.Timedelta(days=1)
    result = ChainResult(key=key, rows_before=0 if stored is None else len(stored), through=through)
    genesis = day(GENESIS)
    if since is not None:
        start = max(day(since), genesis)
    else:
        lasts = []
        for m in specs:
            col = None if stored is None or m.column not in stored else stored[m.column].dropna()
            lasts.append(genesis if col is None or col.empty else col.index[-1])
        start = min(lasts)

    for m in specs:
        columns_meta[m.column] = {"metric": m.name, "unit": m.unit, "description": m.description}
    meta = {
        "client": "costbt.http_client",
        "client_version": client_version(),
        "provider": "Coin Metrics API v4 timeseries/asset-metrics",
        "base_url": public_url(client.base_url),
        "api_key_used": bool(api_key),
        "asset": asset,
        "frequency": "1d",
        "columns": columns_meta,
    }
    requests_before = client.requests
    progress.start(
        f"Coin Metrics {asset} {','.join(m.name for m in specs)}",
        max(0, (through - start).days + 1),
    )
    if start <= through:
        params: dict[str, object] = {
            "assets": asset,
            "metrics": ",".join(m.name for m in specs),
            "frequency": "1d",
            "start_time": start.strftime("%Y-%m-%d"),
            "end_time": through.strftime("%Y-%m-%d"),
            "page_size": config.page_size,
            "paging_from": "start",
        }
        if api_key:
            params["api_key"] = api_key
        token: str | None = None
        seen: set[str] = set()
        position = start - pd.Timedelta(days=1)
        for _page in range(config.max_pages):
            query = dict(params)
            if token:
                query["next_page_token"] = token
            payload = _get(client, query, api_key)
            frame, token = parse_asset_metrics(payload, specs, asset)
            frame = frame[(frame.index >= start) & (frame.index <= through)]
            if not frame.empty:
                merged = merge_days(stored, frame)
                if stored is None or not merged.equals(stored):
                    done = frame.index[-1] if token else through
                    cache.write(key, merged, **meta, complete_through=str(done.date()))
                    stored = merged
                reached = max(position, frame.index[-1])
            else:
                reached = position
            progress.advance(
                (reached - position).days,
                f"{asset}: {len(frame)} rows"
                + (f" {frame.index[0].date()}..{frame.index[-1].date()}" if len(frame) else ""),
            )
            position = reached
            if not token:
                break
            if token in seen:
                raise FetchError("Coin Metrics asset-metrics: next_page_token repeats; giving up")
            seen.add(token)
        else:
            raise FetchError(f"Coin Metrics asset-metrics: more than {config.max_pages} pages")
        progress.advance(max(0, (through - position).days))
    progress.finish()

    result.requests = client.requests - requests_before
    if stored is not None and not stored.empty:
        result.rows = len(stored)
        result.first, result.last = stored.index[0], stored.index[-1]
    return result
