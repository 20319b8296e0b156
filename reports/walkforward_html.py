"""One self-contained HTML report per walk-forward run (``costbt walkforward --report``).

`render_walkforward_report` / `write_walkforward_report` take a
`backtest.walkforward.WalkForwardResult` and the ledger's trial count. The page holds, in order:

1. the **verdict** line on the stitched out-of-sample (OOS) returns, under the table of contents;
2. **Assessment** (`backtest.overfitting.assess` on the stitched OOS returns against buy-and-hold
   on the same days): Sharpe and CAGR with 90 % bootstrap intervals, PSR, DSR (N = the ledger's
   count; V = the mean over windows of the variance of the per-day Sharpe ratios their trials
   recorded in sample), SPA p-value, MinTRL; and PBO when an ``evaluator`` is given: CSCV over the
   daily returns of the last window's top `reports.study_html.TOP_K` feasible trials with
   distinct parameters on its training span (the selection that would be deployed). Without an
   evaluator the result carries no candidate returns and the page says PBO was not computed;
3. **Walk-forward windows**: `WalkForwardResult.table` (train and test spans, chosen parameters,
   in-sample against OOS metrics, buy-and-hold) and the stitched summary;
4. **Out-of-sample equity**: the stitched OOS equity against buy-and-hold on the same days,
   log/linear switch, test-window starts marked;
5. **Sharpe per window**: in-sample (training span), OOS and buy-and-hold, side by side;
6. **Optimisation history per window**: small multiples, one per window's study;
7. **Provenance**: the run's provenance, the ledger count and the settings as JSON.

Self-contained and escaped like every report (`reports.html.page`); written atomically.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from backtest import metrics, overfitting
from reports import charts, tables
from reports.html import page, write_page
from reports.study_html import (
    STUDY_CSS,
    TOP_K,
    assessment_table,
    candidate_trials,
    chart,
    completed,
    history_points,
    history_traces,
    param_text,
    provenance_section,
    thresholds_note,
    trials_sharpe_variance,
    verdict_html,
)
from reports.tables import esc

SHARPE_ID = "chart-window-sharpe"
HISTORY_ID = "chart-window-history"
IS_COLOUR, OOS_COLOUR, BH_COLOUR = "#9ecae1", "#1f4e9c", "#7f7f7f"
HISTORY_COLUMNS = 3

SECTIONS = (
    ("assessment", "Assessment of the out-of-sample returns"),
    ("windows", "Walk-forward windows"),
    ("equity", "Out-of-sample equity against buy-and-hold"),
    ("sharpe", "Sharpe per window: in sample and out of sample"),
    ("history", "Optimisation history per window"),
    ("provenance", "Provenance"),
)
HEADINGS = dict(SECTIONS)

# (column of `WalkForwardResult.table`, header, metric name for the unit)
METRIC_COLUMNS = (
    ("is_sharpe", "IS Sharpe", "sharpe"),
    ("is_cagr", "IS CAGR", "cagr"),
    ("is_trades", "IS trades", "trades"),
    ("oos_sharpe", "OOS Sharpe", "sharpe"),
    ("oos_cagr", "OOS CAGR", "cagr"),
    ("oos_total_return", "OOS total return", "total_return"),
    ("oos_max_drawdown", "OOS max drawdown", "max_drawdown"),
    ("oos_exposure", "OOS exposure", "exposure"),
    ("oos_trades", "OOS trades", "trades"),
    ("bh_sharpe", "B&H Sharpe", "sharpe"),
    ("bh_total_return", "B&H total return", "total_return"),
)
SUMMARY_ROWS = ("sharpe", "cagr", "total_return", "max_drawdown", "exposure", "final_equity")


# --------------------------------------------------------------------------- pure helpers


def windows_sharpe_variance(result) -> float | None:
    """V for the DSR: the mean over windows of the variance of their trials' per-day Sharpe."""
    values = [trials_sharpe_variance(completed(w.study)) for w in result.windows]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def last_window_candidates(result, evaluator, top_k: int = TOP_K) -> pd.DataFrame | None:
    """Daily returns of the last tuned window's top feasible trials on its training span."""
    tuned = [w for w in result.windows if w.params is not None]
    if not tuned:
        return None
    w = tuned[-1]
    fixed = dict(result.settings.get("fixed") or {})
    trials = candidate_trials(w.study, top_k)
    span = (w.window.train_start, w.window.train_end)
    return pd.concat(
        [evaluator.returns({**fixed, **t.params}, *span).rename(t.number) for t in trials], axis=1
    )


def assess(result, ledger_trials: int, evaluator=None, seed: int = 0) -> overfitting.Assessment:
    """`backtest.overfitting.assess` of the stitched OOS returns (see the module docstring)."""
    matrix = None if evaluator is None else last_window_candidates(result, evaluator)
    a = overfitting.assess(
        result.oos_returns,
        None,
        result.benchmark_returns,
        ledger_trials,
        sr_variance=windows_sharpe_variance(result),
        sr_variance_from="each window's trials (in sample), averaged over windows",
        pbo_matrix=matrix,
        seed=seed,
    )
    if matrix is None:
        note = (
            "not computed: CSCV needs the daily returns of the candidate configurations, and "
            "none were supplied with this walk-forward result"
        )
        a = _with_pbo_note(a, note)
    else:
        a = _with_pbo_note(a, f"last tuned window's training span; {a.pbo_note}")
    return a


def _with_pbo_note(a: overfitting.Assessment, note: str) -> overfitting.Assessment:
    from dataclasses import replace

    return replace(a, pbo_note=note)


# --------------------------------------------------------------------------- figures


def _short(window) -> str:
    return f"{window.number}: {_span(window.test_start, window.test_end)}"


def sharpe_figure(result):
    """Grouped bars per window: in-sample, out-of-sample and buy-and-hold Sharpe."""
    import plotly.graph_objects as go

    labels = [html.escape(_short(w.window)) for w in result.windows]

    def values(getter) -> list:
        out = []
        for w in result.windows:
            v = getter(w)
            out.append(None if v is None or not math.isfinite(float(v)) else float(v))
        return out

    fig = go.Figure()
    for name, getter, colour in (
        ("in sample (training span)", lambda w: w.is_metrics.get("sharpe"), IS_COLOUR),
        ("out of sample (test span)", lambda w: w.oos_metrics.get("sharpe"), OOS_COLOUR),
        ("buy-and-hold (test span)", lambda w: w.benchmark_oos.get("sharpe"), BH_COLOUR),
    ):
        fig.add_trace(go.Bar(x=labels, y=values(getter), name=name, marker={"color": colour}))
    fig.update_layout(
        barmode="group",
        title={"text": "Sharpe (365) per window", "x": 0.0, "xanchor": "left"},
        height=420,
        margin={"l": 70, "r": 20, "t": 60, "b": 90},
        legend={"orientation": "h", "y": -0.3},
        template="plotly_white",
    )
    fig.update_xaxes(title_text="window: test span", type="category")
    fig.update_yaxes(title_text="Sharpe (365)")
    return fig


def equity_figure(result):
    """Stitched OOS equity against buy-and-hold (same start, same days), test starts marked."""
    returns = result.oos_returns.astype(float)
    start = float(result.oos_equity.iloc[0]) / (1.0 + float(returns.iloc[0]))
    bench = (start * (1.0 + result.benchmark_returns.astype(float).fillna(0.0)).cumprod()).rename(
        "buy_and_hold"
    )
    fig = charts.equity_figure(result.oos_equity, "walk-forward (OOS)", {"buy_and_hold": bench})
    for w in result.windows[1:]:
        fig.add_vline(x=w.window.test_start, line={"color": "#bbbbbb", "width": 1, "dash": "dot"})
    return fig


def history_figure(result, objective: str):
    """One small optimisation-history plot per window (shared legend)."""
    from plotly.subplots import make_subplots

    n = len(result.windows)
    cols = min(HISTORY_COLUMNS, n)
    rows = math.ceil(n / cols)
    titles = [html.escape(_short(w.window)) for w in result.windows]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.06)
    shown: set[str] = set()  # one legend entry per kind, from the first window that has it
    for i, w in enumerate(result.windows):
        for trace in history_traces(history_points(w.study), counts=False):
            has_points = any(y is not None for y in trace.y)
            trace.showlegend = has_points and trace.legendgroup not in shown
            if has_points:
                shown.add(trace.legendgroup)
            fig.add_trace(trace, row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(
        title={"text": f"{html.escape(objective)} of each trial, per window", "x": 0.0},
        height=120 + 260 * rows,
        margin={"l": 60, "r": 20, "t": 90, "b": 60},
        legend={"orientation": "h", "y": -0.08 if rows > 1 else -0.2},
        template="plotly_white",
    )
    return fig


# --------------------------------------------------------------------------- sections


def windows_table(result) -> str:
    """One row per window from `WalkForwardResult.table`, each value in its unit."""
    table = result.table()
    names = result.param_names()
    headers = ["#", "train", "test", "status", "trials", *names]
    headers += [header for _, header, _ in METRIC_COLUMNS]
    rows = []
    for r in table.to_dict("records"):
        cells = [
            (str(r["number"]), "number"),
            (_span(r["train_start"], r["train_end"]), "text"),
            (_span(r["test_start"], r["test_end"]), "text"),
            (str(r["status"]), "text"),
            (f"{int(r['trials']):,}", "number"),
        ]
        cells += [
            ("-" if r.get(n) is None or _nan(r.get(n)) else param_text(r.get(n)), "number")
            for n in names
        ]
        cells += [
            (tables.format_named_metric(unit, r.get(col)), "number")
            for col, _, unit in METRIC_COLUMNS
        ]
        rows.append(cells)
    return tables.html_table(headers, rows, css_class="top-trials")


def _span(start: object, end: object) -> str:
    return f"{tables.format_time(start)}..{tables.format_time(end)}"


def _nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def summary_table(summary: dict) -> str:
    """The stitched OOS summary against buy-and-hold (`WalkForwardResult.summary`)."""
    frame = pd.DataFrame(
        {
            "walk-forward (OOS)": {k: summary.get(f"oos_{k}") for k in SUMMARY_ROWS},
            "buy_and_hold": {k: summary.get(f"bh_{k}") for k in SUMMARY_ROWS},
        }
    )
    return tables.metrics_table(frame)


def _assessment_section(a: overfitting.Assessment, result) -> str:
    return (
        f"<p>The stitched out-of-sample returns ({a.n_obs:,} days over {len(result.windows)} "
        "test windows, each traded with the parameters chosen on its own training span) "
        "against buy-and-hold on the same days. These returns were not selected on, so "
        f"deflating them by the ledger's {a.n_trials:,} trials is conservative.</p>"
        + assessment_table(a)
        + thresholds_note()
    )


def _windows_section(result) -> str:
    summary = result.summary()
    eff = summary.get("efficiency")
    efficiency = (
        "not defined (the in-sample annual return is not positive)"
        if eff is None or not math.isfinite(eff)
        else f"{eff:.2f} (OOS CAGR / in-sample CAGR; 1 = the out-of-sample kept the pace)"
    )
    out = (
        f"<p>{len(result.windows)} window(s), {summary.get('flat_windows', 0)} without a feasible "
        f"trial (held in cash), {result.trials:,} completed trials in all. Walk-forward "
        f"efficiency: {esc(efficiency)}.</p>"
        f'<div class="trades-wrap">{windows_table(result)}</div>'
    )
    skipped = list(getattr(result, "skipped", []) or [])
    if skipped:
        items = "".join(f"<li>{esc(w.label)}: {esc(why)}</li>" for w, why in skipped)
        out += f'<p class="note">Skipped windows:</p><ul>{items}</ul>'
    return out + "<h3>Stitched out-of-sample result</h3>" + summary_table(summary)


def _equity_section(result) -> str:
    r = result.oos_returns
    if len(r) < 2:
        return '<p class="note">Fewer than two out-of-sample days: nothing to draw.</p>'
    return (
        f"<p>{esc(tables.format_time(r.index[0]))} to {esc(tables.format_time(r.index[-1]))} "
        f"({len(r):,} days). Buy-and-hold is BTC close to close on the same days, starting at "
        "the same value; dotted lines mark where each later test window begins. Annualised over "
        f"{metrics.PERIODS} days.</p>" + chart(equity_figure(result), charts.EQUITY_ID)
    )


def render_walkforward_report(
    result,
    *,
    ledger_trials: int,
    provenance: dict | None = None,
    evaluator=None,
    title: str | None = None,
    seed: int = 0,
) -> str:
    """The whole walk-forward report as one HTML document (see the module docstring).

    ``evaluator`` (`backtest.evaluator.Evaluator` on the run's panel) enables PBO; ``seed``
    seeds the bootstraps. Raises `reports.html.ReportError` if the page would reference
    anything outside itself.
    """
    a = assess(result, ledger_trials, evaluator, seed)
    settings = dict(result.settings or {})
    objective = str(result.objective)
    record = {**(provenance or {}), "ledger_trials": int(ledger_trials), "trials": result.trials}
    bodies = {
        "assessment": _assessment_section(a, result),
        "windows": _windows_section(result),
        "equity": _equity_section(result),
        "sharpe": "<p>The chosen trial's Sharpe on its training span (what the tuning saw), on "
        "the test span that followed, and buy-and-hold's on the same test days. A window held "
        "in cash has no Sharpe.</p>" + chart(sharpe_figure(result), SHARPE_ID),
        "history": "<p>Every completed trial of each window's study (infeasible ones as grey "
        "crosses) and the best feasible value so far.</p>"
        + chart(history_figure(result, objective), HISTORY_ID),
        "provenance": provenance_section(record, settings),
    }
    sections = [(sid, heading, bodies[sid]) for sid, heading in SECTIONS]
    title = title or f"costbt walkforward: {result.strategy}"
    if settings.get("by_halving"):
        mode = "halving epochs"
    else:
        kind = "anchored" if settings.get("anchored") else "rolling"
        mode = f"{kind}, train {settings.get('train')}, test {settings.get('test')}"
    subtitle = (
        f"Strategy <code>{esc(result.strategy)}</code> &middot; maximising "
        f"<code>{esc(objective)}</code> &middot; {esc(mode)} &middot; {len(result.windows)} "
        f"windows &middot; ledger {int(ledger_trials):,}"
    )
    return page(title, subtitle, sections, css=STUDY_CSS, lead=verdict_html(a))


def write_walkforward_report(
    result,
    path: str | Path,
    *,
    ledger_trials: int,
    provenance: dict | None = None,
    evaluator=None,
    title: str | None = None,
) -> Path:
    """Render the walk-forward report and write it to ``path`` atomically; returns the path."""
    document = render_walkforward_report(
        result,
        ledger_trials=ledger_trials,
        provenance=provenance,
        evaluator=evaluator,
        title=title,
    )
    return write_page(document, path)


__all__ = ["HEADINGS", "render_walkforward_report", "write_walkforward_report"]
