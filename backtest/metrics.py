"""Performance metrics as small pure functions of daily returns (empyrical style), 365 periods a year.

Conventions match quantstats with ``periods=365`` (a test checks Sharpe, CAGR and max drawdown
against it): Sharpe = mean / std(ddof=1) * sqrt(365) (risk-free rate 0); Sortino uses the downside
deviation sqrt(sum(r[r<0]^2) / n); CAGR = (1 + total)^(365 / n) - 1 with n the number of daily
returns; drawdowns are measured from the running peak of equity that starts at 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PERIODS = 365


def total_return(r: pd.Series) -> float:
    """prod(1 + r) - 1."""
    return float(np.prod(1.0 + r.to_numpy(dtype=float)) - 1.0)


def cagr(r: pd.Series, periods: int = PERIODS) -> float:
    """(1 + total return)^(periods / n) - 1; NaN if wealth went below zero or no data."""
    n = int(r.count())
    if n == 0:
        return float("nan")
    wealth = 1.0 + total_return(r.dropna())
    return float(wealth ** (periods / n) - 1.0) if wealth >= 0 else float("nan")


def volatility(r: pd.Series, periods: int = PERIODS) -> float:
    """Annualised standard deviation: std(ddof=1) * sqrt(periods)."""
    return float(r.std(ddof=1) * np.sqrt(periods))


def sharpe(r: pd.Series, periods: int = PERIODS) -> float:
    """mean / std(ddof=1) * sqrt(periods), risk-free rate 0."""
    sd = r.std(ddof=1)
    return float(r.mean() / sd * np.sqrt(periods)) if sd and np.isfinite(sd) else float("nan")


def sortino(r: pd.Series, periods: int = PERIODS) -> float:
    """mean / sqrt(sum(r[r<0]^2) / n) * sqrt(periods)."""
    r = r.dropna()
    down = np.sqrt((r[r < 0] ** 2).sum() / len(r)) if len(r) else 0.0
    return float(r.mean() / down * np.sqrt(periods)) if down else float("nan")


def drawdown(r: pd.Series) -> pd.Series:
    """Equity / running peak - 1, with equity starting at 1 before the first return."""
    equity = (1.0 + r.fillna(0.0)).cumprod()
    peak = np.maximum.accumulate(np.r_[1.0, equity.to_numpy()])[1:]
    return pd.Series(equity.to_numpy() / peak - 1.0, index=r.index)


def max_drawdown(r: pd.Series) -> float:
    """Deepest drawdown (a negative fraction)."""
    return float(drawdown(r).min()) if len(r) else float("nan")


def max_drawdown_days(r: pd.Series) -> int:
    """Longest run of consecutive days below the previous peak."""
    under = (drawdown(r) < 0).to_numpy()
    longest = run = 0
    for u in under:
        run = run + 1 if u else 0
        longest = max(longest, run)
    return int(longest)


def calmar(r: pd.Series, periods: int = PERIODS) -> float:
    """CAGR / |max drawdown|."""
    mdd = max_drawdown(r)
    return float(cagr(r, periods) / abs(mdd)) if mdd < 0 else float("nan")


def trade_stats(trades: pd.DataFrame) -> dict[str, float]:
    """Trades, win rate, profit factor, average trade return and holding days (closed trades)."""
    closed = trades[trades["status"] == "Closed"] if len(trades) else trades
    n_all = int(len(trades))
    if len(closed) == 0:
        return {
            "trades": n_all,
            "win_rate": float("nan"),
            "profit_factor": float("nan"),
            "avg_trade_return": float("nan"),
            "avg_holding_days": float("nan"),
        }
    pnl = closed["pnl_usd"]
    gross_win, gross_loss = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    held = (closed["exit_time"] - closed["entry_time"]).dt.days
    return {
        "trades": n_all,
        "win_rate": float((pnl > 0).mean()),
        "profit_factor": float(gross_win / gross_loss) if gross_loss > 0 else float("inf"),
        "avg_trade_return": float(closed["return_pct"].mean()),
        "avg_holding_days": float(held.mean()),
    }


def summary(
    r: pd.Series, trades: pd.DataFrame | None = None, exposure: float | None = None
) -> dict[str, float]:
    """Every metric the reports and the terminal show, for one return series."""
    out = {
        "total_return": total_return(r),
        "cagr": cagr(r),
        "volatility": volatility(r),
        "sharpe": sharpe(r),
        "sortino": sortino(r),
        "calmar": calmar(r),
        "max_drawdown": max_drawdown(r),
        "max_drawdown_days": float(max_drawdown_days(r)),
        "exposure": float("nan") if exposure is None else exposure,
    }
    if trades is not None:
        out.update(trade_stats(trades))
    return out
