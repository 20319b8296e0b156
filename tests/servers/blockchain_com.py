"""A local blockchain.com charts API serving the bundled real chain data.

Implemented (https://www.blockchain.com/explorer/api/charts_api): ``GET /charts/{chartName}``
with ``timespan`` (``<n><unit>``, unit one of minute/hour/day/week/month/year, plural allowed, or
``all``; default ``1year``), ``start`` (``YYYY-MM-DD`` or ``YYYY-MM-DDThh:mm:ss``, UTC; default:
``timespan`` before the latest point), ``format`` (``json`` only; ``csv`` answers 400 here),
``sampled`` (``true`` by default: down-sampled to at most 1,500 points; ``false``: every point).
``rollingAverage`` is not implemented and answers 400, so a client that sends it notices.

The answer is ``{"status": "ok", "name", "unit", "period": "day", "description", "values":
[{"x": <unix seconds of 00:00 UTC>, "y": <value>}]}`` for the points with
``start <= day < start + timespan``. An unknown chart answers 404.

Series served:

* ``hash-rate`` (TH/s) and ``difficulty``: REAL data, the bundled ``chain_1d.csv``
  (`data.bundle.load_chain`, Coin Metrics-derived, see data/bundled/SOURCES.md); days without a
  value are omitted, as blockchain.com omits them.
* ``miners-revenue`` and ``transaction-fees-usd``: no real series is bundled; tests pass their own
  small FORMAT FIXTURES (hand-written values in the documented format, not real data) via
  ``extra``. Without a fixture these charts answer 404.

``series`` is public and mutable: a test may change a value to simulate a revised day.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

from costbt.data import bundle
from tests.servers.base import FaultPlan, LocalServer, Response

# hash-rate's name, unit and description are blockchain.com's own (charts page and API answers);
# the other labels are descriptive only (the downloader checks the unit of hash-rate alone).
CHART_META: dict[str, dict[str, str]] = {
    "hash-rate": {
        "name": "Total Hash Rate (TH/s)",
        "unit": "Hash Rate TH/s",
        "description": "The estimated number of terahashes per second the bitcoin network is "
        "performing in the last 24 hours.",
    },
    "difficulty": {
        "name": "Network Difficulty",
        "unit": "Difficulty",
        "description": "A relative measure of how difficult it is to mine a new block for the "
        "blockchain.",
    },
    "miners-revenue": {
        "name": "Miners Revenue (USD)",
        "unit": "USD",
        "description": "Total value of coinbase block rewards and transaction fees paid to miners.",
    },
    "transaction-fees-usd": {
        "name": "Total Transaction Fees (USD)",
        "unit": "USD",
        "description": "The total BTC value of all transaction fees paid to miners (in USD).",
    },
}
SAMPLED_MAX_POINTS = 1500
_TIMESPAN = re.compile(r"^(\d+)(minute|hour|day|week|month|year)s?$")


@functools.lru_cache(maxsize=1)
def real_series() -> dict[str, pd.Series]:
    """hash-rate and difficulty per UTC day from the bundled chain file (NaN days dropped)."""
    chain = bundle.load_chain()
    return {
        "hash-rate": chain["hashrate_ths"].dropna().astype("float64"),
        "difficulty": chain["difficulty"].dropna().astype("float64"),
    }


def parse_timespan(text: str) -> pd.DateOffset | None:
    """``5years`` -> DateOffset(years=5); ``all`` -> None; ValueError otherwise."""
    if text == "all":
        return None
    m = _TIMESPAN.match(text)
    if not m or int(m.group(1)) < 1:
        raise ValueError(text)
    n, unit = int(m.group(1)), m.group(2)
    return pd.DateOffset(**{f"{unit}s": n})


class BlockchainComServer(LocalServer):
    """``GET /charts/{chart}`` over the bundled real series (and optional format fixtures)."""

    def __init__(self, extra: dict[str, pd.Series] | None = None) -> None:
        super().__init__()
        self._extra = dict(extra or {})
        self.series: dict[str, pd.Series] = {}
        self.reset()

    def reset(self) -> None:
        """Forget requests and queued faults and restore the served series (for reuse)."""
        self.faults = FaultPlan()
        with self._lock:
            self.log.clear()
        self.series = {k: v.copy() for k, v in real_series().items()}
        for name, s in self._extra.items():
            self.series[name] = s.astype("float64")

    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        if not path.startswith("/charts/"):
            return Response.json({"error": f"Not found: {path}"}, status=404)
        chart = path[len("/charts/") :]
        series = self.series.get(chart)
        if series is None or chart not in CHART_META:
            return Response.json({"error": f"Chart not found: {chart}"}, status=404)
        if query.get("format", "json").lower() != "json":
            return Response.json({"error": "only format=json is served locally"}, status=400)
        if "rollingAverage" in query:
            return Response.json({"error": "rollingAverage is not served locally"}, status=400)
        sampled = query.get("sampled", "true").lower()
        if sampled not in ("true", "false"):
            return Response.json({"error": f"Invalid sampled: {sampled}"}, status=400)
        try:
            span = parse_timespan(query.get("timespan", "1year"))
        except ValueError:
            return Response.json({"error": f"Invalid timespan: {query['timespan']}"}, status=400)
        if "start" in query:
            try:
                start = pd.Timestamp(query["start"])
            except ValueError:
                return Response.json({"error": f"Invalid start: {query['start']}"}, status=400)
            end = None if span is None else start + span
        else:
            end = series.index[-1] + pd.Timedelta(days=1) if len(series) else pd.Timestamp.now()
            start = series.index[0] if span is None else end - span
        sel = series[series.index >= start]
        if end is not None:
            sel = sel[sel.index < end]
        if sampled == "true" and len(sel) > SAMPLED_MAX_POINTS:
            step = int(np.ceil(len(sel) / SAMPLED_MAX_POINTS))
            sel = sel.iloc[::step]
        xs = (sel.index.as_unit("s").asi8).tolist()
        values = [{"x": int(x), "y": float(y)} for x, y in zip(xs, sel.to_numpy(), strict=True)]
        payload = {"status": "ok", **CHART_META[chart], "period": "day", "values": values}
        return Response.json(payload)

    def truncate(self, payload: object, rows: int) -> object:
        """A short answer: only the first ``rows`` points."""
        if isinstance(payload, dict) and isinstance(payload.get("values"), list):
            return {**payload, "values": payload["values"][:rows]}
        return payload
