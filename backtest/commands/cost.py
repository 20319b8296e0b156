"""``costbt cost``: every production-cost model on one day, with the price and the deficit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backtest.commands.options import parse_day
from backtest.console import fail, out, reports_bad_input


def parse_params(values: list[str] | None) -> dict[str, str]:
    """``["power_price=0.06", ...]`` -> dict; a malformed item exits 2 naming it."""
    result = {}
    for raw in values or []:
        name, sep, value = raw.partition("=")
        if not sep or not name.strip():
            raise fail(f"--param: '{raw}' is not NAME=VALUE")
        result[name.strip()] = value.strip()
    return result


def register(app: typer.Typer) -> None:
    @app.command("cost")
    @reports_bad_input
    def cost(
        at: Annotated[
            str | None,
            typer.Option("--at", help="UTC day (default: the last day with a price and a cost)."),
        ] = None,
        model: Annotated[
            list[str] | None,
            typer.Option(
                "--model",
                help="electricity, hayes, all_in, difficulty_regression, external (repeatable; default all).",
            ),
        ] = None,
        param: Annotated[
            list[str] | None,
            typer.Option(
                "--param",
                help="Assumption override NAME=VALUE, e.g. power_price=0.06 pue=1.2 (repeatable).",
            ),
        ] = None,
        estimates: Annotated[
            Path | None,
            typer.Option(
                "--estimates",
                help="CSV of dated analyst estimates (date,source,model,cost_usd_per_btc,note).",
            ),
        ] = None,
        draws: Annotated[
            int,
            typer.Option(
                "--draws", min=0, max=5000, help="Draws for the P10-P90 band (0: no band)."
            ),
        ] = 200,
        bundle_dir: Annotated[
            Path | None, typer.Option("--bundle-dir", help="Bundled dataset folder.")
        ] = None,
    ) -> None:
        """Print each model's cost per BTC on a day, the price, and the deficit (price/cost - 1)."""
        import pandas as pd
        from rich.table import Table

        from data.panel import load_panel
        from signals import production_cost as pc
        from signals.params import ParamError, build

        models = tuple(model) if model else pc.MODELS
        bad = [m for m in models if m not in pc.MODELS]
        if bad:
            raise fail(f"--model: unknown model '{bad[0]}' (known: {', '.join(pc.MODELS)})")
        try:
            assumptions = build(pc.CostAssumptions, parse_params(param))
        except ParamError as exc:
            raise fail(f"--param: {exc}") from None
        day = parse_day("--at", at)
        panel = load_panel(bundle_dir)
        est = pc.load_estimates(estimates) if estimates is not None else pc.load_estimates()
        frame = pc.cost_models(panel, assumptions, tuple(m for m in models if m != "external"))
        if "external" in models:
            frame["external"] = pc.external_model(panel, est)
        price = panel["close_usd"]
        if day is None:
            core = frame.drop(columns=["external"], errors="ignore")
            usable = price.notna() & (
                core.notna().any(axis=1) if core.shape[1] else frame.notna().any(axis=1)
            )
            if not usable.any():
                raise fail("no day has both a price and a cost")
            day = usable[usable].index.max()
        if day not in panel.index:
            raise fail(
                f"--at: {day.date()} is outside the data ({panel.index.min().date()} .. {panel.index.max().date()})"
            )
        p = price.loc[day]
        eff = pc.fleet_efficiency_for(panel, assumptions).loc[day]
        t = Table(title=f"Cost of producing one BTC on {day.date()}", title_justify="left")
        for col in ("model", "cost USD/BTC", "P10", "P90", "price USD", "price/cost", "deficit"):
            t.add_column(col, justify="right" if col != "model" else "left", no_wrap=True)
        for m in models:
            c = frame[m].loc[day]
            band = ("-", "-")
            if draws and m in pc.ASSUMPTION_MODELS:
                b = pc.cost_band(panel.loc[:day], m, assumptions, draws=draws).loc[day]
                band = tuple("-" if pd.isna(v) else f"{v:,.0f}" for v in (b["p10"], b["p90"]))
            ratio = p / c if pd.notna(c) and pd.notna(p) else float("nan")
            t.add_row(
                m,
                "-" if pd.isna(c) else f"{c:,.0f}",
                *band,
                "-" if pd.isna(p) else f"{p:,.2f}",
                "-" if pd.isna(ratio) else f"{ratio:.3f}",
                "-" if pd.isna(ratio) else f"{ratio - 1:+.1%}",
            )
        out.print(t)
        hp = pc.hashprice_frame(panel, assumptions).loc[day]
        out.print(
            f"assumptions: power {assumptions.power_price:.3f} USD/kWh, fleet efficiency {eff:.1f} J/TH "
            f"(x{assumptions.efficiency_scale:g}, fleet lag {assumptions.fleet_lag_days} d), PUE {assumptions.pue:g}; "
            f"hashprice {hp['hashprice_usd_per_th_day']:.4f} vs hashcost {hp['hashcost_usd_per_th_day']:.4f} USD/TH/day "
            f"(breakeven power {hp['breakeven_power_usd_kwh']:.3f} USD/kWh, subsidy only)",
            highlight=False,
        )
        known = est[est.index <= day]
        if len(known):
            last = known.iloc[-1]
            out.print(
                f"external estimate in force: {last['source']} ({known.index[-1].date()}): {last['cost_usd_per_btc']:,.0f} USD/BTC",
                highlight=False,
            )
        if draws:
            out.print(
                f"band: P10-P90 over {draws} draws of power 3-8 c/kWh, efficiency x0.8-1.25, PUE 1.05-1.2 (seed 0)",
                highlight=False,
            )
