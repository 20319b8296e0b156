"""The evaluation seam: one combination of any strategy on a span, on the kernel or on vectorbt.

Tuning, walk-forward and the pages ask one question: "what did these parameters do between
``start`` and ``end``?". `evaluator_for` answers it from what the strategy can do, not from its
name:

1. A strategy with the kernel capability (`costbt.strategies.base.Strategy.kernel`: the numba
   kernel reproduces it to 1e-9 of vectorbt, tested and verified in every sweep) gets the kernel
   `costbt.backtest.evaluator.Evaluator` (about a millisecond a combination).
2. Every other strategy (accumulation, confluence, a user's ``FILE.py:NAME``) gets
   `EngineEvaluator`: the same interface on `costbt.backtest.engine.run_strategy` (vectorbt,
   0.1-1 s a combination), correct by construction.

Both compute the signals on the panel up to ``end`` (point in time: days after ``end`` cannot
change a result inside the span) and trade from the first known close on or after ``start``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costbt.strategies import STRATEGIES


class EngineEvaluator:
    """`costbt.backtest.evaluator.Evaluator`'s interface for any strategy, on vectorbt."""

    def __init__(self, panel: pd.DataFrame, strategy: str) -> None:
        from costbt.backtest.engine import EngineConfig
        from costbt.signals.params import space

        self.panel = panel
        self.index = panel.index
        self.strategy = strategy
        self._strategy = STRATEGIES[strategy]
        self._known = np.flatnonzero(np.isfinite(panel["close_usd"].to_numpy(dtype=np.float64)))
        if not len(self._known):
            raise ValueError("no spot prices in the selected period")
        self._defaults = {
            p.name: p.default for p in (*space(self._strategy.params), *space(EngineConfig))
        }

    def span(self, start=None, end=None) -> tuple[int, int]:
        """Positions of the first known close on/after ``start`` and the last on/before ``end``."""
        known = self._known
        lo = 0 if start is None else int(self.index.searchsorted(pd.Timestamp(start), "left"))
        hi = len(self.index) - 1
        if end is not None:
            hi = int(self.index.searchsorted(pd.Timestamp(end), "right")) - 1
        inside = known[(known >= lo) & (known <= hi)]
        if len(inside) < 2:
            raise ValueError(f"fewer than two spot prices between {start} and {end}")
        return int(inside[0]), int(inside[-1])

    def row(self, params: dict) -> dict:
        """``params`` with every strategy and engine default filled in (unknown names raise)."""
        unknown = [k for k in params if k not in self._defaults]
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(map(str, unknown))}")
        return {**self._defaults, **params}

    def fast_path(self, row: dict) -> bool:
        return False

    def signal_days(self, params: dict) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """First and last day on which the entry rule is known (None, None if never)."""
        from costbt.backtest.sweep import engine_row

        strategy_params, _ = engine_row(self.strategy, self.row(params))
        rule = self._strategy.plan(self.panel, strategy_params).entry_rule
        if rule is None:
            return self.index[self._known[0]], self.index[self._known[-1]]
        known = rule.astype("boolean").notna()
        days = rule.index[known.to_numpy()]
        if not len(days):
            return None, None
        return days[0], days[-1]

    def run(
        self, params: dict, start=None, end=None, *, close_at_end: bool = False
    ) -> tuple[dict[str, float], pd.Series]:
        """(metrics, daily returns) of one combination traded from ``start`` to ``end``."""
        from costbt.backtest.engine import run_strategy
        from costbt.backtest.sweep import engine_row

        t0, t1 = self.span(start, end)
        strategy_params, config = engine_row(self.strategy, self.row(params))
        frame = self.panel.iloc[: t1 + 1]
        done = run_strategy(
            frame,
            self._strategy,
            strategy_params,
            config,
            self.index[t0],
            close_at_end=close_at_end,
            report_extras=False,
        )
        return done.metrics(), done.returns.rename("returns")

    def metrics(
        self, params: dict, start=None, end=None, *, close_at_end: bool = False
    ) -> dict[str, float]:
        return self.run(params, start, end, close_at_end=close_at_end)[0]

    def returns(
        self, params: dict, start=None, end=None, *, close_at_end: bool = False
    ) -> pd.Series:
        return self.run(params, start, end, close_at_end=close_at_end)[1]

    def returns_matrix(self, rows: list[dict], start=None, end=None) -> pd.DataFrame:
        return pd.concat(
            [self.returns(r, start, end).rename(i) for i, r in enumerate(rows)], axis=1
        )


def evaluator_for(panel: pd.DataFrame, strategy: str = "below_cost"):
    """The kernel `Evaluator` for a strategy with the kernel capability, else `EngineEvaluator`."""
    if STRATEGIES[strategy].kernel:
        from costbt.backtest.evaluator import Evaluator

        return Evaluator(panel)
    return EngineEvaluator(panel, strategy)


__all__ = ["EngineEvaluator", "evaluator_for"]
