"""Benchmarks on a traded span: THE function every comparison with holding bitcoin goes through.

`span_benchmarks(panel, config, start, end, close_at_end=...)` simulates buy-and-hold and weekly
DCA with the same cash, fees, slippage, fill rule and instrument as the strategy they are set
against, on the same bars. The backtest, its report, walk-forward's per-window comparisons and
the tune and sweep pages all call it, so "buy-and-hold" means one thing everywhere.

Steps:

1. The span's bars: the instrument's candles from the first known close on or after ``start``
   to the last known close on or before ``end`` (`backtest.engine` candles).
2. The schedule: the fraction of the initial cash each bar spends
   (`strategies.benchmarks.fill_schedule`: buy-and-hold everything on the first bar; DCA equal
   slices on the span's Mondays).
3. Fills: a bar's slice buys ``slice / (p (1 + fee))`` BTC at ``p = fill price (1 + slippage)``
   (fill price: the bar's open, or its close with ``fill="next_close"``), the engine's and
   vectorbt's arithmetic; the last slice spends all the cash left.
4. Each bar is valued at its close. With ``close_at_end`` the position is sold on the last bar
   at ``close (1 - slippage) (1 - fee)`` (walk-forward test windows close what they hold, and so
   does their benchmark).
5. On the perpetual, funding is paid on the position's value each day as in the engine.
6. Daily returns: equity / previous equity - 1, the first bar against the initial cash.

So buy-and-hold's total return over a span is ``close_end / (fill_start (1 + s)(1 + f)) - 1``
(times ``(1 - s)(1 - f)`` with ``close_at_end``): the price relative minus costs, tested to 1e-9
over random spans.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costbt.backtest.degenerate import market_correlation
from costbt.backtest.engine import TRADE_COLUMNS, EngineConfig, StrategyRun, candles
from costbt.strategies.benchmarks import NAMES, fill_schedule

DEFAULT_CONFIG = EngineConfig()


def _simulate(
    name: str,
    ohlc: pd.DataFrame,
    config: EngineConfig,
    funding: pd.Series | None,
    close_at_end: bool,
) -> StrategyRun:
    weights = fill_schedule(name, ohlc.index, close_at_end)
    price = (ohlc["open"] if config.fill == "next_open" else ohlc["close"]).to_numpy(float)
    close = ohlc["close"].to_numpy(float)
    fee, slip = config.fees_bps / 1e4, config.slippage_bps / 1e4
    n = len(ohlc)
    cash, btc = float(config.init_cash), 0.0
    last_buy = int(np.flatnonzero(weights > 0)[-1])
    held = np.zeros(n)
    value = np.zeros(n)
    buys = []
    sold_at = np.nan
    for i in range(n):
        if weights[i] > 0:
            spend = cash if i == last_buy else weights[i] * config.init_cash
            p = price[i] * (1.0 + slip)
            size = spend / (p * (1.0 + fee))
            cash -= spend
            btc += size
            buys.append((i, p, size, spend - size * p))
        if close_at_end and i == n - 1 and btc > 0:
            sold_at = close[i] * (1.0 - slip)
            cash += btc * sold_at * (1.0 - fee)
            btc = 0.0
        held[i] = btc
        value[i] = cash + btc * close[i]
    equity = pd.Series(value, index=ohlc.index)
    if funding is not None:  # the perpetual: funding on the position's value, as the engine
        paid = np.cumsum(held * close * funding.reindex(ohlc.index).fillna(0.0).to_numpy() * 3.0)
        equity = equity - paid
    returns = equity / equity.shift(1) - 1.0
    returns.iloc[0] = equity.iloc[0] / config.init_cash - 1.0
    rows = []
    closed = not np.isnan(sold_at)
    for i, p, size, fees in buys:
        exit_fee = size * sold_at * fee if closed else 0.0
        pnl = size * (sold_at * (1.0 - fee) if closed else close[-1]) - (size * p + fees)
        rows.append(
            {
                "entry_time": ohlc.index[i],
                "exit_time": ohlc.index[-1] if closed else pd.NaT,
                "entry_price": p,
                "exit_price": sold_at if closed else np.nan,
                "size_btc": size,
                "pnl_usd": pnl,
                "return_pct": pnl / (size * p + fees),
                "fees_usd": fees + exit_fee,
                "status": "Closed" if closed else "Open",
            }
        )
    trades = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
    diagnostics = {
        "entry_share": float("nan"),
        "signal_coverage": float("nan"),
        "market_corr": market_correlation(returns, ohlc["close"]),
        "exits_signal": 0.0,
        "exits_take_profit": 0.0,
        "exits_stop_loss": 0.0,
        "exits_trailing_stop": 0.0,
        "exits_time_stop": 0.0,
        "exits_end": 1.0,
    }
    return StrategyRun(
        pf=None,
        ohlc=ohlc,
        plan=None,
        equity=equity.rename("equity"),
        returns=returns.rename("returns"),
        trades=trades,
        exposure=float((held > 0).mean()),
        diagnostics=diagnostics,
    )


def span_benchmarks(
    panel: pd.DataFrame,
    config: EngineConfig = DEFAULT_CONFIG,
    start=None,
    end=None,
    *,
    close_at_end: bool = False,
    names: tuple[str, ...] = NAMES,
) -> dict[str, StrategyRun]:
    """Buy-and-hold and weekly DCA (``names``) on the bars from ``start`` to ``end``.

    See the module docstring. Returns name -> `backtest.engine.StrategyRun` (``pf`` None).
    Raises ``ValueError`` when the span holds no price.
    """
    frame = panel if end is None else panel.loc[: pd.Timestamp(end)]
    ohlc = candles(frame, config.instrument, start)
    funding = panel["funding_rate_8h_mean"] if config.instrument == "perp" else None
    return {name: _simulate(name, ohlc, config, funding, close_at_end) for name in names}


def buy_and_hold_returns(
    panel: pd.DataFrame,
    config: EngineConfig = DEFAULT_CONFIG,
    start=None,
    end=None,
    *,
    close_at_end: bool = False,
) -> pd.Series:
    """Buy-and-hold's daily returns on the span (`span_benchmarks`, for the pages)."""
    run = span_benchmarks(
        panel, config, start, end, close_at_end=close_at_end, names=("buy_and_hold",)
    )
    return run["buy_and_hold"].returns


__all__ = ["buy_and_hold_returns", "span_benchmarks"]
