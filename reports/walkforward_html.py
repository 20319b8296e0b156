"""One self-contained HTML report per walk-forward run (``costbt walkforward --report``).

`render_walkforward_report` / `write_walkforward_report` take a
`backtest.walkforward.WalkForwardResult` and the ledger's trial count. The page holds, in order:

1. the **verdict** line on the stitched out-of-sample (OOS) returns, under the table of contents;
2. **Assessment** (`backtest.overfitting.assess` on the stitched OOS returns against buy-and-hold
   on the same days): Sharpe and CAGR with 90 % bootstrap intervals, PSR and DSR against
   buy-and-hold's Sharpe and against 0, SPA p-value, MinTRL. The stitched record was not selected
   among the windows' trials, so it is deflated by N = the walk-forward configurations run on
   this data for this strategy (``walkforward_runs``) and V = the variance of their per-day OOS
   Sharpe ratios (``walkforward_sharpes`` of the earlier runs and this one; with fewer than two
   known, nothing is deflated: DSR = PSR, and the page says so). PBO when an ``evaluator`` is
   given: CSCV over the daily returns of the last window's distinct feasible trials
   (`reports.study_html.candidate_trials`) on its training span (the selection that would be
   deployed), scored by the objective. Without an evaluator the page says PBO was not computed;
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
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from costbt.backtest import degenerate, metrics, overfitting
from costbt.backtest.result import EXIT_CAUSES, exits_text
from costbt.reports import charts, tables
from costbt.reports.html import page, write_page
from costbt.reports.study_html import (
    MAX_CANDIDATES,
    STUDY_CSS,
    assessment_table,
    candidate_trials,
    candidates_text,
    chart,
    distinct_feasible_trials,
    history_points,
    history_traces,
    objective_of,
    param_text,
    provenance_section,
    thresholds_note,
    verdict_html,
)
from costbt.reports.tables import esc

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
    ("oos_entry_share", "OOS entry rule on", "entry_share"),
    ("bh_sharpe", "B&H Sharpe", "sharpe"),
    ("bh_total_return", "B&H total return", "total_return"),
)
SUMMARY_ROWS = ("sharpe", "cagr", "total_return", "max_drawdown", "exposure", "final_equity")


# --------------------------------------------------------------------------- pure helpers


DEFLATED_BY = "walk-forward configurations run on this data"


def deflated_by(n_runs: int) -> str:
    """What N counts, in words (singular for one run)."""
    return DEFLATED_BY if n_runs != 1 else "walk-forward configuration run on this data"


def runs_sharpe_variance(sharpe: float, earlier: Sequence[float]) -> float | None:
    """V for the DSR: the variance (ddof 1) of the per-day OOS Sharpe ratios of the earlier
    walk-forward runs (annual, ``earlier``) and this one (``sharpe``, annual); None under two."""
    return overfitting.annual_sharpes_variance([*earlier, sharpe])


def stitched_flag(result) -> str | None:
    """The stitched record's flag as the run's summary has it (`WalkForwardResult.summary`:
    trades, exposure and the correlation with the market), so the page's notes and its verdict
    agree; from the windows' trades and exposure alone for a result without prices."""
    summary = getattr(result, "summary", None)
    if callable(summary) and getattr(result, "close", None) is not None:
        return summary().get("oos_flag")
    return stitched_degeneracy(result)


def stitched_degeneracy(result) -> str | None:
    """`backtest.degenerate.degeneracy` of the stitched record from its windows' OOS trades and
    exposure (a window held in cash: 0 trades, 0 exposure); the correlation is left to
    `backtest.overfitting.assess`, which has the returns."""
    days = np.array([max(int(w.oos_days), 0) for w in result.windows], dtype=float)
    trades = [w.oos_metrics.get("trades") if w.params is not None else 0.0 for w in result.windows]
    exposure = [
        w.oos_metrics.get("exposure") if w.params is not None else 0.0 for w in result.windows
    ]
    trades = np.array([np.nan if v is None else float(v) for v in trades])
    exposure = np.array([np.nan if v is None else float(v) for v in exposure])
    total_trades = float(np.sum(trades)) if np.isfinite(trades).all() else float("nan")
    if days.sum() > 0 and np.isfinite(exposure).all():
        mean_exposure = float(np.sum(exposure * days) / days.sum())
    else:
        mean_exposure = float("nan")
    return degenerate.degeneracy(total_trades, mean_exposure, None)


def last_window_candidates(
    result, evaluator, cap: int = MAX_CANDIDATES
) -> tuple[pd.DataFrame | None, str]:
    """(Daily returns of the last tuned window's distinct feasible trials on its training span,
    every one up to ``cap``, above it every k-th by rank from the best; how they were chosen)."""
    tuned = [w for w in result.windows if w.params is not None]
    if not tuned:
        return None, ""
    w = tuned[-1]
    fixed = dict(result.settings.get("fixed") or {})
    every = distinct_feasible_trials(w.study)
    trials = candidate_trials(w.study, cap)
    if not trials:
        return None, ""
    span = (w.window.train_start, w.window.train_end)
    matrix = pd.concat(
        [evaluator.returns({**fixed, **t.params}, *span).rename(t.number) for t in trials], axis=1
    )
    return matrix, candidates_text(len(trials), len(every))


def assess(
    result,
    ledger_trials: int,
    evaluator=None,
    seed: int = 0,
    *,
    walkforward_runs: int = 1,
    walkforward_sharpes: Sequence[float] = (),
) -> overfitting.Assessment:
    """`backtest.overfitting.assess` of the stitched OOS returns (see the module docstring).

    ``walkforward_runs``: K, the walk-forward configurations run on this data for this strategy
    (this one included; from the ledger); ``walkforward_sharpes``: the annual OOS Sharpe ratios
    of the earlier ones. ``ledger_trials`` is not the deflation's N here (the stitched record was
    not selected among trials); the page shows it for reference.
    """
    matrix, chosen = (None, "") if evaluator is None else last_window_candidates(result, evaluator)
    returns = result.oos_returns.astype(float)
    sharpe = metrics.sharpe(returns.dropna())
    n_runs = max(int(walkforward_runs), len(walkforward_sharpes) + 1, 1)
    v = runs_sharpe_variance(sharpe, walkforward_sharpes)
    a = overfitting.assess(
        returns,
        None,
        result.benchmark_returns,
        n_runs,
        sr_variance=0.0 if v is None else v,
        sr_variance_from="the walk-forward runs' out-of-sample Sharpe ratios",
        pbo_matrix=matrix,
        objective=objective_of({"objective": result.objective}),
        degenerate=stitched_flag(result),
        searched_assumptions=overfitting.cost_assumptions(result.settings.get("include") or ()),
        deflated_by=deflated_by(n_runs),
        seed=seed,
    )
    if n_runs == 1:
        dsr_note = (
            f"N = 1 {deflated_by(1)}: the stitched record was not selected among other runs, so "
            "nothing is deflated (DSR = PSR)"
        )
    elif v is None:
        dsr_note = (
            f"N = {n_runs:,} {DEFLATED_BY}, but V is unknown (fewer than two of their "
            "out-of-sample Sharpe ratios are known): not deflated, DSR = PSR, an upper bound"
        )
    else:
        dsr_note = (
            f"N = {n_runs:,} {DEFLATED_BY}, V = {v:.3g} (variance of the per-day out-of-sample "
            f"Sharpe ratios of {len(walkforward_sharpes) + 1} of them)"
        )
    if matrix is None:
        pbo_note = (
            "not computed: CSCV needs the daily returns of the candidate configurations, and "
            "none were supplied with this walk-forward result"
        )
    else:
        pbo_note = f"last tuned window's training span, {chosen}; {a.pbo_note}"
    return replace(a, dsr_note=dsr_note, pbo_note=pbo_note)


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
    headers += ["OOS exits by cause (end: forced at the window's end)", "flag"]
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
        cells.append((exits_text(r, prefix="oos_exits_"), "text"))
        cells.append((degenerate.label(r.get("flag")), "text"))
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


def _assessment_section(a: overfitting.Assessment, result, ledger_trials: int) -> str:
    bh = "n/a" if a.benchmark_sharpe is None else f"{a.benchmark_sharpe:.2f}"
    sharpe = "n/a" if not math.isfinite(a.sharpe) else f"{a.sharpe:.2f}"
    return (
        f"<p>The stitched out-of-sample returns ({a.n_obs:,} days over {len(result.windows)} "
        "test windows, each traded with the parameters chosen on its own training span) against "
        f"buy-and-hold on the same days: Sharpe {sharpe} against {bh}. The stitched "
        f"out-of-sample record was not selected among the {result.trials:,} trials of its "
        f"windows; it is deflated by the {a.n_trials:,} {deflated_by(a.n_trials)} (the ledger counts "
        f"{int(ledger_trials):,} configurations tried for the strategy in all).</p>"
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
    return (
        out
        + "<h3>Stitched out-of-sample result</h3>"
        + summary_table(summary)
        + meaning_notes(result, summary)
    )


def meaning_notes(result, summary: dict) -> str:
    """What the out-of-sample numbers were: exits by cause, flags, the signal's days."""
    causes = ", ".join(
        f"{summary[f'exits_{c}']:,} {c.replace('_', ' ')}"
        for c in EXIT_CAUSES
        if summary.get(f"exits_{c}")
    )
    parts = [
        f"Out-of-sample exits by cause: {causes or 'none'} (end: a position still held on a test "
        "window's last day, sold at its close with fees and slippage)."
    ]
    if summary.get("never_in_windows"):
        parts.append(
            f"{summary['never_in_windows']} of {summary['windows']} window(s) never entered the "
            "market out of sample (the chosen rule did not fire there)."
        )
    if summary.get("buy_and_hold_windows"):
        parts.append(
            f"{summary['buy_and_hold_windows']} of {summary['windows']} window(s) traded like "
            "buy-and-hold out of sample: indistinguishable from it (flag column)."
        )
    if summary.get("oos_flag"):
        parts.append(
            f"The stitched record is {degenerate.label(summary['oos_flag'])} (correlation with "
            f"BTC {summary['oos_market_corr']:.3f}): it does not test the signal."
        )
    sig = getattr(result, "signal", None) or {}
    if sig.get("days_after") or sig.get("days_before"):
        parts.append(
            f"The entry rule is known {tables.format_time(sig['signal_first'])} to "
            f"{tables.format_time(sig['signal_last'])}: {sig['days_before']:,} priced day(s) "
            f"before and {sig['days_after']:,} after are in no window and no statistic."
        )
    if result.settings.get("search_assumptions"):
        parts.append(
            "Cost assumptions were searched in every window (--search-assumptions): the thesis "
            "was not held fixed."
        )
    return "".join(f'<p class="note">{esc(p)}</p>' for p in parts)


def _equity_section(result) -> str:
    r = result.oos_returns
    if len(r) < 2:
        return '<p class="note">Fewer than two out-of-sample days: nothing to draw.</p>'
    return (
        f"<p>{esc(tables.format_time(r.index[0]))} to {esc(tables.format_time(r.index[-1]))} "
        f"({len(r):,} days). Buy-and-hold buys at each test window's first bar and sells at its "
        "last close, with the same fees and slippage (backtest.benchmarks), starting at the same "
        "value; dotted lines mark where each later test window begins. Annualised over "
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
    walkforward_runs: int = 1,
    walkforward_sharpes: Sequence[float] = (),
) -> str:
    """The whole walk-forward report as one HTML document (see the module docstring).

    ``evaluator`` (`backtest.evaluator.Evaluator` on the run's panel) enables PBO; ``seed``
    seeds the bootstraps; ``walkforward_runs`` and ``walkforward_sharpes`` (the earlier runs'
    annual OOS Sharpe ratios) are the deflation's N and V (`assess`). Raises
    `reports.html.ReportError` if the page would reference anything outside itself.
    """
    a = assess(
        result,
        ledger_trials,
        evaluator,
        seed,
        walkforward_runs=walkforward_runs,
        walkforward_sharpes=walkforward_sharpes,
    )
    settings = dict(result.settings or {})
    objective = str(result.objective)
    record = {**(provenance or {}), "ledger_trials": int(ledger_trials), "trials": result.trials}
    bodies = {
        "assessment": _assessment_section(a, result, ledger_trials),
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
    walkforward_runs: int = 1,
    walkforward_sharpes: Sequence[float] = (),
) -> Path:
    """Render the walk-forward report and write it to ``path`` atomically; returns the path."""
    document = render_walkforward_report(
        result,
        ledger_trials=ledger_trials,
        provenance=provenance,
        evaluator=evaluator,
        title=title,
        walkforward_runs=walkforward_runs,
        walkforward_sharpes=walkforward_sharpes,
    )
    return write_page(document, path)


__all__ = ["HEADINGS", "render_walkforward_report", "write_walkforward_report"]
