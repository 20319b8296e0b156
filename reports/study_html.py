"""One self-contained HTML report per Optuna study (``costbt tune --report``).

`render_study_report` / `write_study_report` take the study, an evaluator (anything with
`backtest.evaluator.Evaluator`'s ``returns(params, start, end)`` and a ``panel`` holding
``close_usd``), the study's settings and the ledger's trial count. The page holds, in order:

1. the **verdict** line (`backtest.overfitting.verdict`) at the top, under the table of contents;
2. **Assessment** of the best feasible trial (`backtest.overfitting.assess`) on the tuned period
   against buy-and-hold on the same days: Sharpe and CAGR with 90 % stationary-bootstrap
   intervals, PSR and DSR against buy-and-hold's Sharpe (N from the ledger, V over every
   completed trial) and against 0, PBO by CSCV scored by the study's objective and Hansen's SPA
   (returns scaled to buy-and-hold's volatility) over every distinct feasible trial (an evenly
   spread sample of the ranking above `MAX_CANDIDATES`, `candidate_trials`), MinTRL, the
   degeneracy flag (`backtest.degenerate`) and the cost assumptions the study searched;
3. **Optimisation history**: every completed trial's objective value (feasible and infeasible
   marked apart) and the best feasible value so far;
4. **Parameter importances**: fANOVA (`optuna.importance.FanovaImportanceEvaluator(seed=0)`) over
   the completed trials with a finite value; a note instead when there are fewer than two or the
   objective is constant;
5. **Top trials**: the best feasible trials with their parameters and recorded metrics;
6. **Best configuration against buy-and-hold**: equity of both on the tuned period (log/linear
   switch) and their metrics; buy-and-hold is `backtest.benchmarks` on the same days with the
   study's costs, unless ``benchmark_returns`` is given;
7. **Provenance**: study name, storage (passwords redacted), seed, ledger count, trial counts,
   costbt version, git commit, data manifest hash and the study settings as JSON.

Self-contained like every report (`reports.html.page`): plotly.js inlined once, the
Content-Security-Policy, every user string escaped, refused if `reports.offline` finds an outside
reference; written atomically (`reports.html.write_page`).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from costbt.backtest import degenerate, metrics, overfitting, tuning
from costbt.backtest.result import exits_text
from costbt.backtest.storage_urls import redact
from costbt.reports import charts, provenance, tables
from costbt.reports.html import page, write_page
from costbt.reports.tables import esc

TOP = 20  # rows of the top-trials table
#: Candidates for PBO and SPA: every feasible trial with distinct parameters up to this many,
#: above it every k-th in objective-rank order (`backtest.overfitting.sample_ranked`).
MAX_CANDIDATES = 500
INIT_CASH = 10_000.0  # equity curves start here (returns alone drive every number)
HISTORY_ID = "chart-history"
IMPORTANCE_ID = "chart-importance"
FEASIBLE_COLOUR = "#1f4e9c"
INFEASIBLE_COLOUR = "#b0b0b0"
BEST_COLOUR = "#c25400"
METRICS_SHOWN = (
    "sharpe",
    "cagr",
    "total_return",
    "max_drawdown",
    "exposure",
    "trades",
    "entry_share",
)

SECTIONS = (
    ("assessment", "Assessment"),
    ("history", "Optimisation history"),
    ("importance", "Parameter importances"),
    ("top", "Top trials"),
    ("equity", "Best configuration against buy-and-hold"),
    ("provenance", "Provenance"),
)
HEADINGS = dict(SECTIONS)

STUDY_CSS = """
table.assessment{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
table.assessment th,table.assessment td,table.top-trials th,table.top-trials td{
border-bottom:1px solid #e6e6e6;padding:4px 10px;text-align:left;vertical-align:top}
table.top-trials{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
table.assessment thead th,table.top-trials thead th{background:#f3f4f6;font-weight:600}
table.top-trials td{white-space:nowrap}
"""
#: The verdict paragraph's colours by regime (every page with a verdict uses them).
VERDICT_CSS = """
p.verdict{font-size:16px;margin:14px 0 0;padding:10px 14px;border-left:5px solid #7f7f7f;
background:#f5f5f5}
p.verdict.skill{border-color:#1a9641;background:#eef7ee}
p.verdict.inconclusive{border-color:#d08c00;background:#fdf6e6}
p.verdict.overfit,p.verdict.no_edge,p.verdict.never_in,p.verdict.buy_and_hold{
border-color:#d7191c;background:#fcecec}
"""
STUDY_CSS += VERDICT_CSS


# --------------------------------------------------------------------------- pure helpers


def is_feasible(trial) -> bool:
    """No violated Optuna constraint (a trial without constraints is feasible)."""
    return all(v <= 0 for v in trial.constraints.values())


def completed(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def history_points(study) -> pd.DataFrame:
    """Completed trials with a finite value: number, value, feasible, best_so_far.

    ``best_so_far`` is the best feasible value up to and including each trial (NaN before the
    first feasible one).
    """
    rows = [
        {"number": t.number, "value": float(t.value), "feasible": is_feasible(t)}
        for t in completed(study)
        if t.value is not None and math.isfinite(t.value)
    ]
    frame = pd.DataFrame(rows, columns=["number", "value", "feasible"]).sort_values("number")
    frame["feasible"] = frame["feasible"].astype(bool)
    frame["best_so_far"] = frame["value"].where(frame["feasible"]).cummax().ffill()
    return frame.reset_index(drop=True)


def param_importances(study) -> tuple[dict[str, float] | None, str]:
    """(fANOVA importances, seeded, summing to 1; a note) or (None, why there are none)."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    trials = [t for t in completed(study) if t.value is not None and math.isfinite(t.value)]
    if len(trials) < 2:
        return None, (
            f"Not computed: {len(trials)} completed trial(s) with a finite value; "
            "importances need at least two."
        )
    if len({t.value for t in trials}) == 1:
        return None, "Not computed: the objective is the same in every trial (nothing to explain)."
    # Only trials with a finite value: a -inf (no defined objective) would break the forest.
    finite = optuna.create_study(direction="maximize")
    finite.add_trials(trials)
    try:
        values = get_param_importances(finite, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ImportError, RuntimeError, ValueError) as exc:
        return None, f"Not computed: {type(exc).__name__}: {exc}"
    note = (
        f"fANOVA (64 trees, seed 0) over {len(trials)} completed trials with a finite value: "
        "the share of the objective's variance each parameter explains on its own."
    )
    return {k: float(v) for k, v in values.items()}, note


def distinct_feasible_trials(study) -> list:
    """Every feasible completed trial with a finite value and distinct parameters, best first."""
    seen, out = set(), []
    for t in tuning.top_trials(study, len(study.trials)):
        if t.value is None or not math.isfinite(t.value):
            continue
        key = tuple(sorted((name, repr(v)) for name, v in t.params.items()))
        if key in seen:
            continue
        seen.add(key)
        out.append(t)
    return out


def candidate_trials(study, cap: int = MAX_CANDIDATES) -> list:
    """The candidates for PBO and SPA: `distinct_feasible_trials`, all of them up to ``cap``;
    above it every k-th in objective-rank order from the best (`overfitting.sample_ranked`:
    deterministic, spread from the best to the worst, more than ``cap / 2``)."""
    trials = distinct_feasible_trials(study)
    return [trials[i] for i in overfitting.sample_ranked(len(trials), cap)]


def candidates_text(n_used: int, n_distinct: int) -> str:
    """How the candidates were chosen, in words."""
    if n_used >= n_distinct:
        return f"all {n_distinct:,} feasible trials with distinct parameters"
    step = math.ceil(n_distinct / max(n_used, 1))
    return (
        f"{n_used:,} of the {n_distinct:,} feasible trials with distinct parameters (one in "
        f"every {step} by rank of the objective, from the best)"
    )


def objective_of(settings: dict) -> str:
    """The study's objective if CSCV knows how to score it (`overfitting.PBO_METRICS`), else
    ``sharpe``."""
    objective = str(settings.get("objective", "sharpe"))
    return objective if objective in overfitting.PBO_METRICS else "sharpe"


def degeneracy_of(trial, returns: pd.Series, close: pd.Series) -> str | None:
    """`backtest.degenerate.degeneracy` of a trial from its recorded trades and exposure and its
    returns' correlation with the market."""
    recorded = tuning.trial_metrics(trial)
    trades, exposure = recorded.get("trades"), recorded.get("exposure")
    return degenerate.degeneracy(
        float("nan") if trades is None else float(trades),
        float("nan") if exposure is None else float(exposure),
        degenerate.market_correlation(returns, close),
    )


def trials_sharpe_variance(trials: list) -> float | None:
    """V for the DSR: variance of the per-day Sharpe ratios every trial recorded (None under 2)."""
    return overfitting.annual_sharpes_variance(
        tuning.trial_metrics(t).get("sharpe") for t in trials
    )


def span_buy_and_hold(evaluator, fixed: dict, days: pd.Index) -> pd.Series:
    """Buy-and-hold on ``days`` with the study's costs (`backtest.benchmarks`, the one function
    every comparison uses): all in at the first bar's fill, fees and slippage charged."""
    from costbt.backtest.benchmarks import buy_and_hold_returns
    from costbt.backtest.walkforward import window_config

    config = window_config(evaluator.row(fixed))
    out = buy_and_hold_returns(evaluator.panel, config, days[0], days[-1])
    return out.reindex(days).rename("buy_and_hold")


# --------------------------------------------------------------------------- figures and parts


def history_traces(points: pd.DataFrame, *, legend: bool = True, counts: bool = True) -> list:
    """Scatter traces: feasible trials, infeasible trials, best feasible so far (a step line).

    ``counts`` adds the number of trials to the legend names; ``legend`` shows them at all
    (small multiples show one legend for all).
    """
    import plotly.graph_objects as go

    feasible, infeasible = points[points["feasible"]], points[~points["feasible"]]
    n_ok = f": {len(feasible)}" if counts else "s"
    n_bad = f": {len(infeasible)}" if counts else "s"
    return [
        go.Scatter(
            x=feasible["number"].tolist(),
            y=feasible["value"].tolist(),
            name=f"feasible trial{n_ok}",
            mode="markers",
            marker={"color": FEASIBLE_COLOUR, "size": 6},
            legendgroup="feasible",
            showlegend=legend,
        ),
        go.Scatter(
            x=infeasible["number"].tolist(),
            y=infeasible["value"].tolist(),
            name=f"infeasible trial{n_bad}",
            mode="markers",
            marker={"color": INFEASIBLE_COLOUR, "size": 6, "symbol": "x"},
            legendgroup="infeasible",
            showlegend=legend,
        ),
        go.Scatter(
            x=points["number"].tolist(),
            y=[None if pd.isna(v) else float(v) for v in points["best_so_far"]],
            name="best feasible so far",
            mode="lines",
            line={"color": BEST_COLOUR, "width": 2, "shape": "hv"},
            legendgroup="best",
            showlegend=legend,
        ),
    ]


def history_figure(points: pd.DataFrame, objective: str):
    import plotly.graph_objects as go

    fig = go.Figure(history_traces(points))
    name = html.escape(objective)
    fig.update_layout(
        title={"text": f"{name} of each trial", "x": 0.0, "xanchor": "left"},
        height=420,
        margin={"l": 70, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        template="plotly_white",
    )
    fig.update_xaxes(title_text="trial number")
    fig.update_yaxes(title_text=name)
    return fig


def importance_figure(values: dict[str, float]):
    import plotly.graph_objects as go

    ordered = sorted(values.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in ordered],
            y=[html.escape(k) for k, _ in ordered],
            orientation="h",
            marker={"color": FEASIBLE_COLOUR},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": "Share of the objective's variance", "x": 0.0, "xanchor": "left"},
        height=max(240, 80 + 34 * len(ordered)),
        margin={"l": 160, "r": 20, "t": 60, "b": 40},
        template="plotly_white",
    )
    fig.update_xaxes(title_text="importance (fANOVA)", rangemode="tozero")
    return fig


def chart(fig, div_id: str) -> str:
    return f'<div class="chart">{charts.figure_div(fig, div_id)}</div>'


def _fmt(value: float | None, spec: str) -> str:
    """``value`` formatted; None and NaN are n/a, infinity "unbounded" (MinTRL when SR <= 0)."""
    if value is None or math.isnan(value):
        return tables.MISSING
    return "unbounded" if math.isinf(value) else format(value, spec)


def _interval(pair: tuple[float, float], spec: str) -> str:
    lo, hi = pair
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return tables.MISSING
    return f"{format(lo, spec)} .. {format(hi, spec)}"


def verdict_html(assessment: overfitting.Assessment | None, reason: str = "") -> str:
    """The verdict paragraph for the page header (class = the regime, for its colour)."""
    if assessment is None:
        return f'<p class="verdict"><strong>Verdict:</strong> {esc(reason)}</p>'
    return (
        f'<p class="verdict {esc(assessment.regime)}"><strong>Verdict:</strong> '
        f"{esc(assessment.verdict)}</p>"
    )


def assessment_table(a: overfitting.Assessment) -> str:
    """Every statistic of the assessment with what it means and the threshold that applies.

    The statistics against buy-and-hold come first (they decide the verdict); those against 0
    follow as secondary rows.
    """
    t = overfitting.THRESHOLDS
    size = f"{a.ci_size:.0%}"
    luck = f"N = {a.n_trials:,} {a.deflated_by}"
    rows = [
        (
            "Sharpe (annual, 365)",
            _fmt(a.sharpe, ".2f"),
            f"{size} interval {_interval(a.sharpe_ci, '.2f')}",
        ),
        (
            "Buy-and-hold Sharpe (same days)",
            _fmt(a.benchmark_sharpe, ".2f"),
            f"{a.benchmark_note}; no edge at or below it",
        ),
        (
            "Sharpe to beat: buy-and-hold's + SR0 (annual)",
            _fmt(a.hurdle, ".2f"),
            f"SR0 {_fmt(a.expected_max_sharpe, '.2f')}: what luck adds to the best of {luck}",
        ),
        (
            "DSR vs buy-and-hold (deflated Sharpe ratio)",
            _fmt(a.dsr_vs_bh, ".3f"),
            f"P(true Sharpe > buy-and-hold's + SR0); an edge at >= {t.dsr_skill}, overfit "
            f"below {t.dsr_overfit}; {a.dsr_note}",
        ),
        (
            "PSR vs buy-and-hold",
            _fmt(a.psr_vs_bh, ".3f"),
            f"P(true Sharpe > buy-and-hold's), not deflated; {a.n_obs:,} days of returns",
        ),
        (
            "PBO (probability of backtest overfitting)",
            _fmt(a.pbo, ".3f"),
            f"skill at <= {t.pbo_skill}, overfit at >= {t.pbo_overfit}; {a.pbo_note}",
        ),
        (
            "SPA p-value vs buy-and-hold (Hansen)",
            _fmt(a.spa_pvalue, ".3f"),
            f"an edge at <= {t.spa_alpha}; {a.spa_note}",
        ),
        (
            "MinTRL vs buy-and-hold (days for PSR >= 0.95)",
            _fmt(a.min_trl_vs_bh, ",.0f"),
            f"{a.n_obs:,} days observed",
        ),
        (
            "CAGR (365-day year)",
            _fmt(a.cagr, ".1%"),
            f"{size} interval {_interval(a.cagr_ci, '.1%')}",
        ),
        (
            "DSR vs 0 (secondary)",
            _fmt(a.dsr, ".3f"),
            "P(true Sharpe > SR0): skill at all, not an edge over holding",
        ),
        ("PSR vs 0 (secondary)", _fmt(a.psr, ".3f"), "P(true Sharpe > 0), not deflated"),
        ("MinTRL vs 0 (secondary)", _fmt(a.min_trl, ",.0f"), "days for PSR(0) >= 0.95"),
        (
            "Correlation with buy-and-hold",
            _fmt(a.correlation, ".3f"),
            f"degenerate: {degenerate.label(a.flag) or 'no'} (indistinguishable from "
            f"buy-and-hold at >= {degenerate.THRESHOLDS.correlation} or exposure >= "
            f"{degenerate.THRESHOLDS.exposure:.0%})",
        ),
        (
            "Cost assumptions searched",
            ", ".join(a.searched_assumptions) or "none",
            "fitted with the rule, the cost thesis was not held fixed"
            if a.searched_assumptions
            else "the cost thesis was held fixed",
        ),
        (
            "Candidates (distinct returns)",
            f"{a.n_candidates:,}",
            "K, used by PBO and SPA: the candidate trials left once trials with identical daily "
            "returns count once (PBO and SPA need at least 2)",
        ),
    ]
    body = [[(name, "text"), (value, "number"), (note, "text")] for name, value, note in rows]
    return tables.html_table(["statistic", "value", "how to read it"], body, css_class="assessment")


def thresholds_note() -> str:
    t = overfitting.THRESHOLDS
    return (
        '<p class="note">The verdict, in order: not enough data (under '
        f"{t.min_days} days, or no Sharpe); never in the market (0 trades); indistinguishable "
        "from buy-and-hold (exposure or correlation with it at the degeneracy thresholds); no "
        "edge (Sharpe at or below buy-and-hold's on the same days); likely overfit (PBO &gt;= "
        f"{t.pbo_overfit} or DSR vs buy-and-hold &lt; {t.dsr_overfit}); evidence of an edge over "
        f"buy-and-hold (DSR vs buy-and-hold &gt;= {t.dsr_skill}, PBO &lt;= {t.pbo_skill} or not "
        f"computed, and SPA p &lt;= {t.spa_alpha}); otherwise inconclusive. Why these values: "
        "docs/validation.md.</p>"
    )


def param_text(value: object) -> str:
    """A sampled value, floats to 6 significant digits (a stepped float is 0.14500000000000002)."""
    return f"{value:.6g}" if isinstance(value, float) else tables.format_param(value)


def trial_table(trials: list, objective: str) -> str:
    """The trials' numbers, objective values, parameters and recorded metrics."""
    names = list(dict.fromkeys(k for t in trials for k in t.params))
    headers = [
        "#",
        objective,
        *names,
        *(tables.METRIC_LABELS.get(m, m) for m in METRICS_SHOWN),
        "exits by cause",
        "flag",
    ]
    rows = []
    for t in trials:
        recorded = tuning.trial_metrics(t)
        cells = [
            (str(t.number), "number"),
            (tables.format_named_metric(objective, t.value), "number"),
        ]
        cells += [(param_text(t.params.get(n)), "number") for n in names]
        cells += [(tables.format_named_metric(m, recorded.get(m)), "number") for m in METRICS_SHOWN]
        cells.append((exits_text(recorded), "text"))
        cells.append((degenerate.label(tuning.trial_tags(t).get("flag")), "text"))
        rows.append(cells)
    return tables.html_table(headers, rows, css_class="top-trials")


def comparison(returns: pd.Series, benchmark: pd.Series, label: str) -> tuple[str, Any]:
    """The metrics table and the equity figure of ``returns`` against buy-and-hold."""
    table = pd.DataFrame(
        {label: metrics.summary(returns), "buy_and_hold": metrics.summary(benchmark)}
    ).drop(index="exposure")
    equity = (INIT_CASH * (1.0 + returns).cumprod()).rename(label)
    bench = (INIT_CASH * (1.0 + benchmark.fillna(0.0)).cumprod()).rename("buy_and_hold")
    fig = charts.equity_figure(equity, label, {"buy_and_hold": bench})
    return tables.metrics_table(table), fig


def provenance_section(record: dict, settings: dict | None) -> str:
    values = provenance.merged(record, settings or {})
    out = tables.key_value_table(values, css_class="provenance", value_header="value")
    return out + "<h3>Settings</h3>" + tables.config_block(settings or {})


# --------------------------------------------------------------------------- the page


def _period(settings: dict) -> tuple[Any, Any]:
    """The traded period: ``traded`` (the requested period clipped to the days the entry rule is
    known, `backtest.tuning.signal_period`), else the requested ``period``."""
    period = list(settings.get("traded") or settings.get("period") or [None, None]) + [None, None]
    return period[0], period[1]


def _assess(
    study,
    evaluator,
    settings: dict,
    ledger_trials: int,
    benchmark_returns: pd.Series | None,
    max_candidates: int,
    seed: int,
) -> tuple[overfitting.Assessment | None, str, pd.Series | None, pd.Series | None, str]:
    """(assessment, reason if none, best returns, buy-and-hold returns, candidates in words)."""
    best = tuning.best_trial(study)
    if best is None:
        min_trades = settings.get("min_trades")
        extra = f" (none with at least {min_trades} trades)" if min_trades is not None else ""
        return (
            None,
            f"No verdict: the study has no feasible completed trial{extra}.",
            None,
            None,
            "",
        )
    start, end = _period(settings)
    fixed = dict(settings.get("fixed") or {})
    distinct = distinct_feasible_trials(study)
    chosen = [distinct[i] for i in overfitting.sample_ranked(len(distinct), max_candidates)]
    if not chosen:
        return None, "No verdict: no feasible trial has a defined objective value.", None, None, ""
    try:
        matrix = pd.concat(
            [evaluator.returns({**fixed, **t.params}, start, end).rename(t.number) for t in chosen],
            axis=1,
        )
    except ValueError as exc:
        return (
            None,
            f"No verdict: the trials' daily returns could not be computed ({exc}).",
            None,
            None,
            "",
        )
    returns = matrix.iloc[:, 0]  # the best trial (its number is the name)
    if benchmark_returns is None:
        # the best trial's own costs: fees, slippage and fill may be among the searched
        bench = span_buy_and_hold(evaluator, {**fixed, **chosen[0].params}, returns.index)
    else:
        bench = pd.Series(benchmark_returns, dtype=float).reindex(returns.index)
    a = overfitting.assess(
        returns,
        matrix,
        bench,
        ledger_trials,
        sr_variance=trials_sharpe_variance(completed(study)),
        sr_variance_from="every completed trial of the study",
        objective=objective_of(settings),
        degenerate=degeneracy_of(chosen[0], returns, evaluator.panel["close_usd"]),
        searched_assumptions=overfitting.cost_assumptions(settings.get("include") or ()),
        seed=seed,
    )
    return a, "", returns, bench, candidates_text(len(chosen), len(distinct))


def render_study_report(
    study,
    *,
    evaluator,
    ledger_trials: int,
    settings: dict | None = None,
    provenance: dict | None = None,
    storage: str | None = None,
    benchmark_returns: pd.Series | None = None,
    title: str | None = None,
    top: int = TOP,
    max_candidates: int = MAX_CANDIDATES,
    seed: int = 0,
) -> str:
    """The whole study report as one HTML document (see the module docstring).

    ``settings`` default to the study's ``settings`` user attribute (`backtest.tuning`);
    ``provenance`` adds to the provenance table (e.g. the sampler ``seed``); ``storage`` is shown
    with its password redacted; ``max_candidates`` caps the trials PBO and SPA run on
    (`candidate_trials`); ``seed`` seeds the bootstraps.

    Raises:
        ReportError: the page would reference something outside itself.
    """
    settings = dict(settings if settings is not None else study.user_attrs.get("settings") or {})
    objective = str(settings.get("objective", "objective"))
    name = study.study_name
    title = title or f"costbt tune: {name}"
    assessment, reason, returns, bench, candidates = _assess(
        study, evaluator, settings, ledger_trials, benchmark_returns, max_candidates, seed
    )
    trials = study.get_trials(deepcopy=False)
    done = completed(study)
    n_feasible = sum(is_feasible(t) for t in done)

    if assessment is None:
        assessment_body = f'<p class="note">{esc(reason)}</p>'
    else:
        assessment_body = (
            f"<p>Does the best feasible trial (#{returns.name}) beat holding bitcoin on the "
            f"same {assessment.n_obs:,} days of the tuned period? Its Sharpe "
            f"{_fmt(assessment.sharpe, '.2f')} against buy-and-hold's "
            f"{_fmt(assessment.benchmark_sharpe, '.2f')}, deflated by the ledger's "
            f"{assessment.n_trials:,} trials; PBO and SPA over {esc(candidates)} "
            f"({assessment.n_candidates:,} with distinct returns).</p>"
            + assessment_table(assessment)
            + thresholds_note()
        )

    points = history_points(study)
    left_out = len(done) - len(points)
    history = (
        f"<p>{len(trials):,} trials: {len(done):,} completed ({n_feasible:,} feasible), "
        f"{len(trials) - len(done):,} failed, pruned or running. Infeasible trials (too few "
        "trades, or never in the market or indistinguishable from buy-and-hold unless "
        "allowed) are grey crosses; the line is the best feasible value so far.</p>"
    )
    if left_out:
        history += (
            f'<p class="note">{left_out} completed trial(s) without a defined {esc(objective)} '
            "(e.g. never in the market) are not drawn.</p>"
        )
    history += (
        chart(history_figure(points, objective), HISTORY_ID)
        if len(points)
        else '<p class="note">No completed trial with a value yet.</p>'
    )

    values, note = param_importances(study)
    importance = f"<p>{esc(note)}</p>" if values is not None else f'<p class="note">{esc(note)}</p>'
    if values:
        importance += chart(importance_figure(values), IMPORTANCE_ID)

    best_trials = tuning.top_trials(study, top)
    top_body = (
        f"<p>The {len(best_trials)} best feasible trials by {esc(objective)} (metrics recorded "
        "by each trial on the tuned period).</p>" + trial_table(best_trials, objective)
        if best_trials
        else '<p class="note">No feasible completed trial.</p>'
    )

    if returns is None:
        equity_body = f'<p class="note">{esc(reason)}</p>'
    else:
        label = f"best trial #{returns.name}"
        table, fig = comparison(returns, bench, label)
        equity_body = (
            f"<p>{esc(tables.format_time(returns.index[0]))} to "
            f"{esc(tables.format_time(returns.index[-1]))} ({len(returns):,} days), both starting "
            f"at {INIT_CASH:,.0f} USD; buy-and-hold buys at the first bar with the study's fees "
            "and slippage and holds (backtest.benchmarks)"
            f"{'' if benchmark_returns is None else ' (as given)'}.</p>"
            + table
            + chart(fig, charts.EQUITY_ID)
        )

    record = {
        **(provenance or {}),
        "study": name,
        "storage": redact(storage),
        "ledger_trials": int(ledger_trials),
        "trials_in_study": len(trials),
        "trials_completed": len(done),
        "trials_feasible": n_feasible,
    }
    bodies = {
        "assessment": assessment_body,
        "history": history,
        "importance": importance,
        "top": top_body,
        "equity": equity_body,
        "provenance": provenance_section(record, settings),
    }
    sections = [(sid, heading, bodies[sid]) for sid, heading in SECTIONS]
    start, end = _period(settings)
    period = f"{start or 'first day'} to {end or 'last day'}"
    subtitle = (
        f"Optuna study <code>{esc(name)}</code> &middot; strategy "
        f"<code>{esc(settings.get('strategy', 'unknown'))}</code> &middot; maximising "
        f"<code>{esc(objective)}</code> &middot; {esc(period)} &middot; {len(trials):,} trials"
        f" &middot; ledger {int(ledger_trials):,}"
    )
    return page(title, subtitle, sections, css=STUDY_CSS, lead=verdict_html(assessment, reason))


def write_study_report(study, path: str | Path, **kwargs) -> Path:
    """Render the study report (`render_study_report`'s keywords) and write it atomically."""
    return write_page(render_study_report(study, **kwargs), path)


__all__ = [
    "HEADINGS",
    "MAX_CANDIDATES",
    "candidate_trials",
    "distinct_feasible_trials",
    "history_points",
    "param_importances",
    "redact",
    "render_study_report",
    "write_study_report",
]
