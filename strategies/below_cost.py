"""``below_cost`` (the flagship): buy below production cost, sell when price reclaims cost x a multiple.

Entry: price/cost below ``entry_ratio`` for ``confirm_days`` days (optionally confirmed by a
hash-ribbon buy); exit: price/cost above ``exit_ratio`` (the "multiple" of cost), or any of the
common exits (take profit, stop loss, trailing stop, time stop). The cost model and every cost
assumption (power price, fleet efficiency, PUE ...) are parameters of the same dataclass, so a sweep
can vary the thesis and the trading rule together.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from costbt.signals.production_cost import ASSUMPTION_MODELS, BelowCostParams, below_cost, cost_band
from costbt.strategies.base import ExitParams, Plan, Strategy, decided


@dataclass(frozen=True)
class BelowCostStrategyParams(BelowCostParams, ExitParams):
    """`signals.production_cost.BelowCostParams` plus the common exits."""


def plan(panel: pd.DataFrame, params: BelowCostStrategyParams, with_band: bool = True) -> Plan:
    out = below_cost(panel, params)
    cost = out.indicator["cost_usd_per_btc"]
    band = (
        cost_band(panel, params.model, params, draws=100)
        if with_band and params.model in ASSUMPTION_MODELS
        else None
    )
    return Plan(
        entries=decided(out.entry),
        exits=decided(out.exit),
        cost=cost,
        cost_band=band,
        indicator=out.indicator,
        entry_rule=out.entry,
    )


def plan_signals(panel: pd.DataFrame, params) -> Plan:
    """`plan` without the cost band (sweeps, verification)."""
    return plan(panel, params, with_band=False)


STRATEGY = Strategy(
    "below_cost",
    BelowCostStrategyParams,
    plan,
    "buy when price is below production cost; sell when it reclaims cost x exit_ratio",
    plan_signals=plan_signals,
    kernel=True,
)
