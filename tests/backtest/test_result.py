"""`backtest.result`: exits by cause in one cell; where the cost is known, in the notes."""

from __future__ import annotations

import math

import pandas as pd

from costbt.backtest.result import EXIT_CAUSES, BacktestResult, exits_text


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


# ----------------------------------------------------------------------------- the cost note

DAYS = pd.date_range("2026-02-03", "2026-02-22", freq="D")  # 20 traded days


def run_with_cost(cost: pd.Series | None, model: str | None = "electricity") -> BacktestResult:
    """A hand-built run over `DAYS` with ``cost`` (USD/BTC); nothing else matters to the note."""
    flat = pd.Series(0.0, index=DAYS)
    return BacktestResult(
        strategy="below_cost",
        title="hand-built",
        returns=flat,
        equity=flat + 10_000.0,
        benchmarks={},
        benchmark_equity={},
        trades=pd.DataFrame(),
        metrics=pd.DataFrame({"below_cost": {"trades": 0.0}}),
        price=pd.Series(70_000.0, index=DAYS),
        cost=cost,
        params={} if model is None else {"model": model},
    )


def cost_to(last: str) -> pd.Series:
    cost = pd.Series(60_000.0, index=DAYS)
    return cost.where(cost.index <= last)


def test_a_cost_ending_before_the_prices_is_noted_with_its_last_day_and_the_days_after():
    note = run_with_cost(cost_to("2026-02-12")).cost_note()
    assert note.startswith("cost (electricity): known to 2026-02-12; unknown on the last 10 ")
    assert "chain inputs, hash rate, difficulty and subsidy, end there" in note
    assert "not carried forward" in note and "below-cost entry" in note


def test_the_cost_note_is_among_the_notes():
    assert any(
        line.startswith("cost (electricity)")
        for line in run_with_cost(cost_to("2026-02-12")).notes()
    )


def test_a_cost_known_to_the_last_traded_day_gets_no_note():
    result = run_with_cost(cost_to("2026-02-22"))
    assert result.cost_note() is None
    assert not any(line.startswith("cost") for line in result.notes())


def test_a_run_without_a_cost_gets_no_cost_note():
    assert run_with_cost(None).cost_note() is None


def test_a_cost_unknown_on_every_traded_day_says_so():
    note = run_with_cost(cost_to("2026-01-01")).cost_note()
    assert "unknown on every one of the 20 traded days" in note


def test_an_expired_analyst_estimate_is_named_as_the_reason():
    note = run_with_cost(cost_to("2026-02-12"), model="external").cost_note()
    assert "analyst estimate is too old" in note and "chain inputs" not in note
