"""Daily chain statistics from the blockchain.com charts API, into the download cache.

Source: ``GET https://api.blockchain.info/charts/{chart}?timespan=...&start=YYYY-MM-DD
&format=json&sampled=false`` (https://www.blockchain.com/explorer/api/charts_api). The answer is
``{"status": "ok", "name": ..., "unit": ..., "period": "day", "description": ...,
"values": [{"x": <unix seconds, 00:00 UTC of the day>, "y": <number>}, ...]}``. ``timespan`` is a
duration such as ``30days``, ``1year`` or ``all``; ``sampled=false`` turns off the down-sampling to
about 1,500 points that is otherwise applied; ``rollingAverage`` (not used here) would smooth.

Charts, and the column each is stored as (one value column per cached file):

=======================  ======================  ==================================================
chart                    column                  unit and meaning
=======================  ======================  ==================================================
``hash-rate``            ``hashrate_ths``        TH/s; blockchain.com's estimate H = 2^32 * D / T
                                                 from the day's blocks (its own unit string:
                                                 "Hash Rate TH/s"; checked on every response)
``difficulty``           ``difficulty``          dimensionless; mining difficulty of the day
``miners-revenue``       ``miners_revenue_usd``  USD per day; block rewards plus fees, valued at
                                                 the day's price
``transaction-fees-usd`` ``fees_usd``            USD per day; total transaction fees
=======================  ======================  ==================================================

Cache: ``SeriesKey("blockchain_com", "chart", <chart>, "1d")``, a frame indexed by ``time``
(tz-naive UTC midnight of the day, ``datetime64[ns]``) with the one value column above.

Rules (shared with `data.sources.coinmetrics`):

* **Incremental**: with a cached series, the download starts at the last stored day (refetched,
  since it may have been stored from a provisional answer) and merges: for a day present in both,
  the newer value wins; days are unique and sorted. ``since`` forces an earlier start.
* **Unfinished days are never stored**: a day whose UTC date is ``now``'s date or later is dropped.
  ``now`` is injectable so that tests (and replays) are deterministic.
* **Bounded requests, resumable**: the API returns the whole requested span at once, so the span
  is requested ``span_days`` at a time (``start`` + ``timespan={span_days + 1}days``, clipped to
  ``span_days`` so that both an inclusive and an exclusive span end give the same rows) and the
  cache is written (atomically, `data.cache.Cache.write`) after each span. An interruption loses
  at most the span in flight; the next run resumes at the last stored day.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError
from costbt.data.sources.http_client import HttpClient
from costbt.data.sources.progress import Progress, SilentProgress
from costbt.data.sources.retry import FetchError, RetryPolicy

BASE_URL = "https://api.blockchain.info"
ENV_URL = "COSTBT_BLOCKCHAIN_COM_URL"
SOURCE = "blockchain_com"
KIND = "chart"
TIMEFRAME = "1d"
#: The genesis block's day: nothing earlier exists on any chart.
GENESIS = date(2009, 1, 3)
#: Timestamps outside this range are rejected as malformed (and cannot overflow datetime64[ns]).
_MIN_X = int(datetime(2008, 1, 1, tzinfo=UTC).timestamp())
_MAX_X = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp())
DAY_S = 86_400


@dataclass(frozen=True)
class Chart:
    """One blockchain.com chart and how it is stored.

    Attributes:
        name: the API's chart name (path segment), e.g. ``hash-rate``.
        column: the cached value column, named with its unit.
        unit: our unit for the column.
        description: what one value is.
        unit_marker: a substring the response's ``unit`` field must contain (case-insensitive),
            or None when blockchain.com's unit string is not pinned; guards against a silent
            change of unit (hash rate was once published in GH/s).
    """

    name: str
    column: str
    unit: str
    description: str
    unit_marker: str | None = None


CHARTS: dict[str, Chart] = {
    c.name: c
    for c in (
        Chart(
            "hash-rate",
            "hashrate_ths",
            "TH/s",
            "estimated network hash rate of the day, 2^32 * difficulty / mean block interval",
            unit_marker="TH/s",
        ),
        Chart("difficulty", "difficulty", "dimensionless", "mining difficulty of the day"),
        Chart(
            "miners-revenue",
            "miners_revenue_usd",
            "USD per day",
            "block rewards (subsidy plus fees) paid to miners that day, valued in USD",
        ),
        Chart(
            "transaction-fees-usd",
            "fees_usd",
            "USD per day",
            "total transaction fees paid to miners that day, valued in USD",
        ),
    )
}


@dataclass(frozen=True)
class ChartConfig:
    """How to download charts.

    Attributes:
        base_url: API root (default https://api.blockchain.info, or ``$COSTBT_BLOCKCHAIN_COM_URL``).
        span_days: days per request; an interruption loses at most one span.
        timeout_s: per-request timeout.
    """

    base_url: str | None = None
    span_days: int = 365
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if self.span_days < 1:
            raise ValueError("span_days must be at least 1")


@dataclass
class ChainResult:
    """What one download did.

    Attributes:
        key: the cached series.
        requests: HTTP requests made (retries included).
        rows_before, rows: stored rows before and after.
        first, last: first and last stored day afterwards (None when empty).
        through: the last complete UTC day the download asked for (the day before ``now``).
    """

    key: SeriesKey
    requests: int = 0
    rows_before: int = 0
    rows: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    through: pd.Timestamp | None = None

    @property
    def new_rows(self) -> int:
        return self.rows - self.rows_before


# ---------------------------------------------------------------------------- shared day helpers
def utc_today(now: datetime | pd.Timestamp | None = None) -> pd.Timestamp:
    """Midnight (tz-naive) of ``now``'s UTC date; ``now`` defaults to the current time.

    A naive ``now`` is taken to be UTC already.
    """
    ts = pd.Timestamp(datetime.now(UTC) if now is None else now)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize().as_unit("ns")


def day(value: date | str | pd.Timestamp) -> pd.Timestamp:
    """A UTC calendar day as a tz-naive midnight Timestamp (ns)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize().as_unit("ns")


def empty_frame(columns: Iterable[str]) -> pd.DataFrame:
    """A frame with no rows, a ``time`` index (datetime64[ns]) and float64 ``columns``."""
    index = pd.DatetimeIndex(np.array([], dtype="datetime64[ns]"), name="time")
    return pd.DataFrame({c: np.array([], dtype="float64") for c in columns}, index=index)


def merge_days(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Union of days; for a day in both, ``new``'s values replace ``old``'s (newer wins).

    A missing value (NaN) in ``new`` never erases a stored one; columns only in ``old`` keep their
    values; a column only in ``new`` is added (NaN elsewhere); rows with no value at all are
    dropped. The result is sorted by day, without duplicates, indexed by ``time``
    (datetime64[ns]), all columns float64.
    """
    new = new[~new.index.duplicated(keep="last")]
    base = empty_frame([]) if old is None else old[~old.index.duplicated(keep="last")]
    out = base.reindex(base.index.union(new.index))
    for c in new.columns:
        if c not in out.columns:
            out[c] = np.nan
        values = new[c].astype("float64")
        known = values.notna().to_numpy()
        out.loc[values.index[known], c] = values.to_numpy()[known]
    out = out.dropna(how="all").sort_index()
    out.index = pd.DatetimeIndex(out.index, name="time").as_unit("ns")
    return out.astype("float64")


def check_cached(frame: pd.DataFrame | None, path: object, columns: Iterable[str]) -> None:
    """Refuse a cached frame that is not one of ours (wrong index or missing value columns)."""
    if frame is None:
        return
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is not None:
        raise DataError("is not a daily series indexed by a tz-naive 'time' index", path=path)
    for c in columns:
        if c not in frame.columns:
            raise DataError(f"has no column '{c}' (not written by this downloader?)", path=path)


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment: safe to record in the manifest."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def client_version() -> str:
    """costbt's version, recorded as the client version in the manifest."""
    try:
        return importlib.metadata.version("costbt")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


# ---------------------------------------------------------------------------- parsing (pure)
def _number(value: object) -> float | None:
    """A finite JSON number as float; None for JSON null; raises ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("is not a number")
    if isinstance(value, int) and abs(value) > 2**1023:
        raise ValueError("is out of range")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError("is not finite")
    return out


def parse_chart(payload: object, chart: str) -> pd.DataFrame:
    """A charts-API JSON answer -> frame indexed by ``time`` (UTC day) with the chart's column.

    Checks ``status`` (``ok``), ``period`` (``day`` when given), the unit marker of the chart
    (e.g. ``TH/s`` for hash-rate), and every point: ``x`` whole Unix seconds in 2008..2200,
    ``y`` a finite number >= 0 or null (a missing value, skipped). Points are floored to their
    UTC day; if two fall on one day the later point wins. Raises `FetchError` on anything else.
    """
    spec = CHARTS.get(chart)
    if spec is None:
        raise FetchError(f"blockchain.com: unknown chart '{chart}'", exit_code=2)
    where = f"blockchain.com chart '{chart}'"
    if not isinstance(payload, dict):
        raise FetchError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    status = payload.get("status")
    if status != "ok":
        detail = payload.get("error") or payload.get("message") or status
        raise FetchError(f"{where}: status is not 'ok' ({str(detail)[:120]!r})")
    period = payload.get("period")
    if period is not None and period != "day":
        raise FetchError(f"{where}: period is {str(period)[:40]!r}, expected daily values ('day')")
    unit = payload.get("unit")
    marker = spec.unit_marker
    if (
        marker is not None
        and unit is not None
        and (not isinstance(unit, str) or marker.lower() not in unit.lower())
    ):
        raise FetchError(
            f"{where}: unit is {str(unit)[:60]!r}, expected {spec.unit_marker}; "
            "refusing to store values in an unexpected unit"
        )
    values = payload.get("values")
    if not isinstance(values, list):
        raise FetchError(f"{where}: 'values' is missing or not a list")
    xs: list[int] = []
    ys: list[float] = []
    for i, point in enumerate(values):
        if not isinstance(point, dict) or "x" not in point or "y" not in point:
            raise FetchError(f"{where}: values[{i}] is not an object with 'x' and 'y'")
        try:
            x = _number(point["x"])
            if x is None or x != int(x) or not _MIN_X <= x < _MAX_X:
                raise ValueError("is not a Unix time in seconds between 2008 and 2200")
        except ValueError as exc:
            raise FetchError(f"{where}: values[{i}].x {exc} ({str(point['x'])[:40]!r})") from None
        try:
            y = _number(point["y"])
        except ValueError as exc:
            raise FetchError(f"{where}: values[{i}].y {exc} ({str(point['y'])[:40]!r})") from None
        if y is None:
            continue
        if y < 0:
            raise FetchError(f"{where}: values[{i}].y is negative ({y!r})")
        xs.append(int(x) - int(x) % DAY_S)
        ys.append(y)
    if not xs:
        return empty_frame([spec.column])
    index = pd.DatetimeIndex(
        pd.to_datetime(np.asarray(xs, dtype="int64"), unit="s"), name="time"
    ).as_unit("ns")
    frame = pd.DataFrame({spec.column: np.asarray(ys, dtype="float64")}, index=index)
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame


# ---------------------------------------------------------------------------- network
def base_url(api_url: str | None = None) -> str:
    """``api_url``, else ``$COSTBT_BLOCKCHAIN_COM_URL``, else https://api.blockchain.info."""
    return api_url or os.environ.get(ENV_URL) or BASE_URL


def make_client(
    config: ChartConfig | None = None,
    *,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
) -> HttpClient:
    """An `HttpClient` for the charts API; retry notices go to ``progress.note``."""
    config = config or ChartConfig()
    return HttpClient(
        base_url(config.base_url),
        timeout_s=config.timeout_s,
        policy=policy or RetryPolicy(),
        on_retry=progress.note if progress is not None else None,
    )


def series_key(chart: str) -> SeriesKey:
    return SeriesKey(SOURCE, KIND, chart, TIMEFRAME)


def download_chart(
    chart: str,
    cache: Cache,
    *,
    client: HttpClient | None = None,
    config: ChartConfig | None = None,
    since: date | str | None = None,
    now: datetime | pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> ChainResult:
    """Bring one chart in ``cache`` up to the last complete UTC day (see the module docstring).

    Args:
        chart: one of `CHARTS`.
        cache: where to store the series.
        client: HTTP client (default: `make_client(config)`); tests pass one with a fast policy.
        since: first day to (re)fetch; default the last stored day, or 2009-01-03 when nothing is
            stored.
        now: the current time (default: the clock); its UTC day and later are never stored.
        progress: progress reporting.

    Raises:
        FetchError: the provider failed for good or answered malformed data; every span written
            before the failure stays in the cache.
        DataError: the cached file is not a series of this downloader.
    """
    spec = CHARTS.get(chart)
    if spec is None:
        raise FetchError(
            f"--chart: '{chart}' is not a supported chart (supported: {', '.join(CHARTS)})",
            exit_code=2,
        )
    config = config or ChartConfig()
    progress = progress or SilentProgress()
    client = client or make_client(config, progress=progress)
    key = series_key(chart)
    stored = cache.read(key)
    check_cached(stored, cache.path(key), [spec.column])
    today = utc_today(now)
    through = today - pd.Timedelta(days=1)
    result = ChainResult(key=key, rows_before=0 if stored is None else len(stored), through=through)

    if since is not None:
        start = max(day(since), day(GENESIS))
    elif stored is not None and not stored[spec.column].dropna().empty:
        start = stored[spec.column].dropna().index[-1]
    else:
        start = day(GENESIS)

    requests_before = client.requests
    span = pd.Timedelta(days=config.span_days)
    total = max(0, (through - start).days + 1)
    progress.start(f"blockchain.com {chart}", total)
    meta = {
        "client": "costbt.http_client",
        "client_version": client_version(),
        "provider": "blockchain.com charts API",
        "base_url": public_url(client.base_url),
        "chart": chart,
        "column": spec.column,
        "unit": spec.unit,
        "description": spec.description,
        "request": {
            "format": "json",
            "sampled": "false",
            "timespan": f"{config.span_days + 1}days",
        },
    }
    s = start
    while s <= through:
        end = min(s + span, today)  # exclusive; never the unfinished day
        params = {
            "timespan": f"{config.span_days + 1}days",
            "start": s.strftime("%Y-%m-%d"),
            "format": "json",
            "sampled": "false",
        }
        payload = client.get_json(f"/charts/{chart}", params)
        frame = parse_chart(payload, chart)
        frame = frame[(frame.index >= s) & (frame.index < end)]
        if not frame.empty:
            merged = merge_days(stored, frame)
            if stored is None or not merged.equals(stored):
                provider_unit = payload.get("unit") if isinstance(payload, dict) else None
                cache.write(
                    key,
                    merged,
                    **meta,
                    provider_unit=provider_unit if isinstance(provider_unit, str) else None,
                    complete_through=str((end - pd.Timedelta(days=1)).date()),
                )
                stored = merged
        covered = (end - s).days
        progress.advance(
            covered,
            f"{chart}: {s.date()}..{(end - pd.Timedelta(days=1)).date()} {len(frame)} rows",
        )
        s = end
    progress.finish()

    result.requests = client.requests - requests_before
    if stored is not None and not stored.empty:
        result.rows = len(stored)
        result.first, result.last = stored.index[0], stored.index[-1]
    return result
