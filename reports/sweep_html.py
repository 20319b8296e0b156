"""One self-contained HTML report per parameter sweep: `render_sweep_report`, `write_sweep_report`.

The input is a results table with one row per parameter combination: the swept parameter columns
(``swept``; ``assumptions`` names the cost assumptions among them, such as ``power_price``,
``efficiency_scale``, ``pue``) and the metric columns (``total_return``, ``cagr``, ``sharpe``,
``max_drawdown``, ``exposure``, ``trades``, ``final_equity``; any may be NaN). The page holds, in
order:

1. **Summary**: title, metric, number of combinations, the grid of every swept parameter.
2. **Heatmaps** of ``metric`` for pairs of swept parameters (the first `MAX_PAIRS` pairs, or the
   ``pairs`` given). The other parameters are either held at a chosen value (``fixed``; the
   nearest grid value is used) or aggregated by the median; each heatmap's subtitle says which.
3. **Top combinations**: the best ``top`` rows by ``metric`` (descending, NaN last), every swept
   parameter and every metric.
4. **Assumption sensitivity**: for each assumption parameter, the best (max over every other
   parameter) and the median ``metric`` at each of its values.
5. **Provenance**: the run's provenance dict as a table (and its ``config`` as JSON if present).

Higher is better for every metric (``max_drawdown`` is a negative fraction, so its max is the
shallowest drawdown). The pure helpers `heatmap_matrix`, `sensitivity`, `top_combinations` and
`snap_fixed` compute what the charts and table show.

Self-contained like the backtest report (`reports.html`): plotly.js inlined once, the same
Content-Security-Policy, every user string escaped, and `render_sweep_report` refuses a page in
which `reports.offline.find_external_references` finds anything. `write_sweep_report` writes
atomically (temporary file beside the target, then rename).
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from costbt.backtest import degenerate
from costbt.backtest.result import exits_text
from costbt.reports import charts, provenance, tables
from costbt.reports.html import page, write_page
from costbt.reports.tables import esc

METRIC_COLUMNS = (
    "total_return",
    "cagr",
    "sharpe",
    "max_drawdown",
    "exposure",
    "trades",
    "final_equity",
    "entry_share",
)
MAX_PAIRS = 6
# Heatmap cells are labelled with their value up to this many cells; larger grids hover only.
CELL_TEXT_LIMIT = 400
HEATMAP_ID = "sweep-heatmap-{}"
SENSITIVITY_ID = "sweep-sensitivity-{}"
BEST_COLOUR = "#1f4e9c"
MEDIAN_COLOUR = "#c25400"

SECTIONS = (
    ("summary", "Summary"),
    ("heatmaps", "Heatmaps"),
    ("top", "Top combinations"),
    ("sensitivity", "Assumption sensitivity"),
    ("provenance", "Provenance"),
)
HEADINGS = dict(SECTIONS)

SWEEP_CSS = """
table.sweep-top,table.sweep-grid{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
table.sweep-top th,table.sweep-top td,table.sweep-grid th,table.sweep-grid td{
border-bottom:1px solid #e6e6e6;padding:4px 10px;text-align:left;vertical-align:top}
table.sweep-top thead th,table.sweep-grid thead th{background:#f3f4f6;font-weight:600}
.top-wrap{max-height:640px;overflow:auto;border:1px solid #eee}
p.chart-note{color:#555;margin:18px 0 0;font-size:13px}
"""


# --------------------------------------------------------------------------- pure helpers


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def grid_values(results: pd.DataFrame, param: str) -> list:
    """The distinct values of ``param`` in ``results``, sorted (numbers numerically)."""
    values = results[param].dropna().unique()
    if _is_numeric(results[param]):
        return sorted(values.tolist())
    return sorted(values.tolist(), key=str)


def snap_fixed(results: pd.DataFrame, fixed: dict | None) -> dict:
    """``fixed`` with each value replaced by the nearest value on that parameter's grid.

    Numeric parameters snap to the closest grid value (the smaller one on a tie); others must
    match a grid value exactly.

    Raises:
        ValueError: a name is not a column of ``results``, or a non-numeric value is not on
            the grid.
    """
    snapped: dict = {}
    for name, value in (fixed or {}).items():
        if name not in results.columns:
            raise ValueError(f"fixed parameter {name!r} is not a column of the results")
        grid = grid_values(results, name)
        if not grid:
            raise ValueError(f"fixed parameter {name!r} has no values in the results")
        if _is_numeric(results[name]) and isinstance(value, int | float | np.number):
            distances = [abs(float(g) - float(value)) for g in grid]
            snapped[name] = grid[int(np.argmin(distances))]
        elif value in grid:
            snapped[name] = value
        else:
            raise ValueError(f"fixed value {value!r} of {name!r} is not on its grid")
    return snapped


def heatmap_matrix(
    results: pd.DataFrame, x: str, y: str, metric: str, fixed: dict | None = None
) -> pd.DataFrame:
    """``metric`` on the grid of ``x`` (columns) by ``y`` (index), both sorted ascending.

    Rows whose other parameters differ from ``fixed`` (after `snap_fixed`) are dropped; every
    remaining combination at one (x, y) cell is aggregated by the median (NaN skipped; a cell
    with no value is NaN). ``fixed`` entries for ``x`` or ``y`` themselves are ignored. Every grid
    value of ``x`` and ``y`` in ``results`` gets a column or row, even if empty after fixing.
    """
    if x == y:
        raise ValueError(f"a heatmap needs two different parameters, got {x!r} twice")
    held = {k: v for k, v in snap_fixed(results, fixed).items() if k not in (x, y)}
    rows = results
    for name, value in held.items():
        rows = rows[rows[name] == value]
    metric_values = pd.to_numeric(rows[metric], errors="coerce")
    table = metric_values.groupby([rows[y], rows[x]]).median().unstack(x)
    return table.reindex(
        index=pd.Index(grid_values(results, y), name=y),
        columns=pd.Index(grid_values(results, x), name=x),
    ).astype(float)


def sensitivity(results: pd.DataFrame, param: str, metric: str) -> pd.DataFrame:
    """Best (max) and median ``metric`` over every other parameter, at each value of ``param``.

    Indexed by the values of ``param`` (sorted); columns ``best`` and ``median``; NaN metric
    values are skipped, a value with none left gives NaN.
    """
    metric_values = pd.to_numeric(results[metric], errors="coerce")
    grouped = metric_values.groupby(results[param])
    out = pd.DataFrame({"best": grouped.max(), "median": grouped.median()})
    out = out.reindex(pd.Index(grid_values(results, param), name=param)).astype(float)
    return out


def top_combinations(results: pd.DataFrame, metric: str, n: int) -> pd.DataFrame:
    """The ``n`` best rows by ``metric``: descending, NaN last, ties in input order."""
    order = pd.to_numeric(results[metric], errors="coerce")
    ranked = results.assign(_key=order).sort_values(
        "_key", ascending=False, na_position="last", kind="mergesort"
    )
    return ranked.drop(columns="_key").head(max(int(n), 0))


def default_pairs(swept: Sequence[str], limit: int = MAX_PAIRS) -> list[tuple[str, str]]:
    """The first ``limit`` pairs of swept parameters, in the order given."""
    return list(itertools.combinations(swept, 2))[:limit]


# --------------------------------------------------------------------------- formatting


def _value_label(value: object) -> str:
    """A parameter value as shown on axes and in text (floats exactly, via `format_param`)."""
    return tables.format_param(value.item() if isinstance(value, np.generic) else value)


def _metric_text(metric: str, value: object) -> str:
    return tables.format_named_metric(metric, value)


def _metric_label(metric: str) -> str:
    return tables.METRIC_LABELS.get(metric, metric)


def _json_number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _held_description(
    results: pd.DataFrame, swept: Sequence[str], axes: Iterable[str], fixed: dict, snapped: dict
) -> str:
    """Plain text: how the parameters other than ``axes`` were treated."""
    axes = set(axes)
    parts = []
    for name in swept:
        if name in axes:
            continue
        n_values = len(grid_values(results, name))
        if name in snapped:
            text = f"{name} fixed at {_value_label(snapped[name])}"
            asked = fixed[name]
            if _value_label(asked) != _value_label(snapped[name]):
                text += f" (nearest grid value to {_value_label(asked)})"
        else:
            text = f"{name} aggregated by median over its {n_values} value"
            text += "s" if n_values != 1 else ""
        parts.append(text)
    if not parts:
        return "No other swept parameters."
    return "Other parameters: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- figures


def heatmap_figure(matrix: pd.DataFrame, x: str, y: str, metric: str, subtitle: str):
    """A plotly heatmap of ``matrix`` (from `heatmap_matrix`); axes are categorical labels."""
    import plotly.graph_objects as go

    x_labels = [html.escape(_value_label(v)) for v in matrix.columns]
    y_labels = [html.escape(_value_label(v)) for v in matrix.index]
    z = [[_json_number(float(v)) for v in row] for row in matrix.to_numpy(dtype=float)]
    text = [[html.escape(_metric_text(metric, v)) for v in row] for row in matrix.to_numpy()]
    name_x, name_y, name_m = (html.escape(s) for s in (x, y, _metric_label(metric)))
    trace = go.Heatmap(
        x=x_labels,
        y=y_labels,
        z=z,
        text=text,
        colorscale="Viridis",
        hoverongaps=False,
        colorbar={"title": {"text": name_m}},
        hovertemplate=f"{name_x} = %{{x}}<br>{name_y} = %{{y}}<br>{name_m}: %{{text}}"
        "<extra></extra>",
    )
    if matrix.size <= CELL_TEXT_LIMIT:
        trace.update(texttemplate="%{text}", textfont={"size": 11})
    fig = go.Figure(trace)
    fig.update_layout(
        title={
            "text": f"{name_m} by {name_x} and {name_y}<br><sup>{html.escape(subtitle)}</sup>",
            "x": 0.0,
            "xanchor": "left",
        },
        height=max(360, min(760, 140 + 34 * len(y_labels))),
        margin={"l": 90, "r": 20, "t": 90, "b": 60},
        template="plotly_white",
    )
    fig.update_xaxes(title_text=name_x, type="category")
    fig.update_yaxes(title_text=name_y, type="category")
    return fig


def sensitivity_figure(table: pd.DataFrame, param: str, metric: str, numeric: bool):
    """Best and median ``metric`` against the values of one assumption parameter."""
    import plotly.graph_objects as go

    if numeric:
        xs: list = [float(v) for v in table.index]
    else:
        xs = [html.escape(_value_label(v)) for v in table.index]
    fig = go.Figure()
    for column, label, colour, dash in (
        ("best", "best (max over other parameters)", BEST_COLOUR, "solid"),
        ("median", "median over other parameters", MEDIAN_COLOUR, "dash"),
    ):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[_json_number(float(v)) for v in table[column]],
                name=label,
                mode="lines+markers",
                line={"color": colour, "width": 2, "dash": dash},
                marker={"size": 7},
            )
        )
    name_p, name_m = html.escape(param), html.escape(_metric_label(metric))
    fig.update_layout(
        title={"text": f"{name_m} as {name_p} moves", "x": 0.0, "xanchor": "left"},
        height=380,
        margin={"l": 70, "r": 20, "t": 70, "b": 50},
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.2},
        template="plotly_white",
    )
    fig.update_xaxes(title_text=name_p, type=None if numeric else "category")
    fig.update_yaxes(title_text=name_m)
    return fig


def _chart(fig, div_id: str) -> str:
    return f'<div class="chart">{charts.figure_div(fig, div_id)}</div>'


# --------------------------------------------------------------------------- sections


def _verdict_facts(a, span: tuple | None, coverage: float | None) -> dict[str, str]:
    """The best combination against buy-and-hold on the same days, as summary rows."""

    def num(value, spec: str = ".3f") -> str:
        return "n/a" if value is None or value != value else format(value, spec)

    days = f"the same {a.n_obs:,} days"
    if span is not None:
        days += f" ({pd.Timestamp(span[0]).date()} .. {pd.Timestamp(span[1]).date()})"
    if coverage is not None and coverage == coverage:
        days += f", its entry rule known on {coverage:.1%} of them"
    return {
        "best combination vs buy-and-hold": (
            f"Sharpe {num(a.sharpe, '.2f')} vs {num(a.benchmark_sharpe, '.2f')} on {days}"
        ),
        "DSR vs buy-and-hold": (
            f"{num(a.dsr_vs_bh)} (N = {a.n_trials:,} configurations in the ledger); vs 0 "
            f"(secondary): {num(a.dsr)}"
        ),
        "PBO": f"{num(a.pbo)} ({a.pbo_note})",
        "SPA p vs buy-and-hold": f"{num(a.spa_pvalue)} ({a.spa_note})",
        "degenerate": degenerate.label(a.flag) or "no",
    }


def _summary_section(
    results: pd.DataFrame,
    swept: Sequence[str],
    assumptions: Sequence[str],
    metric: str,
    title: str,
    assessment=None,
    span: tuple | None = None,
    signal_coverage: float | None = None,
) -> str:
    n = len(results)
    valid = int(pd.to_numeric(results[metric], errors="coerce").notna().sum())
    facts = {
        "title": title,
        "metric (higher is better)": f"{metric} ({_metric_label(metric)})",
        "combinations evaluated": f"{n:,}",
        f"combinations with a {metric} value": f"{valid:,}",
        "swept parameters": ", ".join(swept) or "none",
        "cost assumptions": ", ".join(assumptions) or "none",
    }
    if "flag" in results.columns:
        flags = results["flag"].fillna("")
        for flag, words in degenerate.LABELS.items():
            facts[f"combinations {words}"] = f"{int((flags == flag).sum()):,}"
    if "signal_coverage" in results.columns:
        coverage = pd.to_numeric(results["signal_coverage"], errors="coerce").dropna()
        if len(coverage):
            facts["traded days with the entry rule known (median)"] = f"{coverage.median():.1%}"
    if assessment is not None:
        facts.update(_verdict_facts(assessment, span, signal_coverage))
    rows = [[(k, "text"), (str(v), "text")] for k, v in facts.items()]
    summary = tables.html_table(["", "value"], rows, css_class="params")
    grid_rows = []
    for name in swept:
        values = grid_values(results, name)
        shown = ", ".join(_value_label(v) for v in values[:40])
        if len(values) > 40:
            shown += f", ... ({len(values) - 40} more)"
        kind = "assumption" if name in assumptions else "strategy"
        grid_rows.append(
            [(name, "text"), (kind, "text"), (str(len(values)), "number"), (shown, "text")]
        )
    grid = tables.html_table(
        ["parameter", "kind", "values", "grid"], grid_rows, css_class="sweep-grid"
    )
    return summary + "<h3>Grid</h3>" + grid


def _heatmaps_section(
    results: pd.DataFrame,
    swept: Sequence[str],
    metric: str,
    pairs: Sequence[tuple[str, str]],
    fixed: dict,
    n_pairs_possible: int,
) -> str:
    if not pairs:
        return '<p class="note">Fewer than two swept parameters: no heatmap to draw.</p>'
    snapped = snap_fixed(results, fixed)
    how = (
        "held at the values chosen (the nearest grid value) or, when not chosen, aggregated by "
        "the median"
        if snapped
        else "aggregated by the median over all their values"
    )
    intro = (
        f"<p>{esc(_metric_label(metric))} for {len(pairs)} pair"
        f"{'s' if len(pairs) != 1 else ''} of swept parameters; parameters off the axes are "
        f"{how}. Each heatmap's subtitle says which. Empty cells have no value.</p>"
    )
    if len(pairs) < n_pairs_possible:
        intro += f'<p class="note">Showing {len(pairs)} of {n_pairs_possible} possible pairs.</p>'
    parts = [intro]
    for i, (x, y) in enumerate(pairs):
        matrix = heatmap_matrix(results, x, y, metric, fixed=snapped)
        subtitle = _held_description(results, swept, (x, y), fixed, snapped)
        fig = heatmap_figure(matrix, x, y, metric, subtitle)
        parts.append(
            f'<p class="chart-note">{esc(x)} &times; {esc(y)}: {esc(subtitle)}</p>'
            + _chart(fig, HEATMAP_ID.format(i))
        )
    return "\n".join(parts)


def _top_section(results: pd.DataFrame, swept: Sequence[str], metric: str, top: int) -> str:
    best = top_combinations(results, metric, top)
    metrics = [m for m in METRIC_COLUMNS if m in results.columns]
    if metric not in metrics:
        metrics.append(metric)
    flagged = "flag" in results.columns
    exits = any(c.startswith("exits_") for c in results.columns)
    headers = [
        "#",
        *swept,
        *(_metric_label(m) for m in metrics),
        *(["exits by cause"] if exits else []),
        *(["flag"] if flagged else []),
    ]
    # Column by column: ``iterrows`` would turn integer parameters into floats ("3.0").
    columns = {c: best[c].tolist() for c in [*swept, *metrics]}
    kinds = {p: "number" if _is_numeric(results[p]) else "text" for p in swept}
    rows = []
    for i in range(len(best)):
        cells = [(str(i + 1), "number")]
        cells += [(_value_label(columns[p][i]), kinds[p]) for p in swept]
        cells += [(_metric_text(m, columns[m][i]), "number") for m in metrics]
        if exits:
            cells.append((exits_text(best.iloc[i]), "text"))
        if flagged:
            cells.append((degenerate.label(best["flag"].iloc[i] or None), "text"))
        rows.append(cells)
    intro = (
        f"<p>The {len(best)} best of {len(results):,} combinations by "
        f"{esc(_metric_label(metric))} (descending; combinations without a value last).</p>"
    )
    if best.empty:
        return intro + '<p class="note">No combinations.</p>'
    table = tables.html_table(headers, rows, css_class="sweep-top")
    return intro + f'<div class="top-wrap">{table}</div>'


def _sensitivity_section(results: pd.DataFrame, assumptions: Sequence[str], metric: str) -> str:
    if not assumptions:
        return '<p class="note">No cost assumption was swept: nothing to show.</p>'
    parts = [
        f"<p>How the best {esc(_metric_label(metric))} (max over every other parameter) and the "
        "median move as each cost assumption moves.</p>"
    ]
    for i, param in enumerate(assumptions):
        table = sensitivity(results, param, metric)
        fig = sensitivity_figure(table, param, metric, _is_numeric(results[param]))
        parts.append(_chart(fig, SENSITIVITY_ID.format(i)))
    return "\n".join(parts)


def _provenance_section(record: dict) -> str:
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    values = provenance.merged(record, config)
    out = tables.key_value_table(values, css_class="provenance", value_header="value")
    if config:
        out += "<h3>Configuration</h3>" + tables.config_block(config)
    return out


# --------------------------------------------------------------------------- page


def _check_inputs(
    results: pd.DataFrame, swept: Sequence[str], assumptions: Sequence[str], metric: str
) -> None:
    missing = [c for c in [*swept, metric] if c not in results.columns]
    if missing:
        raise ValueError(f"results have no column(s) {missing}")
    stray = [a for a in assumptions if a not in swept]
    if stray:
        raise ValueError(f"assumptions {stray} are not swept parameters")


def render_sweep_report(
    results: pd.DataFrame,
    *,
    swept: list[str],
    assumptions: list[str],
    metric: str,
    top: int,
    title: str,
    provenance: dict,
    fixed: dict | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    assessment=None,
    span: tuple | None = None,
    signal_coverage: float | None = None,
) -> str:
    """The whole sweep report as one HTML document (see the module docstring).

    ``pairs`` chooses the heatmaps (default: the first `MAX_PAIRS` pairs of ``swept``).
    ``assessment``: the best combination's `backtest.overfitting.Assessment` against
    buy-and-hold (`backtest.sweep.deflated_best`), shown as the verdict under the contents and
    in the summary, with ``span`` (first, last day of its returns) and ``signal_coverage`` (the
    share of them with its entry rule known).

    Raises:
        ValueError: a swept parameter, an assumption, the metric, a pair or a fixed name is not
            in ``results``/``swept``.
        ReportError: the page would reference something outside itself.
    """
    swept, assumptions = list(swept), list(assumptions)
    _check_inputs(results, swept, assumptions, metric)
    fixed = dict(fixed or {})
    stray = [k for k in fixed if k not in swept]
    if stray:
        raise ValueError(f"fixed parameters {stray} are not swept parameters")
    n_possible = len(swept) * (len(swept) - 1) // 2
    if pairs is None:
        pairs = default_pairs(swept)
    else:
        pairs = [tuple(p) for p in pairs]
        bad = [p for p in pairs if len(p) != 2 or p[0] == p[1] or not set(p) <= set(swept)]
        if bad:
            raise ValueError(f"pairs {bad} are not pairs of two different swept parameters")
    bodies = {
        "summary": _summary_section(
            results, swept, assumptions, metric, title, assessment, span, signal_coverage
        ),
        "heatmaps": _heatmaps_section(results, swept, metric, pairs, fixed, n_possible),
        "top": _top_section(results, swept, metric, top),
        "sensitivity": _sensitivity_section(results, assumptions, metric),
        "provenance": _provenance_section(dict(provenance or {})),
    }
    sections = [(sid, heading, bodies[sid]) for sid, heading in SECTIONS]
    subtitle = (
        f"Parameter sweep &middot; {len(results):,} combinations &middot; ranked by\n"
        f"<code>{esc(metric)}</code>"
    )
    from costbt.reports.study_html import VERDICT_CSS, verdict_html

    lead = "" if assessment is None else verdict_html(assessment)
    return page(title, subtitle, sections, css=SWEEP_CSS + VERDICT_CSS, lead=lead)


def write_sweep_report(
    results: pd.DataFrame,
    *,
    swept: list[str],
    assumptions: list[str],
    metric: str,
    top: int,
    path: Path,
    title: str,
    provenance: dict,
    fixed: dict | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    assessment=None,
    span: tuple | None = None,
    signal_coverage: float | None = None,
) -> Path:
    """Render the sweep report and write it to ``path`` atomically (temp file, then rename).

    Parent folders are created. Returns the path written.
    """
    page_text = render_sweep_report(
        results,
        swept=swept,
        assumptions=assumptions,
        metric=metric,
        top=top,
        title=title,
        provenance=provenance,
        fixed=fixed,
        pairs=pairs,
        assessment=assessment,
        span=span,
        signal_coverage=signal_coverage,
    )
    return write_page(page_text, path)
