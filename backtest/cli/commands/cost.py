"""``costbt cost``: every production-cost model on one day, with the price and the deficit.

The external model's estimate is shown dated and aged (source, publication day, age in days), and
not as a number once older than ``estimate_max_age_days``. Without ``--param include_fees=true``
the output states the fee bias (`signals.production_cost.FEES_BIAS_NOTE`); with it, fee data must
be in the download cache (``--cache-dir``), else one line naming the parameter and exit 2.

The panel is the bundle extended by the download cache (`data.overlay`, ``extend``): chain data
fetched with ``costbt data chain`` carries the chain models past the bundled chain's last day
(2026-02-12). On a day after the chain inputs end, or one they miss, the chain models' cost is
unknown, never carried forward, and one line says so (`chain_line`) and how to fetch newer data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import (
    BundleDir,
    check_input_file,
    parse_day,
    readable_cache,
)
from costbt.backtest.cli.console import fail, out, reports_bad_input


def parse_params(values: list[str] | None) -> dict[str, str]:
    """``["power_price=0.06", ...]`` -> dict; a malformed item exits 2 naming it."""
    result = {}
    for raw in values or []:
        name, sep, value = raw.partition("=")
        if not sep or not name.strip():
            raise fail(f"--param: '{raw}' is not NAME=VALUE")
        result[name.strip()] = value.strip()
    return result


def external_line(estimates, day, max_age_days: int, pc) -> str:
    """The external model's estimate on ``day``: source, publication day and age, or why none."""
    info = pc.external_estimates([day], estimates, max_age_days=max_age_days).iloc[0]
    if info["published"] is None or info["published"] != info["published"]:  # NaT: none yet
        return f"external: no estimate published by {day.date()}"
    head = f"{info['source']} {info['published'].date()}, {int(info['age_days'])} days old"
    if info["expired"]:
        return f"external: no current estimate (latest: {head} > {max_age_days})"
    return (
        f"external: {info['latest_usd_per_btc']:,.0f} USD/BTC, {head}: an analyst's estimate "
        f"published {info['published'].date()}, not a reading of {day.date()}; used for up to "
        f"{max_age_days} days after publication (--param estimate_max_age_days)"
    )


#: How to bring the chain inputs up to date (printed when they end before the day asked for).
FETCH_CHAIN = (
    "'costbt data chain --provider blockchain_com' (or '--provider coinmetrics --metric "
    "HashRate,BlkCnt') downloads newer chain data into the download cache when online, and "
    "'costbt cost' then uses it"
)


def chain_line(panel, day, models: tuple[str, ...], pc) -> str | None:
    """Why the chain models have no cost on ``day``, or None when their inputs cover it.

    The chain inputs end on the last day with both ``hashrate_ths`` and ``difficulty`` known
    (the bundled chain's last day, 2026-02-12, unless the download cache extends it); a day
    after that, or a day they miss, has no chain-model cost: nothing is carried forward.
    """
    import pandas as pd

    chain = [m for m in models if m in pc.CHAIN_MODELS]
    known = panel[["hashrate_ths", "difficulty"]].notna().all(axis=1)
    if not chain or bool(known.get(day, False)):
        return None
    which = ", ".join(chain)
    last = known[known].index.max() if known.any() else None
    if last is None or day > last:
        end = "have no day" if last is None else f"end on {pd.Timestamp(last).date()}"
        return (
            f"chain inputs (hash rate, difficulty, subsidy) {end}, so the cost on {day.date()} "
            f"is unknown for {which} (not carried forward); {FETCH_CHAIN}"
        )
    return (
        f"chain inputs (hash rate, difficulty) are missing on {day.date()}, so the cost that "
        f"day is unknown for {which} (not filled from other days)"
    )


def chain_source_line(panel) -> str | None:
    """Where the chain inputs came from when the download cache extends them (else None)."""
    prov = panel.attrs.get("provenance", {}).get("cache", {}).get("chain")
    if not prov or not prov.get("cache_rows"):
        return None
    first, last = prov["cache_span"]
    return (
        f"chain inputs: the download cache for {first} .. {last} ({prov['cache_file']}), "
        "the bundled chain before"
    )


def external_label(estimates, day, max_age_days: int, pc) -> str:
    """The model cell of the external row: the estimate's source and publication day."""
    info = pc.external_estimates([day], estimates, max_age_days=max_age_days).iloc[0]
    if info["published"] is None or info["published"] != info["published"] or info["expired"]:
        return "external"
    return f"external ({info['source']} {info['published'].date()})"


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
        bundle_dir: BundleDir = None,
        cache_dir: Annotated[
            Path | None,
            typer.Option(
                "--cache-dir",
                help="Download cache: chain data past the bundled chain (costbt data chain) and "
                "fee data for --param include_fees=true (default: $COSTBT_CACHE_DIR, else "
                "$COSTBT_HOME/cache, else the user cache folder).",
                callback=readable_cache,
            ),
        ] = None,
    ) -> None:
        """Print each model's cost per BTC on a day, the price, and the deficit (price/cost - 1)."""
        import pandas as pd
        from rich.table import Table

        from costbt.data.panel import load_panel
        from costbt.signals import production_cost as pc
        from costbt.signals.fleet_efficiency import efficiency_sources
        from costbt.signals.params import ParamError, build

        models = tuple(model) if model else pc.MODELS
        bad = [m for m in models if m not in pc.MODELS]
        if bad:
            raise fail(f"--model: unknown model '{bad[0]}' (known: {', '.join(pc.MODELS)})")
        try:
            assumptions = build(pc.CostAssumptions, parse_params(param))
        except ParamError as exc:
            raise fail(f"--param: {exc}") from None
        day = parse_day("--at", at)
        check_input_file("--estimates", estimates)
        panel = load_panel(bundle_dir, cache_dir=cache_dir, use_cache="extend")
        if assumptions.include_fees:
            from costbt.data.cache import Cache

            if "fees_btc" not in panel.columns or not panel["fees_btc"].notna().any():
                raise fail(
                    f"--param include_fees: no fee data in the download cache "
                    f"{Cache(cache_dir).root} (fetch it with 'costbt data chain --provider "
                    "coinmetrics --metric FeeTotNtv' or '--provider blockchain_com --chart "
                    "transaction-fees-usd')"
                )
        est = pc.load_estimates(estimates) if estimates is not None else pc.load_estimates()
        frame = pc.cost_models(panel, assumptions, tuple(m for m in models if m != "external"))
        if "external" in models:
            frame["external"] = pc.external_model(
                panel, est, max_age_days=assumptions.estimate_max_age_days
            )
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
        eff_source = efficiency_sources(panel, assumptions.power_price).loc[day]
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
            label = m
            if m == "external":
                label = external_label(est, day, assumptions.estimate_max_age_days, pc)
            t.add_row(
                label,
                "-" if pd.isna(c) else f"{c:,.0f}",
                *band,
                "-" if pd.isna(p) else f"{p:,.2f}",
                "-" if pd.isna(ratio) else f"{ratio:.3f}",
                "-" if pd.isna(ratio) else f"{ratio - 1:+.1%}",
            )
        out.print(t)
        for line in (chain_line(panel, day, models, pc), chain_source_line(panel)):
            if line is not None:
                out.print(line, highlight=False)
        hp = pc.hashprice_frame(panel, assumptions).loc[day]
        reward = "subsidy + fees" if assumptions.include_fees else "subsidy only"

        def num(value: float, digits: int) -> str:
            return "unknown" if pd.isna(value) else f"{value:.{digits}f}"

        out.print(
            f"assumptions: power {assumptions.power_price:.3f} USD/kWh, fleet efficiency {eff:.1f} J/TH "
            f"({eff_source}; x{assumptions.efficiency_scale:g}, fleet lag {assumptions.fleet_lag_days} d), PUE {assumptions.pue:g}; "
            f"hashprice {num(hp['hashprice_usd_per_th_day'], 4)} vs hashcost {num(hp['hashcost_usd_per_th_day'], 4)} USD/TH/day "
            f"(breakeven power {num(hp['breakeven_power_usd_kwh'], 3)} USD/kWh, {reward})",
            highlight=False,
        )
        if "external" in models:
            out.print(
                external_line(est, day, assumptions.estimate_max_age_days, pc), highlight=False
            )
        if assumptions.include_fees:
            fees = panel["fees_btc"].get(day)
            shown = (
                "unknown (so is every cost that needs it)" if pd.isna(fees) else f"{fees:,.2f} BTC"
            )
            out.print(f"fees included: {shown} that day", highlight=False)
        else:
            out.print(
                f"fees: {pc.FEES_BIAS_NOTE} (--param include_fees=true with cached fee data)",
                highlight=False,
            )
        if draws:
            out.print(
                f"band: P10-P90 over {draws} draws of power 3-8 c/kWh, efficiency x0.8-1.25, PUE 1.05-1.2 (seed 0)",
                highlight=False,
            )
