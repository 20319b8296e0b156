"""SOPR and STH-SOPR for BTC from the Glassnode API (v1), cached as one daily series.

Source: Glassnode metrics API, ``GET https://api.glassnode.com/v1/metrics/indicators/sopr`` (SOPR)
and ``.../v1/metrics/indicators/sopr_less_155`` (STH-SOPR: outputs younger than 155 days), with
``a=BTC&i=24h&s=<unix seconds>&u=<unix seconds>``. The answer is JSON ``[{"t": <unix seconds>,
"v": <float>}, ...]``.

Definition: SOPR = sum(v * P_spent) / sum(v * P_created) over the outputs spent that day
(dimensionless; > 1 means coins moved at a profit on average). STH-SOPR restricts the sum to
outputs younger than 155 days.

Timestamps: Glassnode stamps a daily value at 00:00 UTC of the day it describes (the start of the
interval) and publishes it after the day ends, so the value dated d is first usable on d+1:
``publication_lag_days: 1`` is recorded in the manifest.

API key: read from ``$COSTBT_GLASSNODE_API_KEY`` (else ``$GLASSNODE_API_KEY``) and sent only as
the ``X-Api-Key`` header (Glassnode also accepts an ``api_key`` query parameter; a header keeps the
key out of every URL, and so out of error messages and logs). The key is never written anywhere.

Cache: ``SeriesKey("glassnode", "sopr", "BTC", "1d")`` with columns ``sopr`` and ``sth_sopr``,
index ``date`` (tz-naive UTC days). Updates are incremental: the last stored day is fetched again
(recent values can be revised until final) together with every later day.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError
from costbt.data.sources.retry import FetchError, RetryPolicy

ENV_KEYS = ("COSTBT_GLASSNODE_API_KEY", "GLASSNODE_API_KEY")
DEFAULT_BASE_URL = "https://api.glassnode.com"
KEY = SeriesKey("glassnode", "sopr", "BTC", "1d")
#: (costbt column, Glassnode endpoint path)
METRICS: tuple[tuple[str, str], ...] = (
    ("sopr", "/v1/metrics/indicators/sopr"),
    ("sth_sopr", "/v1/metrics/indicators/sopr_less_155"),
)
UNITS = {"sopr": "dimensionless ratio", "sth_sopr": "dimensionless ratio"}
PUBLICATION_LAG_DAYS = 1
DAY_S = 86_400


@dataclass(frozen=True)
class GlassnodeConfig:
    """Request parameters (all public; the key is passed separately and never stored).

    Attributes:
        base_url: API root (``https://api.glassnode.com``; a local server in tests).
        asset: ``a`` parameter.
        interval: ``i`` parameter (``24h``: one value per UTC day).
        timeout_s: per-request timeout in seconds.
    """

    base_url: str = DEFAULT_BASE_URL
    asset: str = "BTC"
    interval: str = "24h"
    timeout_s: float = 30.0


def api_key_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(variable name, key)`` from the environment; `FetchError` (exit 2) naming the variable."""
    env = os.environ if environ is None else environ
    for name in ENV_KEYS:
        value = env.get(name, "").strip()
        if value:
            return name, value
    raise FetchError(
        f"no Glassnode API key: set the environment variable {ENV_KEYS[0]} "
        f"(or {ENV_KEYS[1]}); keys are read from the environment only",
        exit_code=2,
    )


def parse_glassnode_series(payload: object, metric: str) -> pd.Series:
    """``[{"t": unix_s, "v": float|null}, ...]`` -> float Series indexed by ``date`` (UTC day).

    Pure. ``null`` values are missing (NaN). Raises `DataError` naming the metric and the first
    offending record when the payload is not a list of such records, a ``t`` is not a whole
    number of seconds at 00:00 UTC, a ``v`` is not a finite number, or a day repeats.
    """
    if not isinstance(payload, list):
        kind = type(payload).__name__
        raise DataError(f"expected a JSON list of {{t, v}} records, got {kind}", column=metric)
    days: list[pd.Timestamp] = []
    values: list[float] = []
    for i, rec in enumerate(payload, start=1):
        where = f"record {i}"
        if not isinstance(rec, dict) or "t" not in rec or "v" not in rec:
            raise DataError("is not an object with 't' and 'v'", column=metric, where=where)
        t, v = rec["t"], rec["v"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise DataError(
                f"'t' = {t!r} is not a unix time in seconds", column=metric, where=where
            )
        if t != int(t) or int(t) % DAY_S != 0:
            raise DataError(
                f"'t' = {t!r} is not 00:00 UTC of a day (expected daily values, i=24h)",
                column=metric,
                where=where,
            )
        if not 1_230_768_000 <= t <= 4_102_444_800:  # 2009-01-01 .. 2100-01-01
            raise DataError(f"'t' = {t!r} is outside 2009..2100", column=metric, where=where)
        if v is None:
            value = math.nan
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise DataError(f"'v' = {v!r} is not a finite number", column=metric, where=where)
        else:
            value = float(v)
        days.append(pd.Timestamp(int(t), unit="s"))
        values.append(value)
    index = pd.DatetimeIndex(days, name="date").as_unit("ns")
    series = pd.Series(values, index=index, name=metric, dtype="float64")
    dup = series.index[series.index.duplicated()]
    if len(dup):
        raise DataError("day appears twice", column=metric, where=str(dup[0].date()))
    return series.sort_index()


def merge_incremental(stored: pd.DataFrame | None, fetched: pd.DataFrame) -> pd.DataFrame:
    """Every fetched row plus the stored rows on other days (fetched values win: revisions)."""
    columns = [c for c, _ in METRICS]
    if stored is None or stored.empty:
        return fetched.sort_index()[columns].astype("float64")
    keep = stored.loc[~stored.index.isin(fetched.index)]
    merged = pd.concat([keep, fetched]).sort_index()
    merged.index.name = "date"
    return merged[columns].astype("float64")


def _day(value: str | datetime | pd.Timestamp) -> pd.Timestamp:
    """A date or timestamp -> tz-naive UTC midnight of its day."""
    t = pd.Timestamp(value)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.normalize()


@dataclass(frozen=True)
class SoprResult:
    """One update: the stored frame, how many rows were fetched, requests made, manifest entry."""

    key: SeriesKey
    frame: pd.DataFrame
    fetched_rows: int
    since: pd.Timestamp | None
    requests: int
    entry: dict

    @property
    def rows(self) -> int:
        return len(self.frame)


def _unix(ts: pd.Timestamp) -> int:
    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return int((t - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))


def fetch_sopr(
    cache: Cache,
    config: GlassnodeConfig = GlassnodeConfig(),
    *,
    since: str | pd.Timestamp | None = None,
    until: str | pd.Timestamp | None = None,
    policy: RetryPolicy | None = None,
    now: datetime | Callable[[], datetime] | None = None,
    environ: Mapping[str, str] | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> SoprResult:
    """Fetch SOPR and STH-SOPR from ``since`` (default: the last stored day, refetched; nothing
    stored: full history) to ``until`` (default: ``now``), merge and store them.

    Both metrics are downloaded and validated before anything is written, so any failure
    (missing or rejected key, retries exhausted, malformed JSON) leaves the cache unchanged.
    Raises `FetchError` (exit 2 for a missing or rejected key).
    """
    from costbt.data.sources.http_client import HttpClient

    var, key = api_key_from_env(environ)
    stored = cache.read(KEY)
    start = None if since is None else _day(since)
    if start is None and stored is not None and not stored.empty:
        start = stored.index.max()
    current = pd.Timestamp(now() if callable(now) else (now or datetime.now(UTC)))
    end = pd.Timestamp(until) if until is not None else current
    client = HttpClient(
        config.base_url,
        headers={"X-Api-Key": key, "Accept": "application/json"},
        timeout_s=config.timeout_s,
        policy=policy or RetryPolicy(),
        on_retry=on_retry,
    )
    series = []
    for column, path in METRICS:
        params = {
            "a": config.asset,
            "i": config.interval,
            "s": None if start is None else _unix(start),
            "u": _unix(end),
        }
        try:
            payload = client.get_json(path, params)
        except FetchError as exc:
            if exc.status in (401, 403):
                raise FetchError(
                    f"{client.url(path, params)}: Glassnode rejected the API key from ${var} "
                    "(HTTP 401/403: missing, wrong or without access to this metric)",
                    exit_code=2,
                ) from None
            raise
        try:
            series.append(parse_glassnode_series(payload, column))
        except DataError as exc:
            raise FetchError(
                f"{client.url(path, params)}: malformed Glassnode response: {exc.message}"
            ) from None
    fetched = pd.concat(series, axis=1).astype("float64")
    fetched.index.name = "date"
    merged = merge_incremental(stored, fetched)
    entry = cache.write(
        KEY,
        merged,
        client="costbt-glassnode",
        endpoints=[p for _, p in METRICS],
        asset=config.asset,
        interval=config.interval,
        units=UNITS,
        publication_lag_days=PUBLICATION_LAG_DAYS,
        timestamps="00:00 UTC of the day described (start of the interval)",
    )
    return SoprResult(KEY, merged, len(fetched), start, client.requests, entry)
