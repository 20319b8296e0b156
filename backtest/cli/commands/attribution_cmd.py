"""``costbt attribution``: the confluence with all members, each removed and each alone.

    costbt attribution [--strategy confluence] [--param NAME=VALUE ...] [--start D] [--end D]
        [--report PATH]

Thin: parse, `backtest.attribution.run_attribution`, record the variants in the ledger, print
the table and what each member adds, write the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import (
    load_traded_panel,
    parse_day,
    prepare_report_folder,
    refuse_fees_without_data,
    value_flag,
)
from costbt.backtest.cli.console import err, fail, out, reports_bad_input

#: Strategies made of members that attribution can switch off one by one.
ATTRIBUTABLE = ("confluence",)


def register(app: typer.Typer) -> None:
    @app.command("attribution")
    @reports_bad_input
    def attribution_cmd(
        strategy: Annotated[
            str,
            typer.Option("--strategy", help="Strategy with members: confluence."),
        ] = "confluence",
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                help="TOML config (strategy, start, end, [params], [engine]); flags win.",
            ),
        ] = None,
        param: Annotated[
            list[str] | None,
            typer.Option(
                "--param", help="Override NAME=VALUE (strategy or engine parameter); repeatable."
            ),
        ] = None,
        start: Annotated[str | None, typer.Option("--start", help="First day (UTC date).")] = None,
        end: Annotated[str | None, typer.Option("--end", help="Last day (UTC date).")] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="Write a self-contained HTML page here.")
        ] = None,
        title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
    ) -> None:
        """What each confluence member adds: all members, each removed, each alone, on the same
        span against buy-and-hold."""
        from rich.table import Table

        from costbt.backtest.config import resolve
        from costbt.backtest.engine import EngineConfig
        from costbt.signals.params import ParamError
        from costbt.strategies import STRATEGIES

        if strategy not in ATTRIBUTABLE:
            known = ", ".join(ATTRIBUTABLE)
            hint = "" if strategy not in STRATEGIES else " (it has no members to remove)"
            raise fail(f"--strategy: cannot attribute '{strategy}'{hint}; known: {known}")
        from costbt.backtest.cli.commands.options import run_config

        _, merged, file_cfg = run_config(config, strategy, param)
        start = file_cfg.get("start") if start is None else start
        end = file_cfg.get("end") if end is None else end
        try:
            run = resolve(strategy, {}, merged, STRATEGIES, EngineConfig)
        except ParamError as exc:
            raise fail(f"{value_flag(str(exc), config, param)}: {exc}") from None
        first = parse_day("--start", start)
        last = parse_day("--end", end)
        if first is not None and last is not None and last <= first:
            raise fail(f"--end: {last.date()} is not after --start {first.date()}")
        prepare_report_folder(report)
        from costbt.backtest import ledger

        ledger.check()  # the variants are recorded there: a damaged ledger refuses the run first
        panel, shown, shown_last = load_traded_panel(first, last)
        refuse_fees_without_data(panel, getattr(run.params, "include_fees", False))
        err.print(
            f"attribution of {strategy}: trading {shown.date()} .. {shown_last.date()}, members "
            f"{'+'.join(run.params.members)} ...",
            highlight=False,
        )
        from costbt.backtest.attribution import run_attribution

        try:
            result = run_attribution(panel, run.params, run.engine, start=first)
        except ValueError as exc:
            raise fail(str(exc)) from None
        data = ledger.data_ref(panel)
        ledger.record(
            strategy,
            "attribution",
            result.configurations,
            data,
            {"members": list(run.params.members), "start": str(result.first.date())},
        )
        tried = ledger.trials(strategy, data.key)

        shown_table = result.display()
        t = Table(
            title=f"Attribution of {strategy}: {result.first.date()} .. {result.last.date()}",
            title_justify="left",
        )
        t.add_column("variant", no_wrap=True)
        for col in shown_table.columns:
            t.add_column(col, justify="left" if col == "flag" else "right")
        for label, row in shown_table.iterrows():
            t.add_row(str(label), *map(str, row))
        out.print(t)
        for line in [*result.member_lines(), *result.notes()]:
            out.print(line, highlight=False)
        out.print(f"verdict: {result.verdict()}", highlight=False)
        out.print(
            f"ledger: {tried:,} configurations tried for {strategy} on data {data.label} "
            f"({data.key}) so far",
            highlight=False,
        )
        if report is not None:
            from costbt.backtest.engine import provenance
            from costbt.reports.attribution_html import write_attribution_report

            record = provenance({"strategy": strategy, "command": "attribution"}, run.engine.seed)
            path = write_attribution_report(
                result, report, ledger_trials=tried, provenance=record, title=title
            )
            out.print(f"report written to {path.resolve()}", highlight=False)
