"""The attribution page (``costbt attribution --report``): what each confluence member adds.

`render_attribution_report` takes a `backtest.attribution.Attribution`. The page holds, in order:

1. the **verdict** under the table of contents: the best variant's Sharpe against buy-and-hold's
   on the same days (`Attribution.verdict`);
2. **Variants** (`attribution_section`): every variant (all members, each removed, each alone)
   and buy-and-hold on one span, with the same metrics, exposure, trades, entry-rule share and
   coverage, and one sentence per member on what removing it changes;
3. **Equity**: every variant's equity and buy-and-hold's, log/linear switch;
4. **Provenance**: the run's provenance, the ledger count and the parameters as JSON.

Self-contained and escaped like every report (`reports.html.page`); written atomically.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from costbt.reports import charts, tables
from costbt.reports.html import page, write_page
from costbt.reports.study_html import STUDY_CSS, chart, provenance_section
from costbt.reports.tables import esc

SECTIONS = (
    ("variants", "Variants on the same span"),
    ("equity", "Equity of every variant"),
    ("provenance", "Provenance"),
)
EQUITY_ID = "attribution-equity"
NUMERIC = {"k", "return", "CAGR", "Sharpe", "max DD", "exposure", "trades"}
NUMERIC |= {"entry share", "coverage"}


def attribution_section(a, css_class: str = "top-trials") -> str:
    """The variants table and the per-member sentences (HTML, escaped); also a section of the
    confluence backtest report (`reports.html.render_report`)."""
    shown = a.display()
    shown.insert(0, "members", a.table["members"])
    headers = ["variant", *shown.columns]
    rows = [
        [(str(label), "text")]
        + [(str(v), "number" if c in NUMERIC else "text") for c, v in r.items()]
        for label, r in shown.iterrows()
    ]
    lines = "".join(f"<li>{esc(line)}</li>" for line in [*a.member_lines(), *a.notes()])
    return (
        f"<p>Traded {esc(tables.format_time(a.first))} to {esc(tables.format_time(a.last))}, "
        "every variant on the same days with the same engine and the same exit (the below-cost "
        "exit, kept when cost leaves the entry vote); only the entry vote differs. "
        "<em>entry share</em>: days the entry rule was on, of the days it was known; "
        "<em>coverage</em>: days it was known, of the traded days; a member without data is "
        f"counted as the strategy's <code>unknown</code> policy says "
        f"(<code>{esc(a.params.unknown)}</code>).</p>"
        + tables.html_table(headers, rows, css_class=css_class)
        + f"<ul>{lines}</ul>"
        + f'<p class="note">{a.configurations} configurations evaluated, in sample, not '
        "deflated: a member that seems to add here is a lead for walk-forward, not a result.</p>"
    )


def equity_figure(a):
    """Every variant's equity against buy-and-hold's (log scale by default)."""
    others = {c: a.equity[c] for c in a.equity.columns if c != "all"}
    return charts.equity_figure(a.equity["all"], "all members", others)


def render_attribution_report(
    a, *, ledger_trials: int, provenance: dict | None = None, title: str | None = None
) -> str:
    """The whole attribution page as one HTML document (see the module docstring)."""
    record = {**(provenance or {}), "ledger_trials": int(ledger_trials)}
    settings = {"strategy": "confluence", "params": asdict(a.params)}
    bodies = {
        "variants": attribution_section(a),
        "equity": chart(equity_figure(a), EQUITY_ID),
        "provenance": provenance_section(record, settings),
    }
    sections = [(sid, heading, bodies[sid]) for sid, heading in SECTIONS]
    lead = f'<p class="verdict {esc(a.regime)}"><strong>Verdict:</strong> {esc(a.verdict())}</p>'
    subtitle = (
        f"Strategy <code>confluence</code> &middot; members "
        f"<code>{esc('+'.join(a.params.members))}</code> &middot; {a.configurations} variants "
        f"&middot; ledger {int(ledger_trials):,}"
    )
    return page(
        title or "costbt attribution: confluence", subtitle, sections, css=STUDY_CSS, lead=lead
    )


def write_attribution_report(a, path: str | Path, **kwargs) -> Path:
    """Render the attribution page and write it to ``path`` atomically; returns the path."""
    return write_page(render_attribution_report(a, **kwargs), path)


__all__ = ["attribution_section", "render_attribution_report", "write_attribution_report"]
