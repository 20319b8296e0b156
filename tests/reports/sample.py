"""A `BacktestResult` built by hand from the bundled 2020 BTC closes: TEST INPUT for the report.

The vectorbt engine is not used (it is written separately); everything here is simple, explicit
arithmetic on real data, so the report tests do not depend on it:

* strategy: all-in at the close of 2020-03-13 (the COVID crash), out at the close of
  2020-06-01, in again at the close of 2020-10-01 and still open at the end; 0.1 % fee per fill;
* benchmarks: buy-and-hold of the same closes, and a weekly DCA (10,000 USD spread evenly over
  the year's Mondays, cash held until spent);
* production cost: the electricity model and its P10-P90 band from `signals.production_cost`;
* metrics: total return, CAGR, Sharpe (mean / std * sqrt(365)) and max drawdown, computed here
  under the engine's names and units (fractions); trade returns are fractions too.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from costbt.backtest.result import BacktestResult

START, END = "2020-01-01", "2020-12-31"
FEE = 0.001
INIT_CASH = 10_000.0
ENTRIES = pd.DatetimeIndex(["2020-03-13", "2020-10-01"])
EXITS = pd.DatetimeIndex(["2020-06-01"])
PARAMS = {"model": "electricity", "entry_ratio": 1.0, "confirm_days": 1, "exit_ratio": 1.5}


def strategy_returns(close: pd.Series) -> pd.Series:
    """Daily returns of holding BTC between each entry close and exit close, fees on fill days."""
    held = pd.Series(False, index=close.index)
    for i, entry in enumerate(ENTRIES):
        exit_ = EXITS[i] if i < len(EXITS) else close.index[-1] + pd.Timedelta(days=1)
        # Held over day d when bought at or before the close of d-1 and not sold before d's close.
        held |= (close.index > entry) & (close.index <= exit_)
    r = close.pct_change().fillna(0.0).where(held, 0.0)
    for day in ENTRIES:
        r.loc[day] = (1 + r.loc[day]) * (1 - FEE) - 1
    for day in EXITS:
        r.loc[day] = (1 + r.loc[day]) * (1 - FEE) - 1
    return r.rename("below_cost")


def weekly_dca_equity(close: pd.Series) -> pd.Series:
    """Cash plus BTC bought with equal USD amounts every Monday (fee 0.1 %)."""
    mondays = close.index[close.index.day_of_week == 0]
    per_buy = INIT_CASH / len(mondays)
    btc = (per_buy * (1 - FEE) / close.loc[mondays]).reindex(close.index, fill_value=0.0).cumsum()
    cash = (
        INIT_CASH
        - per_buy * pd.Series(1.0, index=mondays).reindex(close.index, fill_value=0.0).cumsum()
    )
    return (cash + btc * close).rename("weekly_dca")


def _metrics(returns: pd.Series, equity: pd.Series) -> dict[str, float]:
    """A few metrics under `backtest.metrics.summary`'s names and units (fractions)."""
    total = equity.iloc[-1] / INIT_CASH - 1
    return {
        "total_return": total,
        "cagr": (1 + total) ** (365 / len(returns)) - 1,
        "sharpe": returns.mean() / returns.std(ddof=1) * math.sqrt(365),
        "max_drawdown": (equity / equity.cummax() - 1).min(),
    }


def _trades(close: pd.Series) -> pd.DataFrame:
    rows, cash = [], INIT_CASH
    for i, entry in enumerate(ENTRIES):
        size = cash * (1 - FEE) / close.loc[entry]
        fees = cash * FEE
        if i < len(EXITS):
            exit_, exit_price = EXITS[i], close.loc[EXITS[i]]
            proceeds = size * exit_price * (1 - FEE)
            fees += size * exit_price * FEE
            status = "Closed"
        else:
            exit_, exit_price = pd.NaT, np.nan
            proceeds = size * close.iloc[-1]
            status = "Open"
        rows.append(
            {
                "entry_time": entry,
                "exit_time": exit_,
                "entry_price": close.loc[entry],
                "exit_price": exit_price,
                "size_btc": size,
                "pnl_usd": proceeds - cash,
                "return_pct": proceeds / cash - 1,  # a fraction, like the engine's
                "fees_usd": fees,
                "status": status,
            }
        )
        cash = proceeds
    return pd.DataFrame(rows)


@functools.cache
def _inputs() -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """2020 closes, electricity-model cost and its P10/P50/P90 band (loaded once)."""
    from costbt.data import load_panel
    from costbt.signals.production_cost import cost_band, cost_models

    panel = load_panel()
    close = panel["close_usd"].loc[START:END].rename("close")
    cost = cost_models(panel, models=("electricity",)).iloc[:, 0].loc[START:END]
    band = cost_band(panel, draws=20, seed=0).loc[START:END]
    return close, cost, band


def build_result(
    *,
    title: str = "below_cost on 2020 (hand-built test input)",
    params: dict | None = None,
    tz: str | None = None,
) -> BacktestResult:
    """The hand-built result; ``tz`` converts every time axis to that zone (aware indexes)."""
    close, cost, band = (x.copy() for x in _inputs())

    returns = strategy_returns(close)
    equity = (INIT_CASH * (1 + returns).cumprod()).rename("below_cost")
    bh_returns = close.pct_change().fillna(0.0).rename("buy_and_hold")
    bh_equity = (INIT_CASH * close / close.iloc[0]).rename("buy_and_hold")
    dca_equity = weekly_dca_equity(close)
    dca_returns = dca_equity.pct_change().fillna(0.0)
    metrics = pd.DataFrame(
        {
            "below_cost": _metrics(returns, equity),
            "buy_and_hold": _metrics(bh_returns, bh_equity),
            "weekly_dca": _metrics(dca_returns, dca_equity),
        }
    )
    metrics.loc["trades"] = [len(ENTRIES), 1, int((close.index.day_of_week == 0).sum())]
    params = dict(PARAMS if params is None else params)
    config = {
        "strategy": "below_cost",
        "start": START,
        "end": END,
        "fees": FEE,
        "init_cash": INIT_CASH,
        "params": params,
        "benchmarks": ["buy_and_hold", "weekly_dca"],
        "seed": 0,
    }
    result = BacktestResult(
        strategy="below_cost",
        title=title,
        returns=returns,
        equity=equity,
        benchmarks={"buy_and_hold": bh_returns, "weekly_dca": dca_returns},
        benchmark_equity={"buy_and_hold": bh_equity, "weekly_dca": dca_equity},
        trades=_trades(close),
        metrics=metrics,
        price=close,
        cost=cost,
        cost_band=band,
        entries=ENTRIES,
        exits=EXITS,
        params=params,
        config=config,
        provenance={"seed": 0, "command": "hand-built test input (tests/reports/sample.py)"},
    )
    return with_timezone(result, tz) if tz else result


def with_timezone(result: BacktestResult, tz: str) -> BacktestResult:
    """``result`` with every index and trade time made aware (UTC) and shown in zone ``tz``."""
    import dataclasses

    def aware(obj):
        if obj is None:
            return None
        out = obj.copy()
        out.index = out.index.tz_localize("UTC").tz_convert(tz)
        return out

    trades = result.trades.copy()
    for col in ("entry_time", "exit_time"):
        trades[col] = pd.to_datetime(trades[col]).dt.tz_localize("UTC").dt.tz_convert(tz)
    return dataclasses.replace(
        result,
        returns=aware(result.returns),
        equity=aware(result.equity),
        benchmarks={k: aware(v) for k, v in result.benchmarks.items()},
        benchmark_equity={k: aware(v) for k, v in result.benchmark_equity.items()},
        trades=trades,
        price=aware(result.price),
        cost=aware(result.cost),
        cost_band=aware(result.cost_band),
        entries=result.entries.tz_localize("UTC").tz_convert(tz),
        exits=result.exits.tz_localize("UTC").tz_convert(tz),
    )
