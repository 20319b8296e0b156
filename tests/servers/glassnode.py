"""A local Glassnode API (v1 metrics) that requires an API key in the ``X-Api-Key`` header.

``GET /v1/metrics/indicators/sopr`` and ``GET /v1/metrics/indicators/sopr_less_155`` answer
Glassnode's documented format, ``[{"t": <unix seconds at 00:00 UTC>, "v": <float>}, ...]``,
honouring ``a`` (only ``BTC``), ``i`` (only ``24h``), ``s`` and ``u`` (unix seconds, inclusive).
A missing or wrong key answers HTTP 401; an unknown asset or interval HTTP 400.

THE SERVED VALUES ARE A FORMAT FIXTURE, NOT REAL DATA. The repository has no real SOPR series;
`FIXTURE_SOPR` and `FIXTURE_STH_SOPR` are hand-written numbers that only exercise the response
format. One SOPR value is the published test vector of shared/reference/models.md section 3
(1 BTC created at $60k and 3 BTC at $80k, all spent at $70k: SOPR = 280k / 300k = 0.9333...).
"""

from __future__ import annotations

import threading

import pandas as pd

from tests.servers.base import LocalServer, Response

SOPR_PATH = "/v1/metrics/indicators/sopr"
STH_SOPR_PATH = "/v1/metrics/indicators/sopr_less_155"

#: models.md section 3: sum(v * P_spent) / sum(v * P_created) = (1*70k + 3*70k) / (1*60k + 3*80k).
TEST_VECTOR_SOPR = (1 * 70_000 + 3 * 70_000) / (1 * 60_000 + 3 * 80_000)
TEST_VECTOR_DAY = "2024-03-05"

# Hand-written FORMAT FIXTURE (not market data): ten consecutive UTC days.
FIXTURE_DAYS = pd.date_range("2024-03-01", periods=10, freq="D", name="date")
FIXTURE_SOPR = [1.010, 1.020, 0.990, 0.980, TEST_VECTOR_SOPR, 1.000, 1.030, 1.040, 0.970, 1.050]
FIXTURE_STH_SOPR = [1.005, 1.015, 0.985, 0.975, 0.950, 0.995, 1.025, 1.035, 0.965, 1.045]


def fixture_frame() -> pd.DataFrame:
    """The fixture as costbt stores it: index ``date``, columns ``sopr`` and ``sth_sopr``."""
    return pd.DataFrame(
        {"sopr": FIXTURE_SOPR, "sth_sopr": FIXTURE_STH_SOPR}, index=FIXTURE_DAYS.as_unit("ns")
    )


def _unix(day: pd.Timestamp) -> int:
    return int((day - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))


class GlassnodeServer(LocalServer):
    """Serves `frame` (default: the format fixture) to requests carrying ``api_key``."""

    def __init__(self, api_key: str, frame: pd.DataFrame | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.frame = (fixture_frame() if frame is None else frame).copy()
        self.keys_seen: list[bool] = []  # whether each request carried the right key

    def start(self) -> GlassnodeServer:
        # a short poll interval makes stop() quick (the base class polls every 0.5 s)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def set_value(self, day: str, column: str, value: float) -> None:
        """Revise or add one value (a later, final figure)."""
        with self._lock:
            self.frame.loc[pd.Timestamp(day), column] = value
            self.frame = self.frame.sort_index()

    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        sent = {k.lower(): v for k, v in headers.items()}.get("x-api-key")
        ok = sent == self.api_key
        with self._lock:
            self.keys_seen.append(ok)
        if not ok:
            return Response(401, b"Unauthorized", content_type="text/plain")
        column = {SOPR_PATH: "sopr", STH_SOPR_PATH: "sth_sopr"}.get(path)
        if column is None:
            return Response(404, b"404 page not found", content_type="text/plain")
        if query.get("a", "").upper() != "BTC" or query.get("i", "24h") != "24h":
            return Response(400, b'{"error":"unsupported asset or resolution"}')
        with self._lock:
            series = self.frame[column].dropna()
        if "s" in query:
            series = series.loc[series.index >= pd.Timestamp(int(query["s"]), unit="s")]
        if "u" in query:
            series = series.loc[series.index <= pd.Timestamp(int(query["u"]), unit="s")]
        return Response.json([{"t": _unix(d), "v": float(v)} for d, v in series.items()])
