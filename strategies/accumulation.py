"""``accumulation``: scale in by tranches while below cost, scale out above cost.

While price/cost is below ``entry_ratio``, buy one tranche (1/``tranches`` of the initial cash)
at a time: the first when the rule fires, each next one only after ``spacing_days`` days AND, if
``discount_step`` > 0, once price/cost is at least ``discount_step`` lower than at the previous
tranche (deepening discount). At most ``tranches`` tranches per episode. Sell everything when
price/cost rises above ``exit_ratio`` (a new episode may then start), or by the common exits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.signals.params import param
from costbt.signals.production_cost import ASSUMPTION_MODELS, BelowCostParams, below_cost, cost_band
from costbt.strategies.base import ExitParams, Plan, Strategy, decided


@dataclass(frozen=True)
class AccumulationParams(BelowCostParams, ExitParams):
    tranches: int = param(
        4, low=1, high=20, unit="tranches", help="split the capital into this many buys"
    )
    spacing_days: int = param(
        14, low=1, high=180, unit="days", help="at least this long between tranches"
    )
    discount_step: float = param(
        0.0,
        low=0.0,
        high=0.5,
        step=0.01,
        unit="price/cost",
        help="each tranche needs price/cost this much lower (0: off)",
    )


def tranche_entries(
    below: pd.Series,
    ratio: pd.Series,
    exits: pd.Series,
    tranches: int,
    spacing_days: int,
    discount_step: float,
) -> pd.Series:
    """Tranche buy days (signal days) within each below-cost episode; see the module docstring."""
    b, r, x = below.to_numpy(dtype=bool), ratio.to_numpy(dtype=float), exits.to_numpy(dtype=bool)
    out = np.zeros(len(b), dtype=bool)
    bought, last_i, last_ratio = 0, -(10**9), np.inf
    for i in range(len(b)):
        if x[i]:
            bought, last_i, last_ratio = 0, -(10**9), np.inf
            continue
        if not b[i] or bought >= tranches:
            continue
        spaced = i - last_i >= spacing_days
        deeper = discount_step <= 0 or bought == 0 or r[i] <= last_ratio - discount_step
        if spaced and deeper:
            out[i] = True
            bought, last_i, last_ratio = bought + 1, i, r[i]
    return pd.Series(out, index=below.index)


def plan(panel: pd.DataFrame, params: AccumulationParams, with_band: bool = True) -> Plan:
    out = below_cost(panel, params)
    ratio = out.indicator["price_to_cost"]
    exits = decided(out.exit)
    entries = tranche_entries(
        decided(out.entry), ratio, exits, params.tranches, params.spacing_days, params.discount_step
    )
    band = (
        cost_band(panel, params.model, params, draws=100)
        if with_band and params.model in ASSUMPTION_MODELS
        else None
    )
    return Plan(
        entries=entries,
        exits=exits,
        entry_size=1.0 / params.tranches,
        accumulate=True,
        cost=out.indicator["cost_usd_per_btc"],
        cost_band=band,
        indicator=out.indicator,
        entry_rule=out.entry,
    )


def plan_signals(panel: pd.DataFrame, params) -> Plan:
    """`plan` without the cost band (sweeps, verification)."""
    return plan(panel, params, with_band=False)


STRATEGY = Strategy(
    "accumulation",
    AccumulationParams,
    plan,
    "scale in by tranches below cost, scale out above",
    plan_signals=plan_signals,
)
