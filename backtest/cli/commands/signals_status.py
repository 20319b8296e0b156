"""``costbt signals``: the state of every signal on one day (entry, exit, key indicator).

SOPR is the bundled real STH-SOPR (Checkonchain), or a user's cached vendor series (Glassnode or
an imported file, with its publication lag) when there is one; the price-only proxy is shown
beside it, labelled ``sopr_proxy`` (a proxy, not SOPR). A published series' value says which day
it is about. The confluence row is the ``confluence`` strategy's entry vote (cost, the 3-month
basis, ETF flows and STH-SOPR, k of n within a window, its default parameters).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costbt.backtest.cli.commands.options import CacheDir, parse_day
from costbt.backtest.cli.console import fail, out, reports_bad_input


def _state(value) -> str:
    import pandas as pd

    if value is None or pd.isna(value):
        return "unknown"
    return "yes" if bool(value) else "no"


def evaluate(panel, cache_dir: Path | None = None) -> list:
    """Every shipped signal with default parameters, plus their k-of-n confluence."""
    from costbt.data.cache import Cache
    from costbt.signals import basis, confluence, etf_flows, production_cost, realised_price, sopr

    outputs = [
        production_cost.below_cost(panel, production_cost.BelowCostParams(model="electricity")),
        production_cost.below_cost(
            panel, production_cost.BelowCostParams(model="difficulty_regression")
        ),
        production_cost.hash_ribbons(panel),
        basis.basis_reset(panel),
        etf_flows.etf_reversal(panel),
    ]
    cached = None
    keys = Cache(cache_dir).keys(kind="sopr")
    if keys:  # real SOPR beats the proxy; a bad cached file is reported, not hidden
        cached = sopr.load_cached_sopr(
            Cache(cache_dir), source=keys[0].source, calendar=panel.index
        )
    # The bundled real STH-SOPR (a user's cached vendor series instead, when there is one); the
    # price proxy is shown too, labelled, but is never a confluence member.
    outputs.append(sopr.sopr_signal(panel, sopr=cached))
    outputs += [
        sopr.sopr_signal(panel, sopr.SoprParams(series="lth_sopr")),
        realised_price.below_sth_realised_price(panel),
        sopr.sopr_signal(panel, sopr.SoprParams(series="proxy")),
    ]
    # The confluence strategy's own vote (strategies.confluence): the electricity below-cost
    # rule, the basis reset, the ETF reversal and the SOPR signal above.
    from costbt.strategies.confluence import ConfluenceStrategyParams

    p = ConfluenceStrategyParams()
    members = [outputs[0], outputs[3], outputs[4], outputs[5]]
    k = min(p.k, len(members))
    outputs.append(
        confluence.combine(
            members,
            mode=p.mode,
            k=k,
            window_days=p.window_days,
            unknown=p.unknown,
            name=f"confluence ({k} of cost, basis, etf, sopr in {p.window_days} d)",
        )
    )
    return outputs


def register(app: typer.Typer) -> None:
    @app.command("signals")
    @reports_bad_input
    def signals_cmd(
        at: Annotated[
            str | None, typer.Option("--at", help="UTC day (default: the last day of the panel).")
        ] = None,
        cache_dir: CacheDir = None,
    ) -> None:
        """Print every signal's state on a day: entry, exit and its main indicator."""
        from rich.table import Table

        from costbt.data.panel import load_panel

        panel = load_panel()
        day = parse_day("--at", at) or panel.index.max()
        if day not in panel.index:
            raise fail(
                f"--at: {day.date()} is outside the data ({panel.index.min().date()} .. {panel.index.max().date()})"
            )
        t = Table(
            title=f"Signals on {day.date()} (row = what was known at 00:00 UTC the next day)",
            title_justify="left",
        )
        for col in ("signal", "entry", "exit", "indicator"):
            t.add_column(col, no_wrap=col == "indicator")
        import pandas as pd

        from costbt.data.panel import column_catalogue

        lags = column_catalogue().set_index("column")["lag_days"].to_dict()
        for o in evaluate(panel, cache_dir):
            ind = o.indicator if hasattr(o.indicator, "columns") else o.indicator.to_frame()
            preferred = [c for c in ("price_to_cost", "basis", "capitulation") if c in ind.columns]
            first = preferred[0] if preferred else ind.columns[0]
            val = ind[first].loc[day]
            shown = (
                f"{first} = {val:.4g}"
                if isinstance(val, int | float) and val == val
                else f"{first} = {val}"
            )
            if first == "basis" and val == val:
                from costbt.signals.basis import BasisResetParams

                what = ind.attrs.get("source", "basis")
                raw = ind["basis_raw"].loc[day] if "basis_raw" in ind.columns else float("nan")
                shown = (
                    f"basis = {val:.2%} a year ({what}, {BasisResetParams().smooth_days}-day "
                    f"mean; that day {raw:.2%})"
                )
            if "n_fired" in ind.columns:
                shown = (
                    f"{int(ind['n_fired'].loc[day])} of {int(ind['n_known'].loc[day])} known "
                    "members fired within the window"
                )
            if lags.get(first, 0) > 0:  # a published series: say which day the value is about
                about = day - pd.Timedelta(days=int(lags[first]))
                shown += f" (value of {about.date()}, lag {int(lags[first])} d)"
            name = o.name + ("  (PROXY: price-only, not SOPR)" if ind.attrs.get("proxy") else "")
            t.add_row(name, _state(o.entry.loc[day]), _state(o.exit.loc[day]), shown)
        out.print(t)
