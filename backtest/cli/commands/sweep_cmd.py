"""``costbt sweep``: every combination of a parameter grid, top N, results, verification, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import (
    MAX_SEED,
    check_output_folder,
    load_strategy,
    load_traded_panel,
    parse_day,
    refuse_fees_without_data,
    run_config,
    value_flag,
    wants_fees,
)
from costbt.backtest.cli.console import cell, err, fail, out, reports_bad_input
from costbt.data.errors import DataError


def sweep_notes(results) -> list[str]:
    """How many combinations tested nothing, and how much of the span had a signal."""
    from costbt.backtest.degenerate import BUY_AND_HOLD, NEVER_IN

    n = len(results)
    never = int((results["flag"] == NEVER_IN).sum())
    bh = int((results["flag"] == BUY_AND_HOLD).sum())
    lines = [
        f"degenerate combinations: {never:,} of {n:,} never in (0 trades), {bh:,} "
        "indistinguishable from buy-and-hold (exposure >= 95 % or correlation with BTC >= 0.99)"
    ]
    coverage = results["signal_coverage"].dropna()
    if len(coverage) and coverage.min() < 1.0:
        lines.append(
            f"signal coverage: the entry rule is unknown on {1 - coverage.median():.1%} of the "
            "traded days for the median combination (its inputs do not cover them; no entry or "
            "exit is possible there)"
        )
    return lines


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    @reports_bad_input
    def sweep_cmd(
        strategy: Annotated[
            str | None,
            typer.Option(
                "--strategy",
                help="Strategy to sweep: a built-in, FILE.py:NAME, module:NAME or a plugin "
                "(default: the config's, else below_cost).",
                show_default=False,
            ),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                help="TOML config (strategy, start, end, [params], [engine]); flags win.",
            ),
        ] = None,
        grid: Annotated[
            list[str] | None,
            typer.Option(
                "--grid", help="NAME=a:b:step, NAME=a,b,c or NAME=log:a:b:n (repeatable)."
            ),
        ] = None,
        param: Annotated[
            list[str] | None,
            typer.Option("--param", help="Fixed NAME=VALUE for every combination."),
        ] = None,
        metric: Annotated[
            str,
            typer.Option("--metric", help="Rank by: sharpe, cagr, total_return, max_drawdown ..."),
        ] = "sharpe",
        top: Annotated[
            int, typer.Option("--top", min=1, max=1000, help="Show and verify the best N.")
        ] = 20,
        sample: Annotated[
            int,
            typer.Option(
                "--verify-sample",
                min=0,
                max=1000,
                help="Also verify this many random combinations.",
            ),
        ] = 10,
        out_dir: Annotated[
            Path | None,
            typer.Option(
                "--out",
                help="Folder for results, chunks and the HTML page (default: "
                "<user data>/out/sweep-<strategy>, or $COSTBT_HOME/out/sweep-<strategy>).",
                show_default=False,
            ),
        ] = None,
        start: Annotated[str | None, typer.Option("--start", help="First day (UTC date).")] = None,
        end: Annotated[str | None, typer.Option("--end", help="Last day (UTC date).")] = None,
        chunk_size: Annotated[
            int, typer.Option("--chunk-size", min=1, max=1_000_000, help="Combinations per chunk.")
        ] = 100_000,
        max_combinations: Annotated[
            int, typer.Option("--max-combinations", min=1, help="Refuse larger grids unless --yes.")
        ] = 2_000_000,
        yes: Annotated[
            bool, typer.Option("--yes", help="Run a grid larger than --max-combinations.")
        ] = False,
        resume: Annotated[
            bool, typer.Option("--resume", help="Finish an interrupted sweep in --out.")
        ] = False,
        title: Annotated[
            str | None, typer.Option("--title", help="Title of the HTML page.")
        ] = None,
        seed: Annotated[
            int,
            typer.Option("--seed", help="Seed of the verification sample.", min=0, max=MAX_SEED),
        ] = 0,
    ) -> None:
        """Evaluate every combination of the grid (fast path), print the top N, write the results."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Table

        from costbt.backtest import fast
        from costbt.backtest.engine import EngineConfig
        from costbt.backtest.grid import GridError, grid_size, parse_axis
        from costbt.backtest.sweep import SweepError, SweepSpec, sweep_study
        from costbt.signals.params import ParamError, space

        strategy, merged, file_cfg = run_config(config, strategy, param)
        start = file_cfg.get("start") if start is None else start
        end = file_cfg.get("end") if end is None else end
        title = title or file_cfg.get("title")
        from costbt.strategies import STRATEGIES

        load_strategy(strategy)
        if out_dir is None:
            from costbt.data.user_dirs import outputs_dir

            out_dir = outputs_dir() / f"sweep-{STRATEGIES[strategy].name}"
        if metric not in fast.METRICS:
            raise fail(f"--metric: '{metric}' is not one of {', '.join(fast.METRICS)}")
        if not grid:
            raise fail("--grid: give at least one NAME=a:b:step")
        params = {p.name: p for p in (*space(STRATEGIES[strategy].params), *space(EngineConfig))}
        try:
            axes = [parse_axis(g, params) for g in grid]
        except GridError as exc:
            raise fail(str(exc)) from None
        names = [a.name for a in axes]
        if len(set(names)) != len(names):
            raise fail("--grid: a parameter is given twice")
        fixed = {}
        for name, value in merged.items():
            if name not in params:
                flag = value_flag(f"'{name}'", config, param)
                raise fail(f"{flag}: unknown parameter '{name}'")
            if name in names:
                flag = value_flag(f"'{name}'", config, param)
                raise fail(f"{flag}: '{name}' is also swept by --grid")
            try:
                fixed[name] = params[name].validate(value)
            except ParamError as exc:
                raise fail(f"{value_flag(str(exc), config, param)}: {exc}") from None
        n = grid_size(axes)
        from costbt.backtest.sweep import MAX_SWEEP_COMBINATIONS as sweep_limit

        # The kernel reproduces below_cost unless a value leaves it (price stops, the ribbon
        # confirmation, the perpetual): those rows run on the engine.
        leaves = {
            k
            for k, ok in fast.UNSUPPORTED.items()
            if any(v != ok for a in axes if a.name == k for v in a.values)
            or (k in fixed and fixed[k] != ok)
        }
        slow = not STRATEGIES[strategy].kernel or bool(leaves)
        if slow:
            max_combinations = min(max_combinations, 2_000)
            err.print(
                "note: price stops, ribbon confirmation and strategies other than below_cost run on the vectorbt engine (slow path)",
                highlight=False,
            )
        if n > sweep_limit:
            raise fail(
                f"--grid: {n:,.0f} combinations, more than {sweep_limit:,} (even with --yes): "
                "split the grid into several sweeps"
            )
        if n > max_combinations and not yes:
            raise fail(
                f"--grid: {n:,} combinations exceed --max-combinations {max_combinations:,}; add --yes to run them"
            )
        first, last = parse_day("--start", start), parse_day("--end", end)
        if first is not None and last is not None and last <= first:
            raise fail(f"--end: {last.date()} is not after --start {first.date()}")
        check_output_folder("--out", out_dir)
        # --start is the first traded day: signals see the history before it (warm), as in
        # costbt backtest; nothing after --end is read.
        spec = SweepSpec(
            strategy,
            tuple(axes),
            fixed,
            chunk_size,
            start=None if first is None else str(first.date()),
            end=None if last is None else str(last.date()),
        )

        panel, _, _ = load_traded_panel(first, last)
        swept = [a.name for a in axes if a.name == "include_fees" and any(a.values)]
        refuse_fees_without_data(panel, wants_fees(fixed, swept), "--param/--grid")
        err.print(
            f"sweeping {n:,} combinations of {strategy} in chunks of {chunk_size:,} -> {out_dir}",
            highlight=False,
        )
        bar = Progress(
            TextColumn("sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("combinations"),
            TimeElapsedColumn(),
            console=err,
        )
        try:
            with bar:
                task = bar.add_task("sweep", total=n)
                study = sweep_study(
                    panel,
                    spec,
                    out_dir,
                    metric=metric,
                    top=top,
                    verify_sample=sample,
                    seed=seed,
                    resume=resume,
                    on_chunk=lambda c, k: bar.advance(task, k),
                )
        except SweepError as exc:
            raise fail(str(exc)) from None
        except DataError as exc:  # a damaged file (sweep state, chunk, ledger): bad input
            raise fail(exc.message) from None
        except AssertionError as exc:
            raise fail(f"verification against vectorbt FAILED: {str(exc)[:2000]}", code=1) from None
        except ValueError as exc:  # a combination of --grid and --param values
            raise fail(f"--grid/--param: {exc}") from None
        except KeyboardInterrupt:
            raise fail(
                f"interrupted: completed chunks are kept in {out_dir}; rerun with --resume to finish",
                code=130,
            ) from None
        results, verified, tried = study.results, study.verified, study.ledger_trials
        best = study.best(top)
        t = Table(title=f"Top {len(best)} of {n:,} by {metric}", title_justify="left")
        cols = [
            *names,
            "sharpe",
            "cagr",
            "total_return",
            "max_drawdown",
            "trades",
            "exposure",
            "entry_share",
            "exits",
            "flag",
        ]
        for c in cols:
            t.add_column(c, justify="right")
        for _, row in best.iterrows():
            from costbt.backtest.result import exits_text  # pandas: not at start-up
            t.add_row(*(exits_text(row) if c == "exits" else cell(c, row[c]) for c in cols))
        out.print(t)
        for line in sweep_notes(results):
            out.print(line, highlight=False)
        if verified:
            out.print(
                f"verified {len(verified)} combinations against vectorbt (top {min(top, len(results))} + {len(verified) - min(top, len(results))} random): equal to 1e-9",
                highlight=False,
            )
        else:
            out.print(
                "evaluated by the vectorbt engine itself (no separate verification needed)",
                highlight=False,
            )
        out.print(
            f"results: {out_dir / 'results.parquet'} and results.csv; ledger: {tried:,} configurations tried for {strategy} on data {study.data_label} ({study.data_key}) so far",
            highlight=False,
        )
        a = study.assessment

        def num(value: float | None, spec: str = ".3f") -> str:
            return "n/a" if value is None or value != value else format(value, spec)

        first_day, last_day = study.span
        coverage = study.signal_coverage
        known = "" if coverage != coverage else f" (entry rule known on {coverage:.1%} of them)"
        out.print(
            f"deflated Sharpe ratio of the best against buy-and-hold: {num(a.dsr_vs_bh)} (Sharpe "
            f"{num(a.sharpe, '.2f')} vs {num(a.benchmark_sharpe, '.2f')} for buy-and-hold on the "
            f"same {a.n_obs:,} days, {first_day.date()} .. {last_day.date()}{known}, N = "
            f"{a.n_trials:,} configurations in the ledger): the probability that "
            "its true Sharpe beats buy-and-hold's plus what luck gives the best of N; against "
            f"zero (secondary): {num(a.dsr)}",
            highlight=False,
        )
        out.print(
            f"PBO {num(a.pbo)} ({a.pbo_note}); SPA p {num(a.spa_pvalue)} vs buy-and-hold",
            highlight=False,
        )
        out.print(f"verdict: {a.verdict}", highlight=False)
        from costbt.backtest.overfitting import cost_assumptions
        from costbt.reports.sweep_html import write_sweep_report

        assumptions = list(cost_assumptions(names))
        page = write_sweep_report(
            results,
            swept=names,
            assumptions=assumptions,
            metric=metric,
            top=top,
            path=out_dir / "sweep.html",
            title=title or f"costbt sweep: {strategy}",
            provenance={
                "combinations": n,
                "ledger_trials": tried,
                "ledger_data": f"{study.data_label} ({study.data_key})",
            },
            assessment=a,
            span=study.span,
            signal_coverage=coverage,
        )
        out.print(f"page: {page.resolve()}", highlight=False)
