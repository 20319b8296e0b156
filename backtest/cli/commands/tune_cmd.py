"""``costbt tune``: an Optuna study over a strategy's declared space (TPE, seeded, resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import (
    MAX_SEED,
    WritableCacheDir,
    load_traded_panel,
    parse_day,
    prepare_report_folder,
    refuse_fees_without_data,
    setting_flag,
    wants_fees,
)
from costbt.backtest.cli.console import cell, err, fail, out, reports_bad_input

#: Settings whose flag is not their name with dashes.
_RENAMES = {"study_name": "--study"}


def register(app: typer.Typer) -> None:
    @app.command("tune")
    @reports_bad_input
    def tune_cmd(
        strategy: Annotated[
            str | None,
            typer.Option(
                "--strategy",
                help="Strategy to tune: a built-in, FILE.py:NAME, module:NAME or a plugin "
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
        n_trials: Annotated[
            int | None,
            typer.Option("--n-trials", help="Trials to add to the study (>= 1; default 100)."),
        ] = None,
        total: Annotated[
            int | None,
            typer.Option(
                "--total",
                help="Instead of --n-trials: run until the study has this many finished trials "
                "in all (a rerun completes an interrupted study).",
            ),
        ] = None,
        objective: Annotated[
            str,
            typer.Option(
                "--objective",
                help="Metric to maximise: sharpe, cagr, total_return, final_equity, max_drawdown.",
            ),
        ] = "sharpe",
        storage: Annotated[
            str | None,
            typer.Option(
                "--storage",
                help="Database URL (sqlite:///, postgresql://, mysql://) or a journal file path "
                "(default: <cache dir>/optuna/<study>.log).",
            ),
        ] = None,
        study: Annotated[
            str | None,
            typer.Option("--study", help="Study name (default: <strategy>-<objective>)."),
        ] = None,
        jobs: Annotated[
            int, typer.Option("--jobs", help="Worker processes sharing the study (>= 1).")
        ] = 1,
        seed: Annotated[
            int, typer.Option("--seed", help="Seed of the TPE sampler.", min=0, max=MAX_SEED)
        ] = 0,
        min_trades: Annotated[
            int,
            typer.Option("--min-trades", help="Trials with fewer trades are infeasible."),
        ] = 3,
        include: Annotated[
            list[str] | None,
            typer.Option(
                "--include",
                help="Parameters to search (repeatable or comma-separated; default: the "
                "trading rule entry_ratio, confirm_days, exit_ratio).",
            ),
        ] = None,
        param: Annotated[
            list[str] | None,
            typer.Option("--param", help="Fixed NAME=VALUE for every trial."),
        ] = None,
        search_assumptions: Annotated[
            bool,
            typer.Option(
                "--search-assumptions",
                help="Also fit cost assumptions (power_price, efficiency_scale, pue by default; "
                "any named in --include). Off: they are beliefs, held at their defaults or "
                "--param values; explore them with costbt sweep.",
            ),
        ] = False,
        allow_degenerate: Annotated[
            bool,
            typer.Option(
                "--allow-degenerate",
                help="Keep trials that never trade or are indistinguishable from buy-and-hold "
                "feasible (rejected by default).",
            ),
        ] = False,
        start: Annotated[str | None, typer.Option("--start", help="First day (UTC date).")] = None,
        end: Annotated[str | None, typer.Option("--end", help="Last day (UTC date).")] = None,
        top: Annotated[int, typer.Option("--top", help="Trials to list at the end.")] = 10,
        report: Annotated[
            Path | None,
            typer.Option(
                "--report",
                help="After the run, write a self-contained HTML report of the study here "
                "(history, importances, top trials, best vs buy-and-hold, DSR/PBO/SPA verdict).",
            ),
        ] = None,
        cache_dir: WritableCacheDir = None,
    ) -> None:
        """Search the strategy's parameters with Optuna; print the best and the top trials."""
        from costbt.backtest import ledger, tuning
        from costbt.backtest.cli.commands.options import run_config
        from costbt.backtest.degenerate import LABELS
        from costbt.backtest.storage_urls import redact, scrub

        strategy, fixed, file_cfg = run_config(config, strategy, param)
        start = file_cfg.get("start") if start is None else start
        end = file_cfg.get("end") if end is None else end

        if n_trials is not None and total is not None:
            raise fail("--n-trials and --total are mutually exclusive: give one of them")
        if top < 0:
            raise fail("--top: must be at least 0")
        names = None
        if include:
            names = [n.strip() for item in include for n in item.split(",") if n.strip()]
        try:
            checked = tuning.check_study(
                strategy,
                n_trials,
                objective,
                storage,
                study,
                jobs=jobs,
                min_trades=min_trades,
                include=names,
                fixed=fixed,
                cache_dir=cache_dir,
                total=total,
                search_assumptions=search_assumptions,
            )
        except tuning.TuningError as exc:
            code = 1 if isinstance(exc, tuning.StorageUnavailable) else 2
            raise fail(
                f"{setting_flag(exc, config, param, {'study_name': '--study'}, '--strategy')}: {exc}",
                code=code,
            ) from None
        name, spec, searched = checked.study_name, checked.storage, checked.include
        ledger.check()  # the study is counted there: a damaged ledger refuses the run first
        first, last = parse_day("--start", start), parse_day("--end", end)
        prepare_report_folder(report)

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Table

        # Signals see all history before --start (warm trailing windows); trading is limited
        # to --start..--end (backtest.evaluator). Nothing after --end is loaded.
        panel, _, _ = load_traded_panel(first, last)
        fee_flag = "--include" if "include_fees" in searched else "--param"
        refuse_fees_without_data(panel, wants_fees(fixed, searched), fee_flag)
        goal = (
            f"up to {total:,} trials in all" if total is not None else f"{n_trials or 100:,} trials"
        )
        err.print(
            f"tuning {strategy}: {goal} maximising {objective}, study '{name}' "
            f"({redact(spec)}), {jobs} worker(s)",
            highlight=False,
        )
        bar = Progress(
            TextColumn("tune"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials  best {task.fields[best]}"),
            TimeElapsedColumn(),
            console=err,
        )
        state = {"task": None, "n": n_trials or 100}

        def on_start(plan) -> None:
            # The study is open, dead workers' trials are failed: say what is there, what comes.
            state["n"] = plan.n_trials
            line = f"study '{name}': {plan.before:,} finished trial(s) already"
            if plan.total is not None:
                line += (
                    f"; adding {plan.n_trials:,} to reach --total {plan.total:,}"
                    if plan.n_trials
                    else f"; --total {plan.total:,} already reached, nothing to add"
                )
            err.print(line, highlight=False)
            if plan.stale:
                numbers = ", ".join(f"#{n}" for n in plan.stale)
                err.print(
                    f"marked {len(plan.stale)} stale running trial(s) from dead workers as "
                    f"failed ({numbers})",
                    highlight=False,
                )
            # The bar starts once the study is open: a span without signal data, a study run
            # with other settings, ... end in one line before it shows.
            bar.start()
            state["task"] = bar.add_task("tune", total=plan.n_trials, best="-")

        def best_text(s) -> str:
            t = tuning.best_trial(s)
            return "-" if t is None else f"{t.value:.4g} (#{t.number})"

        def on_trial(s, _trial) -> None:
            bar.update(state["task"], advance=1, best=best_text(s))

        base = {"n": None}

        def poll(s) -> None:
            # Several workers: count the study's finished trials since the start (this run's).
            from optuna.trial import TrialState

            done = (TrialState.COMPLETE, TrialState.FAIL)
            n = len(s.get_trials(deepcopy=False, states=done))
            if base["n"] is None:
                base["n"] = n
            completed = min(n - base["n"], state["n"])
            bar.update(state["task"], completed=completed, best=best_text(s))

        try:
            try:
                result = tuning.run_study(
                    panel,
                    strategy,
                    n_trials,
                    objective,
                    storage=spec,
                    study_name=name,
                    seed=seed,
                    jobs=jobs,
                    min_trades=min_trades,
                    include=names,
                    fixed=fixed,
                    cache_dir=cache_dir,
                    period=(first, last),
                    callbacks=(on_trial,) if jobs == 1 else (),
                    poll=poll if jobs > 1 else None,
                    total=total,
                    on_start=on_start,
                    search_assumptions=search_assumptions,
                    allow_degenerate=allow_degenerate,
                )
            finally:
                bar.stop()
        except tuning.TuningError as exc:
            raise fail(
                f"{setting_flag(exc, config, param, {'study_name': '--study'}, '--strategy')}: {exc}"
                if exc.field
                else str(exc)
            ) from None
        except KeyboardInterrupt:
            raise fail(
                f"interrupted: the finished trials are kept in {redact(spec)}; rerun to continue",
                code=130,
            ) from None
        except RuntimeError as exc:
            raise fail(scrub(str(exc), spec), code=1) from None

        s = result.study
        best = tuning.best_trial(s)
        out.print(
            f"study '{name}': {len(s.trials):,} trials in all; this run {result.completed:,} "
            f"completed, {result.failed:,} failed"
            + (
                f"; {len(result.stale):,} stale running trial(s) from dead workers marked failed"
                if result.stale
                else ""
            ),
            highlight=False,
        )
        a, b = result.period
        out.print(
            f"traded period {a.date()} .. {b.date()} (the days the entry rule is known, within "
            "--start/--end)",
            highlight=False,
        )
        if search_assumptions:
            out.print(
                "note: cost assumptions were searched (--search-assumptions): the thesis was not "
                "held fixed",
                highlight=False,
            )
        flagged = tuning.flag_counts(s, result.run)
        if flagged:
            out.print(
                "degenerate trials this run: "
                + ", ".join(f"{n:,} {LABELS[k]}" for k, n in flagged.items())
                + (" (kept feasible: --allow-degenerate)" if allow_degenerate else " (infeasible)"),
                highlight=False,
            )
        if best is None:
            out.print(
                f"no feasible trial yet (none with at least {min_trades} trades"
                + ("" if allow_degenerate else " that is not degenerate")
                + ")"
            )
        else:
            out.print(f"best {objective} {best.value:.4g} (trial #{best.number}):", highlight=False)
            for k, v in best.params.items():
                out.print(f"  {k} = {v:.6g}" if isinstance(v, float) else f"  {k} = {v}")
        rows = tuning.top_trials(s, top)
        if rows:
            cols = list(rows[0].params)
            metrics = ["sharpe", "cagr", "total_return", "max_drawdown", "trades", "exposure"]
            metrics += ["entry_share"]
            t = Table(title=f"Top {len(rows)} feasible trials by {objective}", title_justify="left")
            for c in ["#", *cols, *metrics, "exits", "flag"]:
                t.add_column(c, justify="right")
            for tr in rows:
                cells = [str(tr.number)]
                for c in cols:
                    v = tr.params.get(c)
                    cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
                for m in metrics:
                    v = tuning.trial_metrics(tr).get(m)
                    cells.append(cell(m, float("nan") if v is None else float(v)))
                from costbt.backtest.result import exits_text  # pandas: not at start-up
                cells.append(exits_text(tuning.trial_metrics(tr)))
                cells.append(cell("flag", tuning.trial_tags(tr).get("flag")))
                t.add_row(*cells)
            out.print(t)
        data = ledger.data_ref(panel)
        tried = ledger.trials(strategy, data.key)
        out.print(
            f"ledger: {tried:,} configurations tried for {strategy} on data {data.label} "
            f"({data.key}) so far",
            highlight=False,
        )
        if report is not None:
            from costbt.backtest.evaluation import evaluator_for
            from costbt.reports.study_html import write_study_report

            try:
                path = write_study_report(
                    s,
                    report,
                    evaluator=evaluator_for(panel, strategy),
                    ledger_trials=tried,
                    storage=spec,
                    provenance={"seed": seed, "command": "costbt tune"},
                )
            except OSError as exc:
                raise fail(f"--report: cannot write {report}: {exc.strerror or exc}") from None
            out.print(f"report written to {path.resolve()}", highlight=False)
