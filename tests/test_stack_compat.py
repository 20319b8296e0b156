"""The locked vectorbt, pandas, numpy and quantstats work together.

A library compatibility check, not a data test: the prices and returns below are deterministic
synthetic series. vectorbt and quantstats are imported inside the tests because their import is
slow and collection should stay quick.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

DAYS = 90
FEE = 0.001
INIT_CASH = 10_000.0
# Entry and exit days (positions in the series); each exit closes the preceding entry.
ENTRY_DAYS = (5, 30, 60)
EXIT_DAYS = (20, 45, 80)


def _close() -> pd.Series:
    """A deterministic daily close: a 0.4 %/day drift with a 20-day cycle, from 40,000."""
    i = np.arange(DAYS)
    values = 40_000.0 * 1.004**i * (1.0 + 0.08 * np.sin(2 * np.pi * i / 20))
    index = pd.date_range("2024-01-01", periods=DAYS, freq="D", tz="UTC", name="date")
    return pd.Series(values, index=index, name="close")


def _returns(seed: int, mean: float = 0.001, vol: float = 0.03, n: int = 400) -> pd.Series:
    """Deterministic daily returns (seeded normal draws)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-01-01", periods=n, freq="D", name="date")
    return pd.Series(rng.normal(mean, vol, n), index=index, name=f"r{seed}")


def _signals(index: pd.Index, days: tuple[int, ...]) -> pd.Series:
    flags = np.zeros(len(index), dtype=bool)
    flags[list(days)] = True
    return pd.Series(flags, index=index)


def test_vectorbt_from_signals_matches_independent_trade_arithmetic() -> None:
    import vectorbt as vbt

    close = _close()
    pf = vbt.Portfolio.from_signals(
        close,
        entries=_signals(close.index, ENTRY_DAYS),
        exits=_signals(close.index, EXIT_DAYS),
        init_cash=INIT_CASH,
        fees=FEE,
        freq="1D",
    )

    trades = pf.trades.records_readable
    assert pf.trades.count() == len(ENTRY_DAYS)
    assert (trades["Status"] == "Closed").all()
    assert list(trades["Entry Timestamp"]) == [close.index[d] for d in ENTRY_DAYS]
    assert list(trades["Exit Timestamp"]) == [close.index[d] for d in EXIT_DAYS]

    # Independently: all cash in at close * (1 + fee), all out at close * (1 - fee).
    cash, cash_in, sizes, pnls, entry_values = INIT_CASH, [], [], [], []
    for e, x in zip(ENTRY_DAYS, EXIT_DAYS, strict=True):
        cash_in.append(cash)
        size = cash / (close.iloc[e] * (1 + FEE))
        exit_cash = size * close.iloc[x] * (1 - FEE)
        sizes.append(size)
        pnls.append(exit_cash - cash)
        entry_values.append(size * close.iloc[e])
        cash = exit_cash
    np.testing.assert_allclose(trades["Size"], sizes, rtol=1e-12)
    np.testing.assert_allclose(trades["PnL"], pnls, rtol=1e-9)
    # vectorbt's trade return is PnL over the entry value before fees.
    np.testing.assert_allclose(pf.trades.returns.values, np.divide(pnls, entry_values), rtol=1e-9)

    total_return = pf.total_return()
    assert total_return == pytest.approx(cash / INIT_CASH - 1, rel=1e-12)
    # Compounded per-trade returns on the cash committed give the same total.
    per_trade = [pnl / c for pnl, c in zip(pnls, cash_in, strict=True)]
    assert total_return == pytest.approx(math.prod(1 + r for r in per_trade) - 1, rel=1e-12)
    assert pf.final_value() == pytest.approx(INIT_CASH * (1 + total_return), rel=1e-12)
    assert pf.cash().iloc[-1] == pytest.approx(cash, rel=1e-12)

    # Daily returns and their annualised Sharpe use freq="1D" and a 365-day year.
    returns = pf.returns()
    assert isinstance(returns.index, pd.DatetimeIndex)
    assert len(returns) == DAYS
    expected_sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(365)
    assert pf.sharpe_ratio() == pytest.approx(expected_sharpe, rel=1e-9)

    stats = pf.stats()
    assert stats["Total Trades"] == len(ENTRY_DAYS)
    assert stats["Total Return [%]"] == pytest.approx(100 * total_return, rel=1e-12)


def test_quantstats_sharpe_matches_numpy() -> None:
    import quantstats as qs

    returns = _returns(seed=7)
    values = returns.to_numpy()
    expected = values.mean() / values.std(ddof=1) * math.sqrt(365)
    assert abs(qs.stats.sharpe(returns, periods=365) - expected) < 1e-12


def test_quantstats_html_tear_sheet(tmp_path) -> None:
    import quantstats as qs

    out = tmp_path / "t.html"
    qs.reports.html(
        _returns(seed=7),
        benchmark=_returns(seed=11, mean=0.0005, vol=0.035),
        output=str(out),
        periods_per_year=365,
        title="compat",
    )
    assert out.exists()
    assert out.stat().st_size > 10_000
    assert "compat" in out.read_text(encoding="utf-8")
