"""``costbt claims FILE.toml``: replay an article's dated claims against the bundled data.

Thin: read the file (`backtest.claims.read_claims`; a malformed file is one line naming the file
and the key, exit 2), check every claim as the data stood on its day, print the table and the
count of verdicts, optionally write a page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import prepare_report_folder
from costbt.backtest.cli.console import fail, out, reports_bad_input


def register(app: typer.Typer) -> None:
    @app.command("claims")
    @reports_bad_input
    def claims_cmd(
        file: Annotated[
            Path,
            typer.Argument(
                help="TOML file of dated claims (see examples/claims/).", show_default=False
            ),
        ],
        report: Annotated[
            Path | None, typer.Option("--report", help="Write a self-contained HTML page here.")
        ] = None,
    ) -> None:
        """Check an article's dated claims against the data cut at each claim's day:
        reproduced, differs, or cannot be checked (and why)."""
        from rich.table import Table

        from costbt.backtest import claims as cl

        try:
            parsed = cl.read_claims(file)
        except cl.ClaimsError as exc:
            raise fail(str(exc)) from None
        prepare_report_folder(report)
        checks = cl.check_claims(parsed)
        shown = cl.display(checks)
        t = Table(title=f"{parsed.title}", title_justify="left", caption=parsed.source or None)
        for col in shown.columns:
            t.add_column(
                col, justify="right" if col in ("stated", "project", "difference") else "left"
            )
        for _, row in shown.iterrows():
            t.add_row(*(str(v) for v in row))
        out.print(t)
        out.print(f"verdicts: {cl.summary(checks)}", highlight=False)
        out.print(f"note: {cl.VINTAGE_NOTE}", highlight=False)
        if report is not None:
            from costbt.reports.claims_html import write_claims_report

            path = write_claims_report(parsed, checks, report)
            out.print(f"report written to {path.resolve()}", highlight=False)
