"""One self-contained HTML report per backtest: `render_report` and `write_report`.

The page holds, in order: price against production cost with fills marked, the benchmark
comparison (metrics table, equity curves, drawdowns), the trade list, for a strategy with a cost
signal the episodes of its entry signal (`backtest.episodes.run_episode_study`), the parameters,
the quantstats tear sheet against buy-and-hold, and the provenance block with the full config.

`page` (the shell every costbt report shares: CSP, inline plotly.js, table of contents, the
outside-reference check) and `write_page` (the atomic write) are used by the sweep, study and
walk-forward reports too.

Self-contained: plotly.js is inlined once in ``<head>``; quantstats' figures are inline SVG; there
are no links, fonts or stylesheets from anywhere else, a Content-Security-Policy forbids every
fetch, and `render_report` refuses to return a page in which `reports.offline` finds an outside
reference. Every user-supplied string is escaped (`reports.tables.esc`). All time axes are made
tz-naive UTC first (`reports.normalise`); annualisation is 365 days everywhere.

If quantstats fails (it has broken on pandas upgrades before), the rest of the report is still
written and the tear sheet section says why, in red; a `TearsheetWarning` is issued too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from costbt.backtest.episodes import EpisodeStudy, episode_display, unconditional_display
from costbt.backtest.result import PERIODS_PER_YEAR, BacktestResult
from costbt.reports import charts, provenance, tables
from costbt.reports.charts import plotly_js
from costbt.reports.normalise import normalise_result
from costbt.reports.offline import CONTENT_SECURITY_POLICY, find_external_references
from costbt.reports.tables import esc
from costbt.reports.tearsheet import TearsheetError, tearsheet_html

BUY_AND_HOLD = "buy_and_hold"

# (element id, heading): the report's sections in page order.
SECTIONS = (
    ("price-cost", "Price and production cost"),
    ("benchmarks", "Benchmark comparison"),
    ("trades", "Trades"),
    ("parameters", "Parameters"),
    ("tearsheet", "Tear sheet (quantstats)"),
    ("provenance", "Provenance"),
)
HEADINGS = dict(SECTIONS)
# Only for a strategy with a cost signal (`backtest.episodes.run_episode_study`), after the trades.
EPISODES_SECTION = ("episodes", "Episodes of the entry signal")
ATTRIBUTION_SECTION = ("attribution", "What each member adds")

CSS = """
body{margin:0;background:#fff;color:#1b1b1b;font:14px/1.5 -apple-system,"Segoe UI",Roboto,
"DejaVu Sans",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:40px 0 12px;padding-top:8px;border-top:2px solid #e3e3e3}
h3{font-size:15px;margin:20px 0 8px}
.subtitle{color:#555;margin:0 0 12px}
nav.toc{font-size:13px;margin:8px 0 0}
nav.toc a{color:#1f4e9c;margin-right:14px;text-decoration:none}
nav.toc a:hover{text-decoration:underline}
table.metrics,table.trades,table.params,table.provenance{border-collapse:collapse;margin:8px 0 16px;
font-size:13px}
table.metrics th,table.metrics td,table.trades th,table.trades td,table.params th,table.params td,
table.provenance th,table.provenance td{border-bottom:1px solid #e6e6e6;padding:4px 10px;
text-align:left;vertical-align:top}
table.metrics thead th,table.trades thead th,table.params thead th,table.provenance thead th{
background:#f3f4f6;font-weight:600}
table td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.params td,table.provenance td{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;
word-break:break-all}
.trades-wrap{max-height:520px;overflow:auto;border:1px solid #eee}
pre.config{background:#f7f7f9;border:1px solid #e3e3e3;padding:12px;overflow:auto;font-size:12px;
max-height:600px}
.note{color:#555;font-style:italic}
.error,.warning{color:#b00020;font-weight:600}
.chart{margin:10px 0 18px}
.qs-tearsheet{margin:0 !important}
.qs-tearsheet::after{content:"";display:table;clear:both}
table.episodes{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
table.episodes th,table.episodes td{border-bottom:1px solid #e6e6e6;padding:4px 10px;text-align:left;
vertical-align:top}
table.episodes thead th{background:#f3f4f6;font-weight:600}
"""


class ReportError(RuntimeError):
    """The rendered page would not be self-contained (a costbt bug, never user input)."""


class TearsheetWarning(UserWarning):
    """The quantstats tear sheet could not be rendered; the report carries the reason."""


def _period(returns: pd.Series) -> str:
    if returns.empty:
        return "no returns"
    idx = returns.index
    return f"{tables.format_time(idx[0])} to {tables.format_time(idx[-1])} ({len(idx):,} days)"


def price_cost_section(r: BacktestResult) -> str:
    fig = charts.price_cost_figure(r.price, r.cost, r.cost_band, r.entries, r.exits, r.trades)
    note = ""
    if r.cost is None and r.cost_band is None:
        note = (
            '<p class="note">This strategy uses no production cost: the chart shows the BTC '
            "close with entries and exits only.</p>"
        )
    elif r.cost_band is None:
        note = '<p class="note">No P10-P90 cost band was recorded for this run.</p>'
    explain = (
        "Entries (triangles up) and exits (triangles down) are drawn on the day each order was "
        "filled (after its signal day), at the fill price."
    )
    if r.cost_band is not None:
        explain += " The band is shaded only where the cost model has data."
    from costbt.signals.production_cost import ASSUMPTION_MODELS, FEES_BIAS_NOTE

    if (
        r.cost is not None
        and r.params.get("model") in ASSUMPTION_MODELS
        and not r.params.get("include_fees", False)
    ):
        note += f'<p class="note">Fees: {esc(FEES_BIAS_NOTE)}.</p>'
    return f"{note}<p>{explain}</p>{_chart(fig, charts.PRICE_COST_ID)}"


def _chart(fig, div_id: str) -> str:
    return f'<div class="chart">{charts.figure_div(fig, div_id)}</div>'


def _benchmarks_section(r: BacktestResult) -> str:
    names = ", ".join(esc(n) for n in r.benchmarks) or "none"
    notes = "".join(
        f'<p class="{"warning" if line.startswith("WARNING") else "note"}">{esc(line)}</p>'
        for line in (r.notes() if r.strategy in r.metrics else [])
    )
    return (
        f"<p>Strategy <code>{esc(r.strategy)}</code> against: {names}, planned on the same "
        "traded days with the same cash, fees and slippage (buy-and-hold all in at the first "
        f"bar; DCA on the span's Mondays). Ratios are annualised over {PERIODS_PER_YEAR} "
        "days.</p>"
        + notes
        + tables.metrics_table(r.metrics)
        + _chart(charts.equity_figure(r.equity, r.strategy, r.benchmark_equity), charts.EQUITY_ID)
        + _chart(
            charts.drawdown_figure(r.equity, r.strategy, r.benchmark_equity), charts.DRAWDOWN_ID
        )
    )


def _trades_section(r: BacktestResult) -> str:
    return (
        f"<p>{tables.trades_summary(r.trades)}. Fees are included in PnL.</p>"
        f'<div class="trades-wrap">{tables.trades_table(r.trades)}</div>'
    )


def _tearsheet_section(r: BacktestResult) -> str:
    benchmark = r.benchmarks.get(BUY_AND_HOLD)
    against = "against BTC buy-and-hold" if benchmark is not None else "without a benchmark"
    intro = (
        f"<p>quantstats {against}, {PERIODS_PER_YEAR} periods per year, risk-free rate 0, "
        "over every day of the run.</p>"
    )
    if benchmark is None:
        intro += f'<p class="note">The run has no <code>{BUY_AND_HOLD}</code> benchmark.</p>'
    try:
        body = tearsheet_html(
            r.returns, benchmark, strategy_label=r.strategy, benchmark_label=BUY_AND_HOLD
        )
    except TearsheetError as exc:
        warnings.warn(f"tear sheet left out: {exc}", TearsheetWarning, stacklevel=3)
        body = f'<p class="error">The quantstats tear sheet could not be rendered: {esc(exc)}</p>'
    return intro + body


def _provenance_section(r: BacktestResult) -> str:
    config = r.config or r.provenance.get("config") or {}
    values = provenance.merged(r.provenance, config)
    return (
        tables.key_value_table(values, css_class="provenance", value_header="value")
        + "<h3>Configuration (as run)</h3>"
        + tables.config_block(config)
    )


def _episodes_section(study: EpisodeStudy) -> str:
    e = study.episodes
    in_state = int(e["days"].sum()) if len(e) else 0
    intro = (
        f"<p>Every run of days on which the entry signal <code>{esc(study.signal)}</code> "
        f"(cost model <code>{esc(study.model)}</code>, the run's parameters) was on: "
        f"{len(e)} episode{'s' if len(e) != 1 else ''}, {in_state:,} days in the state. "
        "Forward returns run from the close of the first day; drawdown before recovery is the "
        "worst close before the close first regained the start close. Forward returns and "
        "drawdowns are outcomes measured after the start (they use later prices), not signals; "
        "a dash where the data end.</p>"
    )
    if not len(e):
        episodes = '<p class="note">The entry signal was never on in this period.</p>'
    else:
        means = ", ".join(
            f"{h} d {e[f'fwd_{h}d'].mean():+.1%} (n={e[f'fwd_{h}d'].notna().sum()})"
            for h in study.horizons
            if e[f"fwd_{h}d"].notna().any()
        )
        episodes = f'<div class="trades-wrap">{_display_table(episode_display(study))}</div>'
        episodes += f"<p>Mean forward return over the episodes: {esc(means or 'none yet')}.</p>"
    return (
        intro + episodes + "<h3>Unconditional: forward returns over all days, by halving cycle</h3>"
        f"<p>The mean forward return over every day of the run with a {study.size:.0%} "
        "stationary-bootstrap interval of the mean (mean block length = the horizon, seeded): "
        "compare an episode with its own cycle's row. ~windows is days / horizon, about the "
        "number of independent windows.</p>" + _display_table(unconditional_display(study))
    )


def _display_table(frame: pd.DataFrame) -> str:
    """A table of display strings: dates and labels left, numbers right-aligned."""
    text = ("start", "end", "cycle", "recovered")
    rows = [
        [(v, "text" if c in text else "number") for c, v in r.items()]
        for r in frame.to_dict("records")
    ]
    return tables.html_table(frame.columns, rows, css_class="episodes")


def page(
    title: str,
    subtitle: str,
    sections: Sequence[tuple[str, str, str]],
    *,
    css: str = "",
    lead: str = "",
    charts: bool = True,
) -> str:
    """A whole report page: ``sections`` are (id, heading, body HTML), in order, with a TOC.

    ``charts=False`` leaves plotly.js out (about 4.5 MB) for a page without a chart.

    ``title`` is plain text (escaped here); ``subtitle`` and ``lead`` (shown under the table of
    contents, e.g. a verdict) are HTML the caller has escaped. Raises `ReportError` if the page
    would reference anything outside itself.
    """
    toc = " ".join(f'<a href="#{sid}">{esc(heading)}</a>' for sid, heading, _ in sections)
    body = "\n".join(
        f'<section id="{sid}">\n<h2>{esc(heading)}</h2>\n{html}\n</section>'
        for sid, heading, html in sections
    )
    scripts = (
        "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f'<script type="text/javascript">{plotly_js()}</script>\n'
        if charts
        else ""
    )
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(CONTENT_SECURITY_POLICY)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="costbt">
<title>{esc(title)}</title>
<link rel="icon" href="data:,">
<style>{CSS}{css}</style>
{scripts}</head>
<body>
<main>
<header>
<h1>{esc(title)}</h1>
<p class="subtitle">{subtitle}</p>
<nav class="toc">{toc}</nav>{lead}
</header>
{body}
</main>
</body>
</html>
"""
    outside = find_external_references(document)
    if outside:
        raise ReportError(f"report would reference outside itself: {outside[:5]}")
    return document


def write_page(document: str, path: str | Path) -> Path:
    """Write ``document`` to ``path`` atomically (`data.atomic_files`); parents are created."""
    from costbt.data import atomic_files

    return atomic_files.write_text(path, document)


def render_report(
    result: BacktestResult, episodes: EpisodeStudy | None = None, attribution=None
) -> str:
    """The whole report as one HTML document (see the module docstring).

    ``episodes`` (`backtest.episodes.run_episode_study`) adds the section "Episodes of the entry
    signal" after the trades; None (a strategy without a cost signal) leaves it out.
    ``attribution`` (`backtest.attribution.run_attribution`, for confluence) adds "What each
    member adds" after them: every member removed and alone, on the same span.

    Raises:
        ReportError: the page would reference something outside itself.
    """
    r = normalise_result(result)
    title = r.title or f"{r.strategy} backtest"
    bodies = {
        "price-cost": price_cost_section(r),
        "benchmarks": _benchmarks_section(r),
        "trades": _trades_section(r),
        "parameters": tables.key_value_table(r.params, css_class="params", value_header="value"),
        "tearsheet": _tearsheet_section(r),
        "provenance": _provenance_section(r),
    }
    sections = []
    for sid, heading in SECTIONS:
        sections.append((sid, heading, bodies[sid]))
        if sid == "trades" and episodes is not None:
            sections.append((*EPISODES_SECTION, _episodes_section(episodes)))
        if sid == "trades" and attribution is not None:
            from costbt.reports.attribution_html import attribution_section

            body = attribution_section(attribution, css_class="episodes")
            sections.append((*ATTRIBUTION_SECTION, body))
    subtitle = (
        f"Strategy <code>{esc(r.strategy)}</code> &middot; {esc(_period(r.returns))}\n"
        f"&middot; annualised over {PERIODS_PER_YEAR} days"
    )
    return page(title, subtitle, sections)


def write_report(
    result: BacktestResult,
    path: str | Path,
    episodes: EpisodeStudy | None = None,
    attribution=None,
) -> Path:
    """Render ``result`` and write it to ``path`` atomically (temp file, then rename).

    Parent folders are created. Returns the path written.
    """
    extras = {
        k: v for k, v in (("episodes", episodes), ("attribution", attribution)) if v is not None
    }
    document = render_report(result, **extras)
    return write_page(document, path)
