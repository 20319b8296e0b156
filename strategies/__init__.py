"""costbt strategies: how signals become trades. `STRATEGIES` maps names to `Strategy` objects;
a user's ``FILE.py:NAME`` or ``package.module:NAME`` and installed plugins load on first use
(`costbt.strategies.registry`)."""

from costbt.strategies.accumulation import STRATEGY as ACCUMULATION
from costbt.strategies.base import ExitParams, Plan, Strategy
from costbt.strategies.below_cost import STRATEGY as BELOW_COST
from costbt.strategies.benchmarks import BUY_AND_HOLD, WEEKLY_DCA
from costbt.strategies.confluence import STRATEGY as CONFLUENCE
from costbt.strategies.registry import StrategyError, StrategyRegistry

STRATEGIES: StrategyRegistry = StrategyRegistry(
    {s.name: s for s in (BELOW_COST, ACCUMULATION, CONFLUENCE, BUY_AND_HOLD, WEEKLY_DCA)}
)

__all__ = ["STRATEGIES", "ExitParams", "Plan", "Strategy", "StrategyError"]
