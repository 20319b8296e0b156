"""``costbt lookahead --strategy X``: prove a strategy point in time, or name its leak.

Thin: parse, `costbt.backtest.point_in_time.check_strategy`, print. Exit 0 when no leak is
found, 1 when one is (the proof failed; the leak is printed), 2 on bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import MAX_SEED, load_strategy, parse_day, value_flag
from costbt.backtest.cli.console import err, fail, out, reports_bad_input


def register(app: typer.Typer) -> None:
    @app.command("lookahead")
    @reports_bad_input
    def lookahead_cmd(
        strategy: Annotated[
            str | None,
            typer.Option(
                "--strategy",
                help="Built-in name, FILE.py:NAME, package.module:NAME or a plugin (default: the "
                "config's).",
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
        param: Annotated[
            list[str] | None,
            typer.Option("--param", help="Strategy parameter NAME=VALUE; repeatable."),
        ] = None,
        cutoffs: Annotated[
            int, typer.Option("--cutoffs", min=0, max=200, help="Random cutoff days to test.")
        ] = 6,
        at: Annotated[
            list[str] | None,
            typer.Option("--at", help="Also test this cutoff day; repeatable.", show_default=False),
        ] = None,
        seed: Annotated[
            int,
            typer.Option(
                "--seed", help="Seed of the cutoffs and perturbations.", min=0, max=MAX_SEED
            ),
        ] = 0,
    ) -> None:
        """Prove a strategy point in time: its decisions up to each cutoff must not change when
        the data ends there or when everything after it is perturbed; a leak is named."""
        from costbt.backtest.cli.commands.options import run_config
        from costbt.backtest.engine import EngineConfig
        from costbt.backtest.point_in_time import check_strategy
        from costbt.data.panel import load_panel
        from costbt.signals.params import ParamError, build, space

        strategy, merged, _ = run_config(config, strategy, param, default="")
        if not strategy:
            raise fail("--strategy: no strategy given (--strategy or 'strategy' in --config)")
        s = load_strategy(strategy)
        engine = {p.name for p in space(EngineConfig)}
        try:
            params = build(s.params, {k: v for k, v in merged.items() if k not in engine})
            # Engine values do not change a decision, but a bad one is still bad input.
            build(EngineConfig, {k: v for k, v in merged.items() if k in engine})
        except ParamError as exc:
            raise fail(f"{value_flag(str(exc), config, param)}: {exc}") from None
        panel = load_panel()
        days = [parse_day("--at", a) for a in at or []]
        for d in days:
            if not panel.index[0] < d < panel.index[-1]:
                raise fail(
                    f"--at: {d.date()} is outside the data ({panel.index[0].date()} .. "
                    f"{panel.index[-1].date()})"
                )
        if not cutoffs and not days:
            raise fail("--cutoffs: 0 and no --at: nothing to test")
        err.print(f"lookahead {strategy}: {cutoffs} random cutoff(s) + {len(days)} given ...")
        result = check_strategy(
            panel, strategy, params, n_cutoffs=cutoffs, cutoffs=tuple(days), seed=seed
        )
        shown = ", ".join(str(d.date()) for d in result.cutoffs)
        if result.point_in_time:
            out.print(
                f"point in time: at every cutoff ({shown}) the decisions up to it were identical "
                "with the data ending there and with everything after it perturbed",
                highlight=False,
            )
            return
        for leak in result.leaks:
            inputs = f"; moved by the future of {', '.join(leak.inputs)}" if leak.inputs else ""
            out.print(
                f"LEAK at cutoff {leak.cutoff.date()} ({leak.how}): "
                f"{leak.output if leak.column == leak.output else f'{leak.output}.{leak.column}'} "
                f"changes on {leak.first_date.date()}{inputs}",
                highlight=False,
            )
        out.print(
            f"not point in time: {len(result.leaks)} of {len(result.cutoffs)} cutoffs leak",
            highlight=False,
        )
        raise typer.Exit(1)
