"""The report's plotly charts: price against production cost, equity curves, drawdowns.

Each function returns a ``plotly.graph_objects.Figure``; `figure_div` turns one into an HTML
``<div>`` plus its drawing script, without the plotly.js bundle (the page inlines the bundle once,
see `plotly_js`). Traces are SVG ``Scatter`` (never WebGL ``Scattergl``), so the charts draw in any
browser, headless ones included. Names shown in charts are HTML-escaped: plotly renders a subset
of HTML in trace names and titles.
"""

from __future__ import annotations

import html

import pandas as pd

# Stable element ids: the report's links and the tests find charts by them.
PRICE_COST_ID = "chart-price-cost"
EQUITY_ID = "chart-equity"
DRAWDOWN_ID = "chart-drawdown"

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
STRATEGY_COLOUR = "#1f4e9c"
PRICE_COLOUR = "#444444"
COST_COLOUR = "#c25400"
BAND_FILL = "rgba(230, 126, 34, 0.18)"
ENTRY_COLOUR = "#1a9641"
EXIT_COLOUR = "#d7191c"
BENCHMARK_COLOURS = ("#7f7f7f", "#9467bd", "#17becf", "#bcbd22", "#8c564b")


def _scale_buttons(default: str) -> list[dict]:
    """A log/linear switch for the y axis, the default first."""
    order = ("log", "linear") if default == "log" else ("linear", "log")
    return [
        {
            "type": "buttons",
            "direction": "right",
            "x": 1.0,
            "xanchor": "right",
            "y": 1.02,
            "yanchor": "bottom",
            "pad": {"r": 0, "t": 0},
            "font": {"size": 11},
            "showactive": True,
            "buttons": [
                {"label": f"{scale} scale", "method": "relayout", "args": [{"yaxis.type": scale}]}
                for scale in order
            ],
        }
    ]


def _layout(fig, *, title: str, y_title: str, y_type: str, height: int) -> None:
    fig.update_layout(
        title={"text": html.escape(title), "x": 0.0, "xanchor": "left"},
        height=height,
        margin={"l": 70, "r": 20, "t": 90, "b": 40},
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.12},
        template="plotly_white",
        updatemenus=_scale_buttons(y_type) if y_type in ("log", "linear") else None,
    )
    if y_type == "percent":
        fig.update_yaxes(title_text=y_title, hoverformat=".2f")
    else:
        # Full labels on log axes too (20k, 30k ...): without a format plotly writes the
        # in-between ticks as bare digits ("2", "3").
        fig.update_yaxes(title_text=y_title, type=y_type, tickformat="~s", hoverformat=",.2f")


def band_outline(band: pd.DataFrame, low: str = "p10", high: str = "p90") -> tuple[list, list]:
    """x and y of one closed outline per run of days where both bounds are known.

    Runs are separated by ``None``, so a ``fill="toself"`` trace shades each run on its own and
    never bridges a stretch where the cost is unknown (``fill="tonexty"`` would).
    """
    known = band[low].notna() & band[high].notna()
    run_id = (known != known.shift()).cumsum()
    xs: list = []
    ys: list = []
    for _, run in band[known].groupby(run_id[known]):
        if xs:
            xs.append(None)
            ys.append(None)
        xs += list(run.index) + list(run.index[::-1])
        ys += list(run[high]) + list(run[low][::-1])
    return xs, ys


def fill_points(
    days: pd.DatetimeIndex,
    price: pd.Series,
    trades: pd.DataFrame | None,
    time_column: str,
    price_column: str,
) -> pd.Series:
    """Fill price on each fill day: the trades' average fill price that day, else the close.

    Days outside ``price``'s index are left out.
    """
    days = pd.DatetimeIndex(days)
    points = price.reindex(days)
    if trades is not None and {time_column, price_column} <= set(trades.columns) and len(trades):
        fills = trades[[time_column, price_column]].dropna()
        by_day = fills.groupby(pd.DatetimeIndex(fills[time_column]).normalize())[price_column]
        points = by_day.mean().reindex(days).fillna(points)
    return points[points.index.isin(price.index)].dropna()


def price_cost_figure(
    price: pd.Series,
    cost: pd.Series | None,
    cost_band: pd.DataFrame | None,
    entries: pd.DatetimeIndex,
    exits: pd.DatetimeIndex,
    trades: pd.DataFrame | None = None,
):
    """BTC close against production cost and its P10-P90 band, fills marked, log scale.

    The cost line and the band are drawn when given (the band only where both bounds are
    known); entries are triangles up and exits triangles down on the fill day, at the fill price
    from ``trades`` when it has one, else at that day's close.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    band_ok = cost_band is not None and {"p10", "p90"} <= set(cost_band.columns)
    if band_ok:
        band = cost_band.reindex(price.index)
        xs, ys = band_outline(band)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name="cost P10-P90 band",
                mode="lines",
                line={"width": 0},
                fill="toself",
                fillcolor=BAND_FILL,
                hoverinfo="skip",
                legendgroup="band",
            )
        )
        for bound in ("p10", "p90"):
            fig.add_trace(
                go.Scatter(
                    x=band.index,
                    y=band[bound],
                    name=f"cost {bound.upper()}",
                    mode="lines",
                    line={"width": 0.6, "color": COST_COLOUR},
                    legendgroup="band",
                    showlegend=False,
                )
            )
    if cost is not None:
        on_price_days = cost.reindex(price.index)
        fig.add_trace(
            go.Scatter(
                x=on_price_days.index,
                y=on_price_days,
                name="production cost",
                mode="lines",
                line={"width": 1.5, "color": COST_COLOUR, "dash": "dash"},
            )
        )
    elif band_ok and "p50" in cost_band.columns:
        fig.add_trace(
            go.Scatter(
                x=band.index,
                y=band["p50"],
                name="cost P50",
                mode="lines",
                line={"width": 1.5, "color": COST_COLOUR, "dash": "dash"},
            )
        )
    fig.add_trace(
        go.Scatter(
            x=price.index,
            y=price,
            name="BTC close",
            mode="lines",
            line={"width": 1.2, "color": PRICE_COLOUR},
        )
    )
    for days, column, name, symbol, colour in (
        (entries, "entry", "entry (fill)", "triangle-up", ENTRY_COLOUR),
        (exits, "exit", "exit (fill)", "triangle-down", EXIT_COLOUR),
    ):
        at = fill_points(days, price, trades, f"{column}_time", f"{column}_price")
        fig.add_trace(
            go.Scatter(
                x=at.index,
                y=at,
                name=f"{name}: {len(at)}",
                mode="markers",
                marker={"symbol": symbol, "size": 11, "color": colour, "line": {"width": 0.5}},
            )
        )
    title = "BTC price against production cost" if cost is not None or band_ok else "BTC price"
    _layout(fig, title=title, y_title="USD per BTC", y_type="log", height=520)
    return fig


def _series_with_benchmarks(
    strategy: pd.Series, strategy_name: str, benchmarks: dict[str, pd.Series]
) -> list[tuple[str, pd.Series, str, bool]]:
    rows = [(strategy_name, strategy, STRATEGY_COLOUR, True)]
    for i, (name, series) in enumerate(benchmarks.items()):
        rows.append((name, series, BENCHMARK_COLOURS[i % len(BENCHMARK_COLOURS)], False))
    return rows


def equity_figure(equity: pd.Series, strategy_name: str, benchmark_equity: dict[str, pd.Series]):
    """Portfolio value of the strategy and each benchmark (USD), log/linear switch."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, series, colour, main in _series_with_benchmarks(
        equity, strategy_name, benchmark_equity
    ):
        fig.add_trace(
            go.Scatter(
                x=series.index,
                y=series,
                name=html.escape(str(name)),
                mode="lines",
                line={"width": 2.0 if main else 1.2, "color": colour},
            )
        )
    _layout(fig, title="Equity: strategy and benchmarks", y_title="USD", y_type="log", height=460)
    return fig


def drawdown(equity: pd.Series) -> pd.Series:
    """Fall from the running peak, in percent (0 at a new high, -50 at half the peak)."""
    values = equity.astype(float)
    return (values / values.cummax() - 1.0) * 100.0


def drawdown_figure(equity: pd.Series, strategy_name: str, benchmark_equity: dict[str, pd.Series]):
    """Drawdown (percent below the running peak) of the strategy and each benchmark."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, series, colour, main in _series_with_benchmarks(
        equity, strategy_name, benchmark_equity
    ):
        fig.add_trace(
            go.Scatter(
                x=series.index,
                y=drawdown(series),
                name=html.escape(str(name)),
                mode="lines",
                line={"width": 1.5 if main else 1.0, "color": colour},
                fill="tozeroy" if main else None,
            )
        )
    _layout(fig, title="Drawdown", y_title="% below peak", y_type="percent", height=360)
    return fig


def plotly_js() -> str:
    """The plotly.js bundle that ships with the installed plotly (inlined once per report)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def figure_div(fig, div_id: str) -> str:
    """``fig`` as a ``<div id=div_id>`` and its drawing script; expects plotly.js on the page."""
    import plotly.io as pio

    return pio.to_html(
        fig,
        config=PLOTLY_CONFIG,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        div_id=div_id,
        default_width="100%",
        default_height=f"{fig.layout.height}px",
    )
