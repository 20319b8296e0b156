"""The claims page (``costbt claims FILE --report``): an article's claims against the data.

The page holds the verdict count first, then one table row per claim (its source text, the
stated value, the project's value as the data stood on the day, the difference, the verdict and
why), then the file's provenance. Self-contained and escaped like every report
(`reports.html.page`); written atomically.
"""

from __future__ import annotations

from pathlib import Path

from costbt.reports import tables
from costbt.reports.html import page, write_page
from costbt.reports.study_html import STUDY_CSS, provenance_section
from costbt.reports.tables import esc

SECTIONS = (("claims", "Claims"), ("provenance", "Provenance"))
CLAIMS_CSS = """
td.reproduced{color:#1a9641;font-weight:600}td.differs{color:#d7191c;font-weight:600}
td.uncheckable{color:#7f7f7f;font-weight:600}
"""


def claims_table(checks) -> str:
    """One row per claim (HTML, escaped)."""
    from costbt.backtest.claims import UNCHECKABLE, display

    shown = display(checks)
    head = "".join(f"<th>{esc(h)}</th>" for h in ("claim", "text", *shown.columns[1:]))
    body = []
    for r, (_, row) in zip(checks, shown.iterrows(), strict=True):
        cls = "uncheckable" if r.verdict == UNCHECKABLE else r.verdict
        cells = [f"<td>{esc(row['claim'])}</td>", f"<td>{esc(r.claim.text)}</td>"]
        for col in shown.columns[1:]:
            extra = f' class="{cls}"' if col == "verdict" else ""
            cells.append(f"<td{extra}>{esc(row[col])}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="top-trials">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )


def render_claims_report(claims, checks) -> str:
    """The whole page as one HTML document (see the module docstring)."""
    from costbt.backtest.claims import VINTAGE_NOTE, summary
    from costbt.backtest.engine import provenance

    record = provenance({"command": "claims", "file": str(claims.path)}, 0)
    published = "-" if claims.published is None else tables.format_time(claims.published)
    bodies = {
        "claims": f"<p>Source: {esc(claims.source)}. Published {esc(published)}; every claim is "
        f"checked on the bundled data cut at that day: {esc(VINTAGE_NOTE)}. A "
        "relative tolerance is a fraction of the stated value; <em>closest model</em> never "
        "counts the bundled analyst estimates, which may be the claim itself.</p>"
        + claims_table(checks),
        "provenance": provenance_section(record, {"file": str(claims.path)}),
    }
    sections = [(sid, heading, bodies[sid]) for sid, heading in SECTIONS]
    lead = f'<p class="verdict"><strong>Claims:</strong> {esc(summary(checks))}</p>'
    return page(
        claims.title,
        esc(claims.source),
        sections,
        css=STUDY_CSS + CLAIMS_CSS,
        lead=lead,
        charts=False,
    )


def write_claims_report(claims, checks, path: str | Path) -> Path:
    """Render the claims page and write it to ``path`` atomically; returns the path."""
    return write_page(render_claims_report(claims, checks), path)


__all__ = ["claims_table", "render_claims_report", "write_claims_report"]
