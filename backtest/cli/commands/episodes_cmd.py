"""``costbt episodes``: every episode of a signal, what followed it, and all days for comparison."""

from __future__ import annotations

from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import MAX_SEED, BundleDir


def _pct(v: float) -> str:
    import pandas as pd

    return "-" if pd.isna(v) else f"{v:+.1%}"


def _day(v) -> str:
    import pandas as pd

    return "-" if pd.isna(v) else str(pd.Timestamp(v).date())


def register(app: typer.Typer) -> None:
    """Add ``episodes`` to ``app`` (a second call on the same app is a no-op)."""
    # Imported here, not at module level: backtest.cli imports this module while it loads.
    from costbt.backtest.cli.console import fail, out, reports_bad_input

    if any(getattr(c, "name", None) == "episodes" for c in app.registered_commands):
        return

    @app.command("episodes")
    @reports_bad_input
    def episodes_command(
        signal: Annotated[
            str, typer.Option("--signal", help="Signal whose state defines episodes: below_cost.")
        ] = "below_cost",
        model: Annotated[
            str,
            typer.Option(
                "--model",
                help="Cost model: electricity, hayes, all_in, difficulty_regression, external.",
            ),
        ] = "electricity",
        entry_ratio: Annotated[
            float | None,
            typer.Option("--entry-ratio", help="In the state while price/cost < R (default 1.0)."),
        ] = None,
        merge_days: Annotated[
            int,
            typer.Option(
                "--merge-days",
                min=0,
                max=365,
                help="Join episodes separated by at most this many days out of the state.",
            ),
        ] = 0,
        reps: Annotated[
            int, typer.Option("--reps", min=100, max=20000, help="Bootstrap replications.")
        ] = 1000,
        seed: Annotated[
            int, typer.Option("--seed", help="Bootstrap seed.", min=0, max=MAX_SEED)
        ] = 0,
        bundle_dir: BundleDir = None,
    ) -> None:
        """Every episode in which the signal was on (start, end, depth, forward returns,
        drawdown before recovery) and the forward returns over all days, by halving cycle."""
        import pandas as pd
        from rich.table import Table

        from costbt.backtest import episodes as ep
        from costbt.data.panel import load_panel
        from costbt.signals import production_cost as pc
        from costbt.signals.params import ParamError

        if signal not in ep.SIGNALS:
            raise fail(f"--signal: unknown signal '{signal}' (known: {', '.join(ep.SIGNALS)})")
        if model not in pc.MODELS:
            raise fail(f"--model: unknown model '{model}' (known: {', '.join(pc.MODELS)})")
        overrides = {} if entry_ratio is None else {"entry_ratio": entry_ratio}
        panel = load_panel(bundle_dir)
        try:
            study = ep.episode_study(
                panel,
                signal,
                model,
                overrides=overrides,
                merge_gap_days=merge_days,
                reps=reps,
                seed=seed,
            )
        except ParamError as exc:
            raise fail(f"--entry-ratio: {exc}") from None

        hs = study.horizons
        e = study.episodes
        ratio = entry_ratio if entry_ratio is not None else pc.BelowCostParams().entry_ratio
        t = Table(
            title=f"Episodes of {signal} ({model}, price/cost < {ratio:g}): {len(e)}, "
            f"{int(e['days'].sum()) if len(e) else 0} days in the state",
            title_justify="left",
        )
        cols = ["start", "end", "days", "depth", *[f"{h} d" for h in hs]]
        cols += ["drawdown before recovery", "recovered", "cycle"]
        for c in cols:
            t.add_column(c, justify="left" if c in ("start", "end", "cycle") else "right")
        for r in e.to_dict("records"):
            t.add_row(
                _day(r["start"]),
                "ongoing" if pd.isna(r["end"]) else _day(r["end"]),
                str(r["days"]),
                _pct(r["depth"]),
                *[_pct(r[f"fwd_{h}d"]) for h in hs],
                _pct(r["drawdown"]),
                "not yet" if pd.isna(r["recovery"]) else f"{int(r['days_to_recovery'])} d",
                str(r["cycle"]),
            )
        out.print(t)
        if len(e):
            means = " ".join(
                f"{h} d {_pct(e[f'fwd_{h}d'].mean())} (n={e[f'fwd_{h}d'].notna().sum()})"
                for h in hs
            )
            out.print(f"mean over episodes: {means}", highlight=False)

        u = study.unconditional
        t2 = Table(
            title=f"Forward returns over all days (unconditional), mean with {study.size:.0%} "
            f"stationary-bootstrap interval (block ~ horizon, {reps} reps, seed {seed})",
            title_justify="left",
        )
        for c in ("cycle", "horizon", "days", "~windows", "mean", "interval", "median", "> 0"):
            t2.add_column(c, justify="left" if c == "cycle" else "right")
        previous = None
        for r in u.to_dict("records"):
            ci = "-" if pd.isna(r["lo"]) else f"{_pct(r['lo'])} .. {_pct(r['hi'])}"
            t2.add_row(
                r["cycle"] if r["cycle"] != previous else "",
                f"{r['horizon']} d",
                str(r["n"]),
                f"{r['windows']:.1f}",
                _pct(r["mean"]),
                ci,
                _pct(r["median"]),
                f"{r['share_positive']:.0%}",
                end_section=False,
            )
            previous = r["cycle"]
        out.print(t2)
        out.print(
            "forward returns are outcomes measured after the start (they use later prices), not "
            "signals; overlapping windows: ~windows is days / horizon; see docs/episodes.md",
            highlight=False,
        )
