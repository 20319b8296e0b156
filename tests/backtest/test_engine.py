"""The engine: next-bar fills, exact costs, agreement with a plain-loop reference and quantstats."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from costbt.backtest import metrics as m
from costbt.backtest.engine import EngineConfig, backtest, simulate
from costbt.strategies import STRATEGIES
from costbt.strategies.base import ExitParams, Plan, time_stop_exits

FEE, SLIP = 0.001, 0.0005


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


def ohlc(panel: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    p = panel.loc[start:end]
    return pd.DataFrame(
        {"open": p["open_usd"], "high": p["high_usd"], "low": p["low_usd"], "close": p["close_usd"]}
    )


def flags(index: pd.Index, *positions: int) -> pd.Series:
    s = pd.Series(False, index=index)
    s.iloc[list(positions)] = True
    return s


CONFIG = EngineConfig(init_cash=10_000.0, fees_bps=10.0, slippage_bps=5.0)


def test_a_signal_is_filled_on_the_next_bars_open_never_on_the_signal_bar(panel):
    bars = ohlc(panel, "2024-01-01", "2024-01-10")
    plan = Plan(entries=flags(bars.index, 1), exits=flags(bars.index, 5))
    orders = simulate(bars, plan, ExitParams(), CONFIG).orders.records_readable
    assert list(orders["Timestamp"]) == [bars.index[2], bars.index[6]]
    assert orders["Price"].iloc[0] == pytest.approx(bars["open"].iloc[2] * (1 + SLIP), rel=1e-12)


def test_next_close_fills_at_the_next_bars_close(panel):
    bars = ohlc(panel, "2024-01-01", "2024-01-10")
    plan = Plan(entries=flags(bars.index, 1), exits=flags(bars.index, 5))
    cfg = dataclasses.replace(CONFIG, fill="next_close")
    orders = simulate(bars, plan, ExitParams(), cfg).orders.records_readable
    assert orders["Timestamp"].iloc[0] == bars.index[2]
    assert orders["Price"].iloc[0] == pytest.approx(bars["close"].iloc[2] * (1 + SLIP), rel=1e-12)


def test_a_signal_on_the_last_bar_is_never_filled(panel):
    bars = ohlc(panel, "2024-01-01", "2024-01-10")
    plan = Plan(entries=flags(bars.index, len(bars) - 1), exits=flags(bars.index))
    assert len(simulate(bars, plan, ExitParams(), CONFIG).orders.records_readable) == 0


def test_a_hand_computed_trade_matches_exactly(panel):
    """Buy on 2024-01-02's signal at 01-03's open, sell on 01-05's signal at 01-06's open."""
    bars = ohlc(panel, "2024-01-01", "2024-01-08")
    plan = Plan(entries=flags(bars.index, 1), exits=flags(bars.index, 4))
    pf = simulate(bars, plan, ExitParams(), CONFIG)
    o, c = bars["open"], bars["close"]
    buy = o.iloc[2] * (1 + SLIP)
    size = 10_000 / (buy * (1 + FEE))
    sell = o.iloc[5] * (1 - SLIP)
    cash_after = size * sell * (1 - FEE)
    expected = [
        10_000,
        10_000,
        size * c.iloc[2],
        size * c.iloc[3],
        size * c.iloc[4],
        cash_after,
        cash_after,
        cash_after,
    ]
    assert np.allclose(pf.value().to_numpy(), expected, rtol=1e-12)
    trade = pf.trades.records_readable.iloc[0]
    assert trade["PnL"] == pytest.approx(cash_after - 10_000, rel=1e-12)
    assert trade["Entry Fees"] + trade["Exit Fees"] == pytest.approx(
        size * buy * FEE + size * sell * FEE, rel=1e-12
    )


def reference_equity(
    bars: pd.DataFrame, plan: Plan, cfg: EngineConfig, time_stop: int = 0
) -> np.ndarray:
    """An independent plain-Python simulation: next-bar fills, fees and slippage, tranches."""
    entries = plan.entries.reindex(bars.index, fill_value=False).to_numpy(dtype=bool)
    exits = plan.exits.reindex(bars.index, fill_value=False).to_numpy(dtype=bool)
    if time_stop:
        exits = exits | time_stop_exits(pd.Series(entries), pd.Series(exits), time_stop).to_numpy()
    price = (bars["open"] if cfg.fill == "next_open" else bars["close"]).to_numpy()
    close = bars["close"].to_numpy()
    fee, slip = cfg.fees_bps / 1e4, cfg.slippage_bps / 1e4
    cash, btc = cfg.init_cash, 0.0
    out = np.empty(len(bars))
    for i in range(len(bars)):
        if i > 0:
            want_in, want_out = entries[i - 1], exits[i - 1]
            if want_in and want_out:
                pass  # conflicting signals: no order (vectorbt's default)
            elif want_out and btc > 0:
                cash += btc * price[i] * (1 - slip) * (1 - fee)
                btc = 0.0
            elif want_in and (btc == 0 or plan.accumulate) and cash > 0:
                p = price[i] * (1 + slip)
                if plan.accumulate or plan.entry_size < 1:
                    # A tranche's value is converted at the quoted price (before slippage).
                    size = min(cfg.init_cash * plan.entry_size / price[i], cash / (p * (1 + fee)))
                else:
                    size = cash / (p * (1 + fee))
                cash -= size * p * (1 + fee)
                btc += size
        out[i] = cash + btc * close[i]
    return out


CASES = [
    ("below_cost", {}),
    (
        "below_cost",
        {
            "model": "difficulty_regression",
            "entry_ratio": 0.8,
            "exit_ratio": 1.3,
            "confirm_days": 3,
        },
    ),
    ("below_cost", {"entry_ratio": 1.2, "exit_ratio": 2.0, "time_stop_days": 120}),
    ("accumulation", {"tranches": 4, "spacing_days": 10}),
    (
        "accumulation",
        {
            "model": "all_in",
            "tranches": 3,
            "discount_step": 0.05,
            "entry_ratio": 0.9,
            "exit_ratio": 1.4,
        },
    ),
    ("confluence", {"k": 2, "window_days": 20}),
]


@pytest.mark.parametrize(
    ("name", "overrides"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_vectorbt_equity_equals_the_plain_loop_reference(panel, name, overrides):
    from costbt.signals.params import build

    strategy = STRATEGIES[name]
    params = build(strategy.params, overrides)
    bars = ohlc(panel, "2015-01-26", "2026-08-13")
    plan = strategy.plan(panel, params)
    exits_params = params if isinstance(params, ExitParams) else ExitParams()
    pf = simulate(bars, plan, exits_params, CONFIG)
    ref = reference_equity(bars, plan, CONFIG, exits_params.time_stop_days)
    assert np.allclose(pf.value().to_numpy(), ref, rtol=1e-9, atol=1e-6)
    assert pf.orders.count() > 0


def test_stop_losses_cap_losses_unless_the_price_gaps_through(panel):
    bars = ohlc(panel, "2015-01-26", "2026-08-13")
    params = dataclasses.replace(STRATEGIES["below_cost"].params(), entry_ratio=1.3, stop_loss=0.1)
    pf = simulate(bars, STRATEGIES["below_cost"].plan(panel, params), params, CONFIG)
    t = pf.trades.records_readable
    closed = t[t["Status"].astype(str) == "Closed"]
    assert len(closed) > 0
    for _, tr in closed.iterrows():
        exit_day = pd.Timestamp(tr["Exit Timestamp"])
        floor = tr["Avg Entry Price"] * 0.9 * (1 - SLIP)
        assert tr["Avg Exit Price"] >= min(floor, bars.loc[exit_day, "open"] * (1 - SLIP)) - 1e-6


def test_project_metrics_agree_with_quantstats_at_365_days(panel):
    import logging

    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import quantstats as qs

    result = backtest(panel.loc["2018-01-01":"2026-02-12"], "below_cost")
    for r in (result.returns, result.benchmarks["buy_and_hold"]):
        assert m.sharpe(r) == pytest.approx(qs.stats.sharpe(r, periods=365), rel=1e-9)
        assert m.cagr(r) == pytest.approx(qs.stats.cagr(r, periods=365), rel=1e-9)
        assert m.max_drawdown(r) == pytest.approx(qs.stats.max_drawdown(r), rel=1e-9)
        assert m.sortino(r) == pytest.approx(qs.stats.sortino(r, periods=365), rel=1e-9)


def test_a_run_records_benchmarks_metrics_and_provenance(panel):
    result = backtest(panel, "below_cost")
    assert list(result.metrics.columns) == ["below_cost", "buy_and_hold", "weekly_dca"]
    for row in (
        "total_return",
        "cagr",
        "volatility",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "max_drawdown_days",
        "exposure",
        "trades",
        "win_rate",
        "profit_factor",
        "avg_trade_return",
        "avg_holding_days",
    ):
        assert row in result.metrics.index
    prov = result.provenance
    assert prov["data_manifest_sha256"] and prov["git_commit"] and prov["costbt_version"]
    assert prov["config"]["params"]["entry_ratio"] == 1.0 and prov["seed"] == 0
    assert set(result.entries) <= set(result.returns.index)


def test_weekly_dca_invests_the_same_capital_as_buy_and_hold(panel):
    result = backtest(panel.loc["2020-01-01":"2020-12-31"], "below_cost")
    dca = result.benchmark_equity["weekly_dca"]
    bh = result.benchmark_equity["buy_and_hold"]
    assert dca.iloc[0] == pytest.approx(CONFIG.init_cash, rel=1e-3) and bh.iloc[0] == pytest.approx(
        CONFIG.init_cash, rel=1e-2
    )


def test_funding_is_paid_while_a_perpetual_position_is_open(panel):
    sub = panel.loc["2021-01-01":"2021-12-31"]
    perp = dataclasses.replace(CONFIG, instrument="perp")
    paid = backtest(sub, "buy_and_hold", config=perp).equity
    assert sub["funding_rate_8h_mean"].mean() > 0  # 2021: longs paid
    free = backtest(sub.assign(funding_rate_8h_mean=0.0), "buy_and_hold", config=perp)
    # Equity after funding is below the same position without it.
    assert paid.iloc[-1] < free.equity.iloc[-1]


# ----------------------------------------------------------------------------- spans, exits


def test_the_first_bar_fills_the_signal_of_the_row_before_it(panel):
    bars = ohlc(panel, "2024-01-01", "2024-01-10")
    plan = Plan(entries=flags(bars.index), exits=flags(bars.index))
    orders = simulate(bars, plan, ExitParams(), CONFIG, prior=(True, False)).orders
    first = orders.records_readable.iloc[0]
    assert first["Timestamp"] == bars.index[0]
    assert first["Price"] == pytest.approx(bars["open"].iloc[0] * (1 + SLIP), rel=1e-12)


def test_a_run_from_start_acts_on_the_signal_known_the_day_before(panel):
    from costbt.backtest.engine import run_strategy

    params = STRATEGIES["below_cost"].params()
    rule = STRATEGIES["below_cost"].plan(panel, params).entries
    day = rule[rule & ~rule.shift(1, fill_value=False)].index[-1]  # an entry signal day
    run = run_strategy(panel, STRATEGIES["below_cost"], params, CONFIG, day + pd.Timedelta(days=1))
    assert run.trades["entry_time"].iloc[0] == day + pd.Timedelta(days=1)


def test_close_at_end_sells_at_the_last_close_with_costs_and_buys_nothing_there(panel):
    bars = ohlc(panel, "2024-01-01", "2024-01-08")
    plan = Plan(entries=flags(bars.index, 1, 6), exits=flags(bars.index))
    pf = simulate(bars, plan, ExitParams(), CONFIG, close_at_end=True)
    orders = pf.orders.records_readable
    assert list(orders["Timestamp"]) == [bars.index[2], bars.index[-1]]  # no buy on the last bar
    sell = orders.iloc[-1]
    assert sell["Price"] == pytest.approx(bars["close"].iloc[-1] * (1 - SLIP), rel=1e-12)
    assert float(pf.assets().iloc[-1]) == 0.0


def _run_exits(panel, plan: Plan, exits: ExitParams, close_at_end: bool = False) -> dict:
    from costbt.backtest.engine import exits_by_cause, orders_for

    bars = ohlc(panel, "2021-01-01", "2022-12-31")
    orders = orders_for(bars, plan, exits, CONFIG, close_at_end=close_at_end)
    pf = simulate(bars, plan, exits, CONFIG, close_at_end=close_at_end)
    got = exits_by_cause(pf, orders, exits, CONFIG)
    sells = int((pf.orders.records_readable["Side"] == "Sell").sum())
    held = int(float(pf.assets().iloc[-1]) > 0)
    assert sum(got.values()) == sells + held  # every exit has exactly one cause
    return got


def test_exits_are_counted_by_cause(panel):
    idx = ohlc(panel, "2021-01-01", "2022-12-31").index
    every_90 = flags(idx, *range(0, len(idx), 90))
    # Signal exits only.
    got = _run_exits(
        panel, Plan(entries=every_90, exits=flags(idx, *range(30, len(idx), 90))), ExitParams()
    )
    assert got["exits_signal"] >= 7 and got["exits_time_stop"] == got["exits_stop_loss"] == 0
    # A time stop of 20 days fires before the signal exit 30 days after entry.
    got = _run_exits(
        panel,
        Plan(entries=every_90, exits=flags(idx, *range(30, len(idx), 90))),
        ExitParams(time_stop_days=20),
    )
    assert got["exits_time_stop"] >= 7 and got["exits_signal"] == 0
    # Tight price stops: take-profit at +5 %, stop-loss at -5 %, no signal exits.
    got = _run_exits(panel, Plan(entries=every_90, exits=flags(idx)), ExitParams(0.05, 0.05))
    assert got["exits_take_profit"] >= 1 and got["exits_stop_loss"] >= 1
    assert got["exits_signal"] == got["exits_trailing_stop"] == 0
    got = _run_exits(
        panel, Plan(entries=every_90, exits=flags(idx)), ExitParams(0.0, 0.05, trailing_stop=True)
    )
    assert got["exits_trailing_stop"] >= 1 and got["exits_stop_loss"] == 0
    # Held at the end: one "end", forced with close_at_end or valued at the close without.
    last = flags(idx, len(idx) - 10)
    for forced in (False, True):
        got = _run_exits(panel, Plan(entries=last, exits=flags(idx)), ExitParams(), forced)
        assert got["exits_end"] == 1


def test_entry_share_and_signal_coverage_come_from_the_entry_rule(panel):
    from costbt.backtest.engine import rule_coverage

    days = pd.date_range("2024-01-01", periods=10)
    rule = pd.Series([True, False, None, True, False, None, None, True, True, False], index=days)
    share, coverage = rule_coverage(rule.astype("boolean"), days)
    assert share == pytest.approx(4 / 7) and coverage == pytest.approx(7 / 10)
    assert all(np.isnan(rule_coverage(None, days)))
