"""A local Farside Investors: the "all data" ETF-flow page, rendered from the REAL bundled flows.

``GET /bitcoin-etf-flow-all-data/`` answers an HTML page in Farside's layout: a table with an
issuer row, the ticker header row (IBIT .. BTC, Total), then one row per US trading day dated
like ``11 Jan 2024``, values in US$ millions with ``(95.1)`` for outflows (in a red span, as on
the site), ``-`` for no data, thousands separators (``1,234.5``), and the footer rows Total,
Average, Maximum and Minimum. The US market holidays the source lists up to 2025-06-19 (weekdays
absent from the bundle in that span) are rendered as Farside did: every fund ``-``, Total 0.0.

`revise(day, column, value)` changes one served value (a later revision by an issuer), for the
snapshot and revision tests; `frame` is what the page currently shows.
"""

from __future__ import annotations

import functools
import html
import math
import threading

import pandas as pd

from costbt.data import bundle
from costbt.data import bundled_files as bf
from tests.servers.base import LocalServer, Response

PAGE_PATH = "/bitcoin-etf-flow-all-data/"
#: The source listed US market holidays as rows of "-" up to this day; later ones are absent.
HOLIDAY_ROWS_UNTIL = pd.Timestamp("2025-06-19")


def fmt_flow(value: float) -> str:
    """Farside's cell text: ``1,234.5``, ``(95.1)`` for -95.1, ``-`` for missing, ``0.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{abs(value):,.1f}"
    return f"({text})" if value < 0 else text


def _cell(value: float, tag: str = "td") -> str:
    text = fmt_flow(value)
    cls = "redFont" if text.startswith("(") else "tabletext"
    return f'<{tag}><span class="{cls}">{text}</span></{tag}>'


def render_page(frame: pd.DataFrame, holidays: list[pd.Timestamp] | tuple = ()) -> str:
    """Farside's page for ``frame`` (bundled column names); ``holidays`` become rows of ``-``."""
    funds = [t for t, _ in bf.ETF_FUNDS if bf.etf_column(t) in frame.columns]
    extra = [
        c.removesuffix("_usd_m").upper()
        for c in frame.columns
        if c != "total_usd_m" and c not in {bf.etf_column(t) for t in funds}
    ]
    tickers = funds + extra
    cols = [bf.etf_column(t) for t in tickers] + ["total_usd_m"]
    names = dict(bf.ETF_FUNDS)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en-GB"><head><meta charset="UTF-8">',
        "<title>Bitcoin ETF Flow &#8211; All Data &#8211; Farside Investors</title></head>",
        '<body><div class="entry-content">',
        "<p>All data in US$m. Source: Farside Investors.</p>",
        '<table class="etf"><thead>',
        "<tr><th></th>"
        + "".join(
            f'<th><span class="tabletext">{html.escape(names.get(t, t))}</span></th>'
            for t in tickers
        )
        + "<th></th></tr>",
        '<tr><th><span class="tabletext"></span></th>'
        + "".join(f'<th><span class="tabletext">{t}</span></th>' for t in tickers)
        + '<th><span class="tabletext">Total</span></th></tr>',
        "</thead><tbody>",
    ]
    body = frame[cols].copy()
    for day in holidays:
        body.loc[pd.Timestamp(day)] = [math.nan] * len(tickers) + [0.0]
    body = body.sort_index()
    for day, row in zip(body.index, body.to_numpy(float), strict=True):
        label = f"{day.day:02d} {day.strftime('%b %Y')}"
        parts.append(
            f'<tr><td><span class="tabletext">{label}</span></td>'
            + "".join(_cell(v) for v in row)
            + "</tr>"
        )
    data = frame[cols]
    for label, stat in (
        ("Total", data.sum()),
        ("Average", data.mean()),
        ("Maximum", data.max()),
        ("Minimum", data.min()),
    ):
        parts.append(
            f'<tr><td><span class="tabletext">{label}</span></td>'
            + "".join(_cell(float(v)) for v in stat.to_numpy(float))
            + "</tr>"
        )
    parts += ["</tbody></table>", "</div></body></html>"]
    return "\n".join(parts)


def bundled_holidays(frame: pd.DataFrame) -> list[pd.Timestamp]:
    """Weekdays the bundle lacks up to 2025-06-19: the holidays Farside listed as rows of ``-``."""
    days = pd.bdate_range(frame.index.min(), min(frame.index.max(), HOLIDAY_ROWS_UNTIL))
    return list(days.difference(frame.index))


@functools.cache
def _bundled_page() -> tuple[pd.DataFrame, bytes]:
    frame = bundle.load_etf_flows()
    return frame, render_page(frame, bundled_holidays(frame)).encode("utf-8")


class FarsideServer(LocalServer):
    """Serves the page for `frame` (default: the real bundled flows)."""

    def __init__(self, frame: pd.DataFrame | None = None) -> None:
        super().__init__()
        if frame is None:
            frame, self._page = _bundled_page()
        else:
            self._page = None
        self.frame = frame.copy()
        self.holidays = bundled_holidays(self.frame)

    def start(self) -> FarsideServer:
        # a short poll interval makes stop() quick (the base class polls every 0.5 s)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def revise(self, day: str, column: str, value: float) -> None:
        """Change one served value, as a late issuer report would."""
        with self._lock:
            self.frame.loc[pd.Timestamp(day), column] = value
            self._page = None

    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        if path.rstrip("/") != PAGE_PATH.rstrip("/"):
            return Response(404, b"<html><body>Not found</body></html>", content_type="text/html")
        with self._lock:
            if self._page is None:
                self._page = render_page(self.frame, self.holidays).encode("utf-8")
            page = self._page
        return Response(200, page, content_type="text/html; charset=UTF-8")
