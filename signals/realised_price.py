"""Price below the short-term holders' realised price: the average recent buyer is under water.

Source: Checkonchain's STH realised price (bundled, panel column ``sth_realised_price_usd``, USD
per BTC; the value of day d is usable from row d+1, `data.panel`). The realised price of coins
younger than 155 days values each at the price when it last moved, divided by their count: the
cost basis of recent buyers. Spot below it means they hold at a loss on average, the on-chain
analogue of "below cost of production".

Rule, with r_d = ``close_usd``_d / ``sth_realised_price_usd``_d (dimensionless):

* entry: r < ``entry_ratio`` (1.0) on each of the last ``confirm_days`` days (today included);
* exit: r > ``exit_ratio`` (1.2: spot 20 % above the recent buyers' cost basis; costbt's choice).

Unknown (<NA>) wherever the price or the realised price is missing (before 2010-08-17, after the
bundled series ends on 2026-06-21): never False, never filled.

1. r from two panel columns of the same row (no window beyond ``confirm_days``, no fit);
2. entry = r held below ``entry_ratio`` for ``confirm_days`` rows (`conditions.held_for`);
3. exit = r above ``exit_ratio``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from costbt.signals.conditions import as_rule, held_for
from costbt.signals.output import SignalOutput
from costbt.signals.params import ParamError, Validated, param

NAME = "below_sth_realised_price"
COLUMN = "sth_realised_price_usd"


@dataclass(frozen=True)
class RealisedPriceParams(Validated):
    """Parameters of `below_sth_realised_price`."""

    entry_ratio: float = param(
        1.0, low=0.5, high=1.5, step=0.01, unit="price/realised price", help="entry below"
    )
    confirm_days: int = param(1, low=1, high=60, unit="days", help="days below before entry")
    exit_ratio: float = param(
        1.2, low=0.8, high=3.0, step=0.05, unit="price/realised price", help="exit above"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.exit_ratio <= self.entry_ratio:
            raise ParamError(
                f"exit_ratio={self.exit_ratio} is not above entry_ratio={self.entry_ratio}"
            )


def below_sth_realised_price(
    panel: pd.DataFrame, params: RealisedPriceParams = RealisedPriceParams()
) -> SignalOutput:
    """Spot below the short-term holders' realised price (module docstring).

    Indicator columns: ``price_to_sth_realised`` (r), ``sth_realised_price_usd``. Raises
    ``ValueError`` when the panel has no ``sth_realised_price_usd`` column.
    """
    if COLUMN not in panel.columns:
        raise ValueError(f"{NAME}: the panel has no column {COLUMN}")
    realised = panel[COLUMN].astype("float64")
    ratio = (panel["close_usd"].astype("float64") / realised).rename("price_to_sth_realised")
    known = ratio.notna()
    below = as_rule(ratio < params.entry_ratio, known)
    entry = held_for(below, params.confirm_days)
    exit_rule = as_rule(ratio > params.exit_ratio, known)
    indicator = pd.DataFrame({"price_to_sth_realised": ratio, COLUMN: realised}, index=panel.index)
    return SignalOutput(NAME, indicator, entry.astype("boolean"), exit_rule.astype("boolean"))
