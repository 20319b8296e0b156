"""``costbt walkforward``: tune on each training window, trade the next, stitch the test windows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import (
    MAX_SEED,
    load_traded_panel,
    parse_day,
    prepare_report_folder,
    refuse_fees_without_data,
    setting_flag,
    wants_fees,
)
from costbt.backtest.cli.console import err, fail, out, reports_bad_input


def _num(value, fmt: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


def _pct(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{100 * value:,.1f}%"


def _param(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def command_line(settings: dict, report: Path | None) -> str:
    """The canonical ``costbt walkforward`` command that reproduces a run (for provenance)."""
    parts = ["costbt", "walkforward", "--strategy", settings["strategy"]]
    if settings["by_halving"]:
        parts.append("--by-halving")
    else:
        parts += ["--train", settings["train"], "--test", settings["test"]]
        parts += ["--step", settings["step"]]
    if settings["anchored"]:
        parts.append("--anchored")
    parts += ["--embargo", settings["embargo"], "--n-trials", str(settings["n_trials"])]
    parts += ["--objective", settings["objective"], "--min-trades", str(settings["min_trades"])]
    parts += ["--min-train-days", str(settings["min_train_days"]), "--seed", str(settings["seed"])]
    parts += ["--include", ",".join(settings["include"])]
    if settings.get("search_assumptions"):
        parts.append("--search-assumptions")
    if settings.get("allow_degenerate"):
        parts.append("--allow-degenerate")
    for k, v in settings["fixed"].items():
        parts += ["--param", f"{k}={v}"]
    for flag in ("start", "end"):
        if settings[flag] is not None:
            parts += [f"--{flag}", settings[flag]]
    if report is not None:
        parts += ["--report", str(report)]
    return " ".join(parts)


def register(app: typer.Typer) -> None:
    @app.command("walkforward")
    @reports_bad_input
    def walkforward_cmd(
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
        train: Annotated[
            str | None,
            typer.Option("--train", help="Training window: 4y, 18m, 2w, 90d (default 4y)."),
        ] = None,
        test: Annotated[
            str | None,
            typer.Option("--test", help="Test (out-of-sample) window (default 1y)."),
        ] = None,
        step: Annotated[
            str | None,
            typer.Option(
                "--step", help="Start of one test window to the next (default: the test window)."
            ),
        ] = None,
        anchored: Annotated[
            bool,
            typer.Option("--anchored", help="Every training window starts at the first day."),
        ] = False,
        by_halving: Annotated[
            bool,
            typer.Option(
                "--by-halving",
                help="Each test window is a halving epoch, trained on the previous one "
                "(--train/--test/--step ignored).",
            ),
        ] = False,
        embargo: Annotated[
            str,
            typer.Option("--embargo", help="Gap between the training and the test window."),
        ] = "0d",
        n_trials: Annotated[
            int, typer.Option("--n-trials", help="Optuna trials per window (>= 1).")
        ] = 200,
        objective: Annotated[
            str,
            typer.Option(
                "--objective",
                help="Metric to maximise: sharpe, cagr, total_return, final_equity, max_drawdown.",
            ),
        ] = "sharpe",
        min_trades: Annotated[
            int,
            typer.Option("--min-trades", help="Trials with fewer training trades are infeasible."),
        ] = 1,
        min_train_days: Annotated[
            int,
            typer.Option(
                "--min-train-days", help="Skip windows with fewer days of prices to train on."
            ),
        ] = 365,
        seed: Annotated[
            int,
            typer.Option("--seed", help="TPE seed (window k uses seed + k).", min=0, max=MAX_SEED),
        ] = 0,
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
                help="Also fit cost assumptions in each window (off: they are beliefs, held at "
                "their defaults or --param values).",
            ),
        ] = False,
        allow_degenerate: Annotated[
            bool,
            typer.Option(
                "--allow-degenerate",
                help="Let windows choose trials that never trade or are indistinguishable from "
                "buy-and-hold (rejected by default).",
            ),
        ] = False,
        start: Annotated[
            str | None, typer.Option("--start", help="First day of the windows (UTC date).")
        ] = None,
        end: Annotated[
            str | None, typer.Option("--end", help="Last day of the windows (UTC date).")
        ] = None,
        report: Annotated[
            Path | None,
            typer.Option("--report", help="Write the walk-forward HTML report to this file."),
        ] = None,
    ) -> None:
        """Walk-forward: tune on each training window, trade the next one, stitch them and
        compare in-sample with out-of-sample and with buy-and-hold on the same days."""
        from costbt.backtest import ledger, tuning
        from costbt.backtest import walkforward as wf
        from costbt.backtest.cli.commands.options import run_config

        strategy, merged, file_cfg = run_config(config, strategy, param)
        start = file_cfg.get("start") if start is None else start
        end = file_cfg.get("end") if end is None else end
        # ---- every flag checked before any work (exit 2, one line naming the flag)
        first, last = parse_day("--start", start), parse_day("--end", end)
        names = None
        if include:
            names = [n.strip() for item in include for n in item.split(",") if n.strip()]
        train_text, test_text = train or "4y", test or "1y"
        try:
            settings = wf.check_settings(
                strategy,
                train_text,
                test_text,
                embargo=embargo,
                anchored=anchored,
                by_halving=by_halving,
                step=step,
                n_trials=n_trials,
                objective=objective,
                min_trades=min_trades,
                min_train_days=min_train_days,
                seed=seed,
                include=names,
                fixed=merged,
                start=first,
                end=last,
                search_assumptions=search_assumptions,
                allow_degenerate=allow_degenerate,
            )
        except wf.WalkForwardError as exc:
            raise fail(f"{setting_flag(exc, config, param, None, '--start')}: {exc}") from None
        prepare_report_folder(report)

        # Signals see all history before --start (warm trailing windows); nothing after --end
        # is loaded.
        panel, _, _ = load_traded_panel(first, last)
        fee_flag = "--include" if "include_fees" in settings.include else "--param"
        refuse_fees_without_data(panel, wants_fees(settings.fixed, settings.include), fee_flag)
        # The windows are planned, as the run plans them, on the days the entry rule is known.
        try:
            plan = wf.plan_walkforward(panel, settings)
        except wf.WalkForwardError as exc:
            raise fail(f"{setting_flag(exc, config, param, None, '--start')}: {exc}") from None
        left_out = plan.signal
        if left_out["days_after"] or left_out["days_before"]:
            err.print(
                f"note: the entry rule is known {left_out['signal_first'].date()} .. "
                f"{left_out['signal_last'].date()}: {left_out['days_before']:,} priced day(s) "
                f"before and {left_out['days_after']:,} after are left out of every window",
                highlight=False,
            )
        kept, skipped = plan.windows, plan.skipped

        # ---- the run
        if by_halving:
            ignored = [f for f, v in (("--train", train), ("--test", test), ("--step", step)) if v]
            if ignored:
                err.print(
                    f"note: {', '.join(ignored)} ignored with --by-halving "
                    "(each test window is a halving epoch)",
                    highlight=False,
                )
        for w, why in skipped:
            err.print(f"note: window {w.label} skipped: {why}", highlight=False)
        how = (
            "halving epochs" + (", anchored" if anchored else "")
            if by_halving
            else f"train {train_text}{' anchored' if anchored else ''}, test {test_text}"
        )
        err.print(
            f"walk-forward {strategy}: {len(kept)} window(s) ({how}, embargo {embargo}), "
            f"{n_trials:,} trials each maximising {objective}",
            highlight=False,
        )
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials"),
            TimeElapsedColumn(),
            console=err,
        )
        task = bar.add_task("walk-forward", total=len(kept) * n_trials)

        def on_window(done: int, total: int, message: str) -> None:
            bar.update(
                task,
                completed=done * n_trials,
                description=f"window {min(done + 1, total)}/{total}",
            )
            if message.endswith("tuning"):
                return
            bar.console.print(message, highlight=False)

        def on_trial(_study, _trial) -> None:
            bar.advance(task)

        try:
            with bar:
                result = wf.run_plan(panel, plan, progress=on_window, callbacks=(on_trial,))
        except wf.WalkForwardError as exc:
            raise fail(f"{setting_flag(exc, config, param, None, '--start')}: {exc}") from None
        except tuning.TuningError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail(
                "interrupted: the completed trials are counted in the ledger, no out-of-sample "
                "record",
                code=130,
            ) from None

        _print_result(result)
        data = ledger.data_ref(panel)
        total = ledger.trials(strategy, data.key)
        runs = len(ledger.walkforward_runs(strategy, data.key))
        out.print(
            f"ledger: {result.trials:,} trials recorded (kind walkforward); {total:,} "
            f"configurations tried for {strategy} on data {data.label} ({data.key}) so far, "
            f"{runs:,} finished walk-forward run(s)",
            highlight=False,
        )
        if report is not None:
            from datetime import UTC, datetime

            from costbt.backtest import provenance as prov
            from costbt.reports.walkforward_html import write_walkforward_report

            earlier = [
                r["oos_sharpe"]
                for r in ledger.walkforward_runs(strategy, data.key)
                if r["id"] != result.ledger_id and r.get("oos_sharpe") is not None
            ]
            path = write_walkforward_report(
                result,
                report,
                ledger_trials=total,
                walkforward_runs=max(runs, 1),
                walkforward_sharpes=earlier,
                evaluator=plan.evaluator,  # lets the report compute PBO
                provenance=prov.record(
                    seed=seed,
                    command=command_line(result.settings, report),
                    run_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ),
            )
            out.print(f"report: {Path(path).resolve()}", highlight=False)


def _print_result(result) -> None:
    """The per-window tables, the stitched summary against buy-and-hold, the efficiency."""
    from rich.table import Table

    from costbt.backtest.degenerate import LABELS, label
    from costbt.backtest.result import EXIT_CAUSES

    table = result.table()
    names = result.param_names()
    t = Table(title="Chosen parameters per window", title_justify="left")
    flat = bool((table["status"] != "tuned").any())
    for c in ["#", "train", "test", "trials", *names]:
        t.add_column(c, justify="right", no_wrap=c in ("train", "test"))
    if flat:
        t.add_column("status", no_wrap=True)
    for _, row in table.iterrows():
        train = f"{row.train_start.date()}..{row.train_end.date()}"
        test = f"{row.test_start.date()}..{row.test_end.date()}"
        tuned = row.status == "tuned"
        cells = [_param(row[k]) if tuned else "-" for k in names]
        if flat:
            cells.append("" if tuned else "no feasible trial")
        t.add_row(str(row.number), train, test, str(row.trials), *cells)
    out.print(t)

    t = Table(
        title="In-sample (train) against out-of-sample (test) per window",
        title_justify="left",
    )
    cols = [
        ("#", None),
        ("test", None),
        ("IS\nsharpe", "is_sharpe"),
        ("IS\nCAGR", "is_cagr"),
        ("IS\ntrades", "is_trades"),
        ("OOS\nsharpe", "oos_sharpe"),
        ("OOS\nCAGR", "oos_cagr"),
        ("OOS\nreturn", "oos_total_return"),
        ("OOS\nmax DD", "oos_max_drawdown"),
        ("OOS\ntrades", "oos_trades"),
        ("OOS\nexposure", "oos_exposure"),
        ("OOS\nentry on", "oos_entry_share"),
        ("OOS exits\n(end: forced)", "oos_exits"),
        ("B&H\nsharpe", "bh_sharpe"),
        ("B&H\nreturn", "bh_total_return"),
        ("flag", "flag"),
    ]
    for c, _ in cols:
        t.add_column(c, justify="right", no_wrap=True)
    percent = {
        "is_cagr",
        "oos_cagr",
        "oos_total_return",
        "oos_max_drawdown",
        "bh_total_return",
        "oos_exposure",
        "oos_entry_share",
    }
    counts = {"is_trades", "oos_trades"}
    for _, row in table.iterrows():
        cells = [str(row.number), f"{row.test_start.date()}..{row.test_end.date()}"]
        for _, key in cols[2:]:
            if key == "oos_exits":
                from costbt.backtest.result import exits_text  # pandas: not at start-up
                cells.append(exits_text(row, prefix="oos_exits_"))
                continue
            v = row[key]
            if key == "flag":
                cells.append(label(v))
            elif key in percent:
                cells.append(_pct(v))
            elif key in counts:
                cells.append("-" if v is None or not math.isfinite(v) else f"{int(v)}")
            else:
                cells.append(_num(v, ".2f"))
        t.add_row(*cells)
    out.print(t)

    s = result.summary()
    out.print(
        f"Stitched out-of-sample {s['start'].date()}..{s['end'].date()} ({s['days']:,} days) "
        "against buy-and-hold on the same days",
        highlight=False,
    )
    t = Table()
    for c in ("", "walk-forward OOS", "buy-and-hold"):
        t.add_column(c, justify="right")
    t.add_row("sharpe", _num(s["oos_sharpe"], ".2f"), _num(s["bh_sharpe"], ".2f"))
    t.add_row("CAGR", _pct(s["oos_cagr"]), _pct(s["bh_cagr"]))
    t.add_row("total return", _pct(s["oos_total_return"]), _pct(s["bh_total_return"]))
    t.add_row("max drawdown", _pct(s["oos_max_drawdown"]), _pct(s["bh_max_drawdown"]))
    t.add_row("exposure", _pct(s["oos_exposure"]), _pct(s["bh_exposure"]))
    t.add_row("final equity", f"{s['oos_final_equity']:,.0f}", f"{s['bh_final_equity']:,.0f}")
    out.print(t)
    if s["flat_windows"]:
        out.print(
            f"{s['flat_windows']} window(s) without a feasible trial held cash",
            highlight=False,
        )
    causes = ", ".join(
        f"{s[f'exits_{c}']:,} {c.replace('_', ' ')}" for c in EXIT_CAUSES if s[f"exits_{c}"]
    )
    out.print(
        f"out-of-sample exits by cause: {causes or 'none'} (end: a position closed at its "
        "window's last close, costs charged)",
        highlight=False,
    )
    if s["never_in_windows"]:
        out.print(
            f"{s['never_in_windows']} of {s['windows']} window(s) never entered the market out "
            "of sample (the chosen rule did not fire there)",
            highlight=False,
        )
    if s["buy_and_hold_windows"]:
        out.print(
            f"WARNING: {s['buy_and_hold_windows']} of {s['windows']} window(s) traded like "
            "buy-and-hold out of sample (indistinguishable from it: see the flag column)",
            highlight=False,
        )
    if s["oos_flag"] is not None:
        out.print(
            f"WARNING: the stitched out-of-sample record is {LABELS[s['oos_flag']]} (exposure "
            f"{_pct(s['oos_exposure'])}, correlation with BTC {_num(s['oos_market_corr'], '.3f')})"
            ": it does not test the signal",
            highlight=False,
        )
    sig = result.signal
    if sig.get("days_after") or sig.get("days_before"):
        out.print(
            f"signal: the entry rule is known {sig['signal_first'].date()} .. "
            f"{sig['signal_last'].date()}; {sig['days_before']:,} priced day(s) before and "
            f"{sig['days_after']:,} after are in no window (no signal there)",
            highlight=False,
        )
    if result.settings.get("search_assumptions"):
        out.print(
            "note: cost assumptions were searched in every window (--search-assumptions): the "
            "thesis was not held fixed",
            highlight=False,
        )
    out.print(
        f"mean IS sharpe {_num(s['mean_is_sharpe'], '.2f')}, mean OOS sharpe "
        f"{_num(s['mean_oos_sharpe'], '.2f')}",
        highlight=False,
    )
    out.print(
        f"walk-forward efficiency {_num(s['efficiency'], '.2f')} = OOS annualised return "
        f"{_pct(s['oos_annual_return'])} / IS annualised return {_pct(s['is_annual_return'])} "
        "(OOS-day-weighted mean of the chosen trials' training CAGR)",
        highlight=False,
    )
