"""Benchmarks are planned on the traded span, through one function, with the strategy's costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.backtest.benchmarks import span_benchmarks
from costbt.backtest.engine import EngineConfig, backtest, candles, simulate
from costbt.strategies.base import ExitParams, Plan
from costbt.strategies.benchmarks import fill_schedule


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


@pytest.fixture(scope="module")
def days(panel) -> pd.DatetimeIndex:
    return panel.index[panel["close_usd"].notna().to_numpy()]


def _relative(panel, t0, t1, config: EngineConfig, close_at_end: bool) -> float:
    """Buy-and-hold by hand: the price relative over the span minus fees and slippage."""
    fee, slip = config.fees_bps / 1e4, config.slippage_bps / 1e4
    fill = panel["open_usd" if config.fill == "next_open" else "close_usd"][t0]
    out = panel["close_usd"][t1] / (fill * (1 + slip) * (1 + fee))
    if close_at_end:
        out *= (1 - slip) * (1 - fee)
    return out - 1.0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    a=st.integers(0, 4000),
    length=st.integers(2, 1500),
    fees=st.sampled_from([0.0, 10.0, 37.5]),
    slippage=st.sampled_from([0.0, 5.0, 20.0]),
    fill=st.sampled_from(["next_open", "next_close"]),
    close_at_end=st.booleans(),
)
def test_buy_and_holds_return_is_the_price_relative_over_any_span_minus_costs(
    panel, days, a, length, fees, slippage, fill, close_at_end
):
    t0 = days[min(a, len(days) - 2)]
    t1 = days[min(a + length, len(days) - 1)]
    config = EngineConfig(fees_bps=fees, slippage_bps=slippage, fill=fill)
    run = span_benchmarks(panel, config, t0, t1, close_at_end=close_at_end)["buy_and_hold"]
    assert run.returns.index[0] == t0 and run.returns.index[-1] == t1
    got = float(np.prod(1 + run.returns.to_numpy()) - 1)
    assert got == pytest.approx(_relative(panel, t0, t1, config, close_at_end), rel=1e-9, abs=1e-12)
    assert run.equity.iloc[-1] == pytest.approx(config.init_cash * (1 + got), rel=1e-12)


def test_a_backtest_from_start_to_end_compares_with_buy_and_hold_over_that_span(panel):
    """The user's report: buy-and-hold showed 0 % over 2020-06-01 .. 2024-12-31."""
    start, end = pd.Timestamp("2020-06-01"), pd.Timestamp("2024-12-31")
    result = backtest(panel.loc[:end], "below_cost", start=start)
    bh = result.metrics["buy_and_hold"]
    want = _relative(panel, start, end, EngineConfig(), close_at_end=False)
    assert bh["total_return"] == pytest.approx(want, rel=1e-9)
    assert bh["trades"] == 1 and bh["exposure"] == 1.0
    assert result.benchmarks["buy_and_hold"].index.equals(result.returns.index)
    dca = result.metrics["weekly_dca"]
    assert dca["exposure"] > 0.99 and dca["total_return"] > 1.0  # invested, not mostly cash


def test_weekly_dca_spends_the_same_capital_over_the_spans_mondays(panel):
    start, end = "2021-03-03", "2021-09-30"  # a Wednesday: the first buy is the next Monday
    config = EngineConfig()
    run = span_benchmarks(panel, config, start, end)["weekly_dca"]
    mondays = run.returns.index[run.returns.index.day_of_week == 0]
    assert list(run.trades["entry_time"]) == list(mondays)
    spent = run.trades["size_btc"] * run.trades["entry_price"] + run.trades["fees_usd"]
    assert spent.sum() == pytest.approx(config.init_cash, rel=1e-12)  # fully invested
    np.testing.assert_allclose(spent.to_numpy(), config.init_cash / len(mondays), rtol=1e-12)
    btc = run.trades["size_btc"].sum()
    assert run.equity.iloc[-1] == pytest.approx(btc * panel["close_usd"][end], rel=1e-12)


def test_with_close_at_end_nothing_is_bought_on_the_last_bar_and_all_is_sold_at_its_close():
    days = pd.date_range("2024-01-01", "2024-01-15")  # Monday to Monday
    weights = fill_schedule("weekly_dca", days, close_at_end=True)
    assert weights[-1] == 0 and weights.sum() == pytest.approx(1.0)
    assert list(np.flatnonzero(weights)) == [0, 7]


def test_span_buy_and_hold_equals_vectorbt_buying_on_the_first_bar(panel):
    config = EngineConfig(fees_bps=25.0, slippage_bps=8.0)
    start, end = pd.Timestamp("2019-02-01"), pd.Timestamp("2022-08-31")
    bars = candles(panel.loc[:end], "spot", start)
    plan = Plan(
        entries=pd.Series(False, index=bars.index), exits=pd.Series(False, index=bars.index)
    )
    for close_at_end in (False, True):
        pf = simulate(
            bars, plan, ExitParams(), config, prior=(True, False), close_at_end=close_at_end
        )
        run = span_benchmarks(panel, config, start, end, close_at_end=close_at_end)
        np.testing.assert_allclose(
            run["buy_and_hold"].equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9
        )


def test_prices_before_the_span_do_not_change_its_benchmarks(panel):
    start, end = "2022-01-01", "2023-06-30"
    base = span_benchmarks(panel, EngineConfig(), start, end)
    altered = panel.copy()
    before = altered.index < pd.Timestamp(start)
    altered.loc[before, ["open_usd", "close_usd"]] *= 3.0
    again = span_benchmarks(altered, EngineConfig(), start, end)
    for name in base:
        pd.testing.assert_series_equal(base[name].returns, again[name].returns)
