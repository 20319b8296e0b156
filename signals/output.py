"""What every signal returns: an indicator and boolean entry/exit rules with "unknown" kept.

Rules use pandas' nullable ``boolean`` dtype: True, False, or <NA> where the signal's inputs do not
cover the day (unknown is not false; `signals.confluence` decides how unknown counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class SignalOutput:
    """A signal evaluated over the panel.

    Attributes:
        name: signal name (``below_cost``, ``basis_reset``, ``etf_reversal``, ``sopr`` ...).
        indicator: the indicator series (or columns), indexed like the panel.
        entry: entry rule, ``boolean`` dtype, <NA> where unknown.
        exit: exit rule, ``boolean`` dtype, <NA> where unknown.
    """

    name: str
    indicator: pd.Series | pd.DataFrame
    entry: pd.Series
    exit: pd.Series
