"""``confluence``: cost + basis reset + ETF-flow reversal + SOPR, k of n within a window.

Members: below production cost (model a parameter), a futures-basis reset (the bundled real
3-month basis by default), a spot-ETF outflow-streak reversal, and SOPR (the bundled real STH-SOPR,
unknown where it is missing; never the price-only proxy). Entry when at least ``k`` members fired within ``window_days``; how a member
with no data counts (before ETFs existed, after funding data ends) is ``unknown``. Exit: the
below-cost exit (price reclaims cost x ``exit_ratio``) or the common exits. ``use_<member>``
switches a member off (``use_cost=false`` removes cost from the entry vote only: the exit stays
the below-cost exit), which is how `backtest.attribution` measures what each member adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from costbt.signals.basis import BasisResetParams, basis_reset
from costbt.signals.confluence import MODES, UNKNOWN_POLICIES, combine
from costbt.signals.etf_flows import EtfFlowParams, etf_reversal
from costbt.signals.params import ParamError, param
from costbt.signals.production_cost import BelowCostParams, below_cost
from costbt.signals.sopr import SoprParams, sopr_signal
from costbt.strategies.base import ExitParams, Plan, Strategy, decided

#: The members, each switched by a ``use_<member>`` parameter.
MEMBERS: tuple[str, ...] = ("cost", "basis", "etf", "sopr")


@dataclass(frozen=True)
class ConfluenceStrategyParams(BelowCostParams, ExitParams):
    mode: str = param("k_of_n", choices=MODES, help="members needed: all, any, or k of n")
    k: int = param(2, low=1, high=4, unit="signals", help="members needed in k_of_n mode")
    window_days: int = param(
        30, low=1, high=120, unit="days", help="a member's entry counts this long"
    )
    unknown: str = param("skip", choices=UNKNOWN_POLICIES, help="how a member without data counts")
    use_cost: bool = param(True, help="include the below-cost member (its exit is kept either way)")
    use_basis: bool = param(True, help="include the basis-reset member")
    use_etf: bool = param(True, help="include the ETF-flow reversal member")
    use_sopr: bool = param(True, help="include the SOPR member (bundled real STH-SOPR)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.use_cost or self.use_basis or self.use_etf or self.use_sopr):
            raise ParamError(
                "use_cost, use_basis, use_etf and use_sopr are all false: confluence needs at "
                "least one member"
            )

    @property
    def members(self) -> tuple[str, ...]:
        """The members in use, in `MEMBERS` order."""
        return tuple(m for m in MEMBERS if getattr(self, f"use_{m}"))


def plan(panel: pd.DataFrame, params: ConfluenceStrategyParams) -> Plan:
    cost = below_cost(panel, params)
    members = [cost] if params.use_cost else []
    if params.use_basis:
        members.append(basis_reset(panel, BasisResetParams()))
    if params.use_etf:
        members.append(etf_reversal(panel, EtfFlowParams()))
    if params.use_sopr:
        members.append(sopr_signal(panel, SoprParams()))
    k = min(params.k, len(members))
    combined = combine(
        members,
        mode=params.mode,
        k=k if params.mode == "k_of_n" else None,
        window_days=params.window_days,
        unknown=params.unknown,
    )
    return Plan(
        entries=decided(combined.entry),
        exits=decided(cost.exit),
        cost=cost.indicator["cost_usd_per_btc"],
        indicator=cost.indicator,
        entry_rule=combined.entry,
    )


STRATEGY = Strategy(
    "confluence",
    ConfluenceStrategyParams,
    plan,
    "k of n of cost, basis, ETF flows and SOPR within a window",
)
