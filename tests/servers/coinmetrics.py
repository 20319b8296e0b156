"""A local Coin Metrics API v4 (``timeseries/asset-metrics``) serving the bundled real chain data.

Implemented (https://docs.coinmetrics.io/api/v4): ``GET /v4/timeseries/asset-metrics`` with
``assets`` (``btc`` only), ``metrics`` (comma-separated), ``frequency`` (``1d`` only),
``start_time`` / ``end_time`` (ISO 8601 dates or times, inclusive unless ``start_inclusive`` /
``end_inclusive`` is ``false``), ``page_size`` (default 100, 1..10,000), ``paging_from``
(``start`` or ``end``; default ``end``, whose first page holds the latest rows), ``next_page_token``,
``pretty`` and ``api_key``. Unknown parameters answer 400, as Coin Metrics does ("requests fail on
unknown parameters"). Errors use Coin Metrics' envelope ``{"error": {"type", "message"}}``.

Answer: ``{"data": [{"asset": "btc", "time": "YYYY-MM-DDT00:00:00.000000000Z", "<Metric>":
"<decimal string>" | null, ...}], "next_page_token": ..., "next_page_url": ...}`` (the two page
fields only while more rows remain; the URL echoes the query, ``api_key`` included, as the real
API's does). A day on which none of the requested metrics has a value is omitted.

Metrics served, REAL data from the bundled ``chain_1d.csv`` (`data.bundle.load_chain`):
``HashRate`` (TH/s; the bundle's hashrate matches Coin Metrics' HashRate to about 9 significant
digits, data/raw SOURCES.md) and ``DiffMean`` (the bundle's difficulty, Coin Metrics-derived).
Values are written with ``repr(float)``, so they parse back exactly. Other metrics answer 400.

``api_key``: when the server is built with ``api_key=...`` every request must carry that key, else
401 (``unauthorized``). ``received_keys`` lists the keys seen, for tests.
"""

from __future__ import annotations

import base64
import functools
import json
import urllib.parse

import pandas as pd

from costbt.data import bundle
from tests.servers.base import FaultPlan, LocalServer, Response

PATH = "/v4/timeseries/asset-metrics"
MAX_PAGE_SIZE = 10_000
DEFAULT_PAGE_SIZE = 100
ALLOWED_PARAMS = {
    "assets",
    "metrics",
    "frequency",
    "start_time",
    "end_time",
    "start_inclusive",
    "end_inclusive",
    "page_size",
    "paging_from",
    "next_page_token",
    "pretty",
    "api_key",
}


@functools.lru_cache(maxsize=1)
def real_metrics() -> pd.DataFrame:
    """HashRate and DiffMean per UTC day from the bundled chain file (NaN = no data)."""
    chain = bundle.load_chain()
    return pd.DataFrame(
        {"HashRate": chain["hashrate_ths"], "DiffMean": chain["difficulty"]}
    ).astype("float64")


def _error(status: int, kind: str, message: str) -> Response:
    return Response.json({"error": {"type": kind, "message": message}}, status=status)


def _time(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + ".000000000Z"


def _token(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index}).encode()).decode().rstrip("=")


def _untoken(token: str) -> int:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    index = json.loads(raw)["i"]
    if not isinstance(index, int):
        raise ValueError(token)
    return index


def _bound(text: str) -> pd.Timestamp:
    ts = pd.Timestamp(text)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


class CoinMetricsServer(LocalServer):
    """``GET /v4/timeseries/asset-metrics`` over the bundled real HashRate and DiffMean."""

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__()
        self.metrics: pd.DataFrame = real_metrics().copy()
        self.api_key = api_key
        self.received_keys: list[str] = []
        self.reset(api_key)

    def reset(self, api_key: str | None = None) -> None:
        """Forget requests, keys seen and queued faults; restore the data; set the required key."""
        self.faults = FaultPlan()
        with self._lock:
            self.log.clear()
        self.metrics = real_metrics().copy()
        self.api_key = api_key
        self.received_keys = []

    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        if path != PATH:
            return _error(404, "not_found", f"Requested resource {path} is not found.")
        if "api_key" in query:
            self.received_keys.append(query["api_key"])
        if self.api_key is not None and query.get("api_key") != self.api_key:
            return _error(401, "unauthorized", "Requested resource requires authorization.")
        unknown = sorted(set(query) - ALLOWED_PARAMS)
        if unknown:
            return _error(400, "bad_parameter", f"Unsupported parameter '{unknown[0]}'.")
        if query.get("assets") != "btc":
            return _error(
                400, "bad_parameter", f"Bad parameter 'assets'. Value '{query.get('assets')}'."
            )
        names = [m for m in query.get("metrics", "").split(",") if m]
        if not names:
            return _error(400, "bad_parameter", "Missing parameter 'metrics'.")
        for m in names:
            if m not in self.metrics.columns:
                return _error(
                    400,
                    "bad_parameter",
                    f"Bad parameter 'metrics'. Metric '{m}' is not supported for 'btc'.",
                )
        if query.get("frequency", "1d") != "1d":
            return _error(400, "bad_parameter", "Bad parameter 'frequency'.")
        try:
            page_size = int(query.get("page_size", DEFAULT_PAGE_SIZE))
        except ValueError:
            return _error(400, "bad_parameter", "Bad parameter 'page_size'.")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            return _error(400, "bad_parameter", "Bad parameter 'page_size'. Must be 1..10000.")
        paging_from = query.get("paging_from", "end")
        if paging_from not in ("start", "end"):
            return _error(400, "bad_parameter", "Bad parameter 'paging_from'.")

        frame = self.metrics[names].dropna(how="all")
        try:
            if "start_time" in query:
                lo = _bound(query["start_time"])
                inclusive = query.get("start_inclusive", "true") != "false"
                frame = frame[frame.index >= lo] if inclusive else frame[frame.index > lo]
            if "end_time" in query:
                hi = _bound(query["end_time"])
                inclusive = query.get("end_inclusive", "true") != "false"
                frame = frame[frame.index <= hi] if inclusive else frame[frame.index < hi]
        except ValueError:
            return _error(400, "bad_parameter", "Bad parameter 'start_time' or 'end_time'.")

        n = len(frame)
        try:
            pos = _untoken(query["next_page_token"]) if "next_page_token" in query else None
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            return _error(400, "bad_parameter", "Bad parameter 'next_page_token'.")
        if paging_from == "start":
            lo_i = 0 if pos is None else pos
            hi_i = min(n, lo_i + page_size)
            nxt = hi_i if hi_i < n else None
        else:
            hi_i = n if pos is None else pos
            lo_i = max(0, hi_i - page_size)
            nxt = lo_i if lo_i > 0 else None
        page = frame.iloc[lo_i:hi_i]
        rows = []
        for ts, vals in zip(page.index, page.to_numpy(), strict=True):
            row: dict[str, object] = {"asset": "btc", "time": _time(ts)}
            for name, v in zip(names, vals, strict=True):
                row[name] = None if pd.isna(v) else repr(float(v))
            rows.append(row)
        payload: dict[str, object] = {"data": rows}
        if nxt is not None:
            token = _token(nxt)
            payload["next_page_token"] = token
            next_query = {**query, "next_page_token": token}
            payload["next_page_url"] = f"{self.url}{PATH}?{urllib.parse.urlencode(next_query)}"
        return Response.json(payload)

    def truncate(self, payload: object, rows: int) -> object:
        """A short page: only the first ``rows`` rows (the page fields are kept)."""
        if isinstance(payload, dict) and isinstance(payload.get("data"), list):
            return {**payload, "data": payload["data"][:rows]}
        return payload
