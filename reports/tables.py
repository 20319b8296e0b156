"""The report's HTML tables: metrics, trades, parameters, provenance and the config block.

Every cell, header and caption passes through `html.escape` (quotes included): metric and
parameter names, parameter values, trade fields and config text are user-supplied or come from
files, and none of it may become markup.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from costbt.backtest.result import EXIT_CAUSES

MISSING = "n/a"

# Contract columns of `BacktestResult.trades`: header shown and how values are written.
# ``return_pct`` holds a fraction (vectorbt's trade return: 0.0524 is 5.24 %), shown as a percent.
TRADE_COLUMNS: dict[str, tuple[str, str]] = {
    "entry_time": ("entry (fill day)", "time"),
    "exit_time": ("exit (fill day)", "time"),
    "entry_price": ("entry price (USD)", "money"),
    "exit_price": ("exit price (USD)", "money"),
    "size_btc": ("size (BTC)", "btc"),
    "pnl_usd": ("PnL (USD)", "money"),
    "return_pct": ("return", "fraction"),
    "fees_usd": ("fees (USD)", "money"),
    "status": ("status", "text"),
}

# `backtest.metrics.summary` names: fractions shown as percents, counts as whole numbers.
PERCENT_METRICS = frozenset(
    {
        "total_return",
        "cagr",
        "volatility",
        "max_drawdown",
        "exposure",
        "win_rate",
        "avg_trade_return",
        "entry_share",
        "signal_coverage",
    }
)
COUNT_METRICS = frozenset(
    {"trades", "max_drawdown_days", *(f"exits_{cause}" for cause in EXIT_CAUSES)}
)
METRIC_LABELS = {
    "total_return": "total return",
    "cagr": "CAGR (365-day year)",
    "volatility": "volatility (annualised, 365)",
    "sharpe": "Sharpe (365)",
    "sortino": "Sortino (365)",
    "calmar": "Calmar",
    "max_drawdown": "max drawdown",
    "max_drawdown_days": "longest drawdown (days)",
    "exposure": "exposure (time in market)",
    "trades": "trades",
    "win_rate": "win rate",
    "profit_factor": "profit factor",
    "avg_trade_return": "average trade return",
    "avg_holding_days": "average holding (days)",
    "entry_share": "entry rule on (share of known days)",
    "signal_coverage": "signal known (share of days)",
    "market_corr": "correlation with BTC",
    "exits_signal": "exits: signal",
    "exits_take_profit": "exits: take-profit",
    "exits_stop_loss": "exits: stop-loss",
    "exits_trailing_stop": "exits: trailing stop",
    "exits_time_stop": "exits: time stop",
    "exits_end": "exits: end of span",
}


def esc(value: object) -> str:
    """``str(value)`` escaped for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def _is_missing(value: object) -> bool:
    """None, NaN, NaT or pd.NA (containers are never missing)."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def format_time(value: object) -> str:
    """A day as ``YYYY-MM-DD``; a time of day is added only when it is not midnight."""
    ts = pd.Timestamp(value)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")


def format_metric(value: object) -> str:
    """A metric value for display: thousands separators for large numbers, 3-4 decimals else."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3f}" if abs(v) >= 1 else f"{v:.4f}"
    if isinstance(value, pd.Timestamp | datetime | date):
        return format_time(value)
    if isinstance(value, pd.Timedelta):
        return f"{value.days} days" if value == pd.Timedelta(days=value.days) else str(value)
    return str(value)


def _json_default(value: object) -> object:
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def format_param(value: object) -> str:
    """A parameter value exactly as run: ``repr`` for floats, JSON for lists and dicts."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, list | tuple | dict | set | frozenset):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    if value is None:
        return "none"
    return str(value)


def _cell(text: str, kind: str) -> str:
    cls = ' class="num"' if kind in ("money", "btc", "fraction", "number") else ""
    return f"<td{cls}>{esc(text)}</td>"


def html_table(
    headers: Iterable[object], rows: Iterable[Iterable[tuple[str, str]]], *, css_class: str
) -> str:
    """A ``<table>``: ``headers`` and rows of ``(text, kind)`` cells, all escaped.

    ``kind`` ``money``/``btc``/``fraction``/``number`` right-aligns the cell.
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(_cell(t, k) for t, k in row) + "</tr>" for row in rows)
    return (
        f'<table class="{esc(css_class)}">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def format_named_metric(name: object, value: object) -> str:
    """A metric of `backtest.metrics.summary` by its unit (percent, count); others generic."""
    if _is_missing(value):
        return MISSING
    if name in PERCENT_METRICS and isinstance(value, int | float | np.number):
        return f"{float(value):.2%}"
    if name in COUNT_METRICS and isinstance(value, int | float | np.number):
        return f"{float(value):,.0f}"
    return format_metric(value)


def metrics_table(metrics: pd.DataFrame) -> str:
    """Metric names down, strategy then benchmarks across, each value by its unit."""
    if metrics is None or metrics.empty:
        return '<p class="note">No metrics were recorded for this run.</p>'
    rows = [
        [(METRIC_LABELS.get(name, str(name)), "text")]
        + [(format_named_metric(name, v), "number") for v in metrics.loc[name]]
        for name in metrics.index
    ]
    return html_table(["metric", *metrics.columns], rows, css_class="metrics")


def _trade_value(value: object, kind: str, column: str) -> str:
    if _is_missing(value):
        return "open" if column == "exit_time" else MISSING
    if kind == "time":
        return format_time(value)
    if kind == "money":
        return f"{float(value):,.2f}"
    if kind == "btc":
        return f"{float(value):.6f}"
    if kind == "fraction":
        return f"{float(value):.2%}"
    return format_metric(value)


def trades_table(trades: pd.DataFrame) -> str:
    """One row per trade: the contract columns first (with units), any others after."""
    if trades is None or trades.empty:
        return '<p class="note">No trades: the strategy never entered the market.</p>'
    columns = [c for c in TRADE_COLUMNS if c in trades.columns]
    columns += [c for c in trades.columns if c not in TRADE_COLUMNS]
    headers = ["#"] + [TRADE_COLUMNS.get(c, (str(c), ""))[0] for c in columns]
    rows = []
    for i, (_, trade) in enumerate(trades.iterrows(), start=1):
        cells = [(str(i), "number")]
        for c in columns:
            kind = TRADE_COLUMNS.get(c, ("", "text"))[1]
            cells.append((_trade_value(trade[c], kind, c), kind))
        rows.append(cells)
    return html_table(headers, rows, css_class="trades")


def trades_summary(trades: pd.DataFrame) -> str:
    """``"3 trades (2 closed, 1 open)"``, escaped."""
    if trades is None or trades.empty:
        return "0 trades"
    n = len(trades)
    if "exit_time" in trades.columns:
        open_ = int(trades["exit_time"].isna().sum())
        return esc(f"{n} trade{'s' if n != 1 else ''} ({n - open_} closed, {open_} open)")
    return esc(f"{n} trade{'s' if n != 1 else ''}")


def key_value_table(values: Mapping[object, object], *, css_class: str, value_header: str) -> str:
    """Two columns, name and value (`format_param`), every name and value escaped."""
    if not values:
        return '<p class="note">None recorded.</p>'
    rows = [[(str(k), "text"), (format_param(v), "text")] for k, v in values.items()]
    return html_table(["name", value_header], rows, css_class=css_class)


def config_block(config: Mapping) -> str:
    """The full configuration as indented JSON in a ``<pre>`` (escaped)."""
    if not config:
        return '<p class="note">No configuration was recorded for this run.</p>'
    text = json.dumps(config, indent=2, default=_json_default, ensure_ascii=False)
    return f'<pre class="config">{esc(text)}</pre>'
