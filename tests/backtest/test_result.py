"""`backtest.result`: exits by cause in one cell."""

from __future__ import annotations

import math

import pandas as pd

from backtest.result import EXIT_CAUSES, exits_text


def test_exits_text_names_every_cause_with_a_count_in_cause_order():
    row = {f"exits_{c}": 0.0 for c in EXIT_CAUSES}
    row |= {"exits_end": 1.0, "exits_signal": 3.0, "exits_stop_loss": 2.0, "exits_time_stop": 1.0}
    assert exits_text(row) == "3 signal, 2 stop, 1 time, 1 end"


def test_exits_text_reads_a_prefix_and_a_pandas_row():
    row = pd.Series({"oos_exits_take_profit": 2, "oos_exits_trailing_stop": 1, "other": 9})
    assert exits_text(row, prefix="oos_exits_") == "2 take-profit, 1 trailing"


def test_no_exit_is_none_and_nothing_recorded_is_na():
    assert exits_text({f"exits_{c}": 0 for c in EXIT_CAUSES}) == "none"
    assert exits_text({}) == "n/a"
    assert exits_text({"exits_signal": math.nan}) == "n/a"
