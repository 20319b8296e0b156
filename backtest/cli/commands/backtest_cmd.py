"""``costbt backtest``: run a strategy and its benchmarks, print a summary, write the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.cost import parse_params
from costbt.backtest.cli.commands.options import (
    check_output_file,
    load_strategy,
    load_traded_panel,
    parse_day,
    refuse_fees_without_data,
    value_flag,
)
from costbt.backtest.cli.console import err, fail, out, reports_bad_input


def _fmt(metric: str, value: float) -> str:
    import math

    from costbt.reports.tables import COUNT_METRICS, PERCENT_METRICS

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if metric in PERCENT_METRICS:
        return f"{value:.1%}"
    if metric in COUNT_METRICS:
        return f"{value:.0f}"
    return f"{value:.2f}"


def register(app: typer.Typer) -> None:
    @app.command("backtest")
    @reports_bad_input
    def backtest_cmd(
        strategy: Annotated[
            str | None,
            typer.Option(
                "--strategy", help="below_cost, accumulation, confluence (or from --config)."
            ),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option("--config", help="TOML config ([params], [engine], title, start, end)."),
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
            Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
        ] = None,
        title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
        list_params: Annotated[
            bool,
            typer.Option(
                "--list-params", help="List the strategy's parameters and ranges, then exit."
            ),
        ] = False,
    ) -> None:
        """Backtest a strategy against buy-and-hold and weekly DCA on the point-in-time panel."""
        from rich.table import Table

        from costbt.backtest.config import read_toml, resolve
        from costbt.backtest.engine import EngineConfig
        from costbt.signals.params import ParamError, space
        from costbt.strategies import STRATEGIES

        try:
            file_cfg = read_toml(config) if config is not None else {}
            name = strategy or file_cfg.get("strategy")
            if isinstance(name, str):  # built-in, FILE.py:NAME, module:NAME or a plugin
                load_strategy(name, benchmarks=True, flag="--strategy" if strategy else "--config")
            if list_params:
                if name not in STRATEGIES:
                    raise ParamError(f"unknown strategy '{name}' (known: {', '.join(STRATEGIES)})")
                t = Table(title=f"Parameters of {name} (and the engine's)", title_justify="left")
                for col in ("name", "default", "range", "unit", "help"):
                    t.add_column(col)
                for p in (*space(STRATEGIES[name].params), *space(EngineConfig)):
                    rng = (
                        ", ".join(map(str, p.choices))
                        if p.choices
                        else ("-" if p.low is None else f"{p.low} .. {p.high}")
                    )
                    t.add_row(p.name, str(p.default), rng, p.unit, p.help)
                out.print(t)
                return
            run = resolve(strategy, file_cfg, parse_params(param), STRATEGIES, EngineConfig)
        except ParamError as exc:
            text = str(exc)
            if config is not None and str(config) in text:
                flag = "--config"  # the file itself (its path is in the message)
            elif "strategy" in text.split("'")[0]:
                flag = "--strategy"  # no strategy given, or an unknown one
            else:
                flag = value_flag(text, config, param)
            raise fail(f"{flag}: {exc}") from None
        first = parse_day("--start", run.start if start is None else start)
        last = parse_day("--end", run.end if end is None else end)
        if first is not None and last is not None and last <= first:
            raise fail(f"--end: {last.date()} is not after --start {first.date()}")
        check_output_file("--report", report)

        # --start is the first traded day: the signals also see the history before it (warm
        # trailing windows and expanding fits, as a trader had them); nothing after --end is read.
        panel, shown, shown_last = load_traded_panel(first, last)
        refuse_fees_without_data(panel, getattr(run.params, "include_fees", False))
        err.print(
            f"running {run.strategy}: trading {shown.date()} .. {shown_last.date()} (signals "
            f"warm on history from {panel.index.min().date()}) ...",
            highlight=False,
        )
        from costbt.backtest.engine import backtest, summary_table

        try:
            result = backtest(
                panel,
                run.strategy,
                run.params,
                run.engine,
                title=title or run.title,
                extra_config={
                    "start": str(first.date()) if first is not None else None,
                    "end": str(last.date()) if last is not None else None,
                    "source": run.source,
                },
                start=first,
            )
        except ValueError as exc:
            raise fail(str(exc)) from None
        table = summary_table(result)
        t = Table(
            title=f"{result.title}: {result.returns.index.min().date()} .. {result.returns.index.max().date()}",
            title_justify="left",
        )
        t.add_column("metric")
        for col in table.columns:
            t.add_column(col, justify="right")
        for metric, row in table.iterrows():
            t.add_row(metric, *(_fmt(metric, v) for v in row))
        out.print(t)
        for line in result.notes():
            out.print(line, highlight=False)
        if report is not None:
            from costbt.backtest.episodes import run_episode_study
            from costbt.reports.html import write_report

            # Strategies with a cost signal get the episode table of their entry signal, with the
            # run's parameters, signals warm on the history, episodes from --start (None for the
            # other strategies).
            episodes = run_episode_study(panel, run.strategy, run.params, start=first)
            attribution = None
            if run.strategy == "confluence":
                # What each member adds, on the same span (nine more configurations: counted).
                from costbt.backtest import ledger
                from costbt.backtest.attribution import run_attribution

                ledger.check()  # the variants are recorded there: refused before they run
                attribution = run_attribution(panel, run.params, run.engine, start=first)
                ledger.record(
                    run.strategy,
                    "attribution",
                    attribution.configurations,
                    ledger.data_ref(panel),
                    {"members": list(run.params.members), "from": "backtest --report"},
                )
            path = write_report(result, report, episodes, attribution)
            out.print(f"report written to {path.resolve()}", highlight=False)
