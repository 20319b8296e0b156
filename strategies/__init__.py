"""costbt strategies: how signals become trades. `STRATEGIES` maps names to `Strategy` objects."""

from costbt.strategies.accumulation import STRATEGY as ACCUMULATION
from costbt.strategies.base import ExitParams, Plan, Strategy
from costbt.strategies.below_cost import STRATEGY as BELOW_COST
from costbt.strategies.benchmarks import BUY_AND_HOLD, WEEKLY_DCA
from costbt.strategies.confluence import STRATEGY as CONFLUENCE

STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (BELOW_COST, ACCUMULATION, CONFLUENCE, BUY_AND_HOLD, WEEKLY_DCA)
}

__all__ = ["STRATEGIES", "ExitParams", "Plan", "Strategy"]
