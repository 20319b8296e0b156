"""The backtest engine: a strategy's plan filled by vectorbt on the next bar, with costs.

Timing. Panel row d is known at the close of d (00:00 UTC of d+1). A signal on day d is filled on
the NEXT bar: at its open (``fill="next_open"``, the default: the first trade after the decision)
or at its close (``"next_close"``). Entries and exits are shifted by one row before vectorbt sees
them, so a same-bar fill cannot happen (tested). Stop-loss, trailing-stop and take-profit orders
are vectorbt's intrabar stops on the next bars' high and low.

Costs. ``fees_bps`` and ``slippage_bps`` apply to every fill (1 bp = 0.01 %); ``init_cash`` in USD.
With ``instrument="perp"`` the strategy trades the Binance USDT-M perpetual's candles and pays
(or receives) funding while long: each day the position value times the day's mean 8-hour rate
times 3 is taken from the equity (an adjustment of the equity curve; trade P&L excludes it).

Annualisation: 365 days (vectorbt's ``year_freq`` and every metric).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from costbt.backtest import metrics as m
from costbt.backtest.degenerate import degeneracy, market_correlation
from costbt.backtest.fast import DIAGNOSTICS, EXIT_CAUSES, METRICS
from costbt.backtest.result import BacktestResult
from costbt.signals.params import Validated, param
from costbt.strategies import STRATEGIES
from costbt.strategies.base import ExitParams, Plan, Strategy, time_stop_exits

FILLS = ("next_open", "next_close")


@dataclass(frozen=True)
class EngineConfig(Validated):
    """How orders are filled and what they cost."""

    init_cash: float = param(10_000.0, low=1.0, high=1e12, unit="USD", help="starting cash")
    fees_bps: float = param(10.0, low=0.0, high=500.0, step=1.0, unit="bps", help="fee per fill")
    slippage_bps: float = param(
        5.0, low=0.0, high=500.0, step=1.0, unit="bps", help="price slippage per fill"
    )
    fill: str = param(
        "next_open", choices=FILLS, help="fill a signal at the next bar's open or close"
    )
    instrument: str = param(
        "spot", choices=("spot", "perp"), help="trade spot BTC or the USDT-M perpetual"
    )
    seed: int = param(0, low=0, high=2**31 - 1, help="seed for anything random (cost band draws)")


def candles(panel: pd.DataFrame, instrument: str, start=None) -> pd.DataFrame:
    """Candles from the first known close (on or after ``start``) to the last known close."""
    prefix = "perp_" if instrument == "perp" else ""
    cols = {c: f"{prefix}{c}_usd" for c in ("open", "high", "low", "close")}
    frame = pd.DataFrame({k: panel[v] for k, v in cols.items()})
    if start is not None:
        frame = frame.loc[pd.Timestamp(start) :]
    known = frame["close"].notna()
    if not known.any():
        raise ValueError(f"no {instrument} prices in the selected period")
    first, last = known.idxmax(), known[::-1].idxmax()
    return frame.loc[first:last]


def shift_to_next_bar(signal: pd.Series) -> pd.Series:
    """Signal on day d -> order on day d+1 (the next row); nothing is filled on the signal day."""
    return signal.astype(bool).shift(1, fill_value=False)


@dataclass(frozen=True)
class Orders:
    """What a plan asks of each bar (fill days), before vectorbt runs it.

    ``entries``/``exits`` are the orders on each bar: the signal of the previous row (for the
    first bar, the plan's signal on the panel row before it: ``prior``); ``by_signal`` and
    ``by_time`` tell which exits come from the plan's exit signal and which from the time stop;
    ``forced_end`` is True when a position still held on the last bar is sold at its close
    (``close_at_end``); ``price`` is each bar's order price before slippage.
    """

    entries: pd.Series
    exits: pd.Series
    by_signal: np.ndarray
    by_time: np.ndarray
    forced_end: bool
    price: pd.Series


def orders_for(
    ohlc: pd.DataFrame,
    plan: Plan,
    exits_params: ExitParams,
    config: EngineConfig,
    *,
    prior: tuple[bool, bool] = (False, False),
    close_at_end: bool = False,
) -> Orders:
    """The orders of `Orders` for a plan on the candles ``ohlc`` (see `simulate`)."""
    e = plan.entries.reindex(ohlc.index, fill_value=False).astype(bool).to_numpy()
    x = plan.exits.reindex(ohlc.index, fill_value=False).astype(bool).to_numpy()
    # Signals from the row before the first bar (index 0 of the extended arrays) on.
    e_ext = np.r_[bool(prior[0]), e]
    x_ext = np.r_[bool(prior[1]), x]
    t_ext = np.zeros(len(e_ext), dtype=bool)
    if exits_params.time_stop_days > 0:
        t_ext = time_stop_exits(
            pd.Series(e_ext), pd.Series(x_ext), exits_params.time_stop_days
        ).to_numpy()
    entries = e_ext[:-1].copy()
    by_signal = x_ext[:-1].copy()
    by_time = t_ext[:-1] & ~by_signal
    exits = by_signal | by_time
    price = (ohlc["open"] if config.fill == "next_open" else ohlc["close"]).copy()
    forced = False
    if close_at_end and len(ohlc):
        entries[-1] = False  # nothing is bought on the last bar: it would be sold at its close
        if not exits[-1]:
            exits[-1] = True
            price.iloc[-1] = ohlc["close"].iloc[-1]
            forced = True
    return Orders(
        entries=pd.Series(entries, index=ohlc.index),
        exits=pd.Series(exits, index=ohlc.index),
        by_signal=by_signal,
        by_time=by_time,
        forced_end=forced,
        price=price,
    )


def simulate(
    ohlc: pd.DataFrame,
    plan: Plan,
    exits_params: ExitParams,
    config: EngineConfig,
    *,
    prior: tuple[bool, bool] = (False, False),
    close_at_end: bool = False,
):
    """Run vectorbt's `Portfolio.from_signals` for one plan on the given candles.

    A signal on bar k is an order on bar k+1; ``prior`` = the plan's (entry, exit) on the panel
    row before the first bar, ordered on the first bar. ``close_at_end``: a position still held
    on the last bar is sold at its close (slippage and fees charged), and nothing is bought there.
    """
    return _run_vectorbt(
        ohlc,
        plan,
        exits_params,
        config,
        orders_for(ohlc, plan, exits_params, config, prior=prior, close_at_end=close_at_end),
    )


def _run_vectorbt(ohlc: pd.DataFrame, plan: Plan, exits_params: ExitParams, config, orders):
    import vectorbt as vbt

    kwargs = {}
    if plan.accumulate or plan.entry_size < 1.0:
        kwargs.update(size=config.init_cash * plan.entry_size, size_type="value")
    if exits_params.stop_loss > 0:
        kwargs.update(sl_stop=exits_params.stop_loss, sl_trail=exits_params.trailing_stop)
    if exits_params.take_profit > 0:
        kwargs.update(tp_stop=exits_params.take_profit)
    if "sl_stop" in kwargs or "tp_stop" in kwargs:
        kwargs.update(stop_entry_price="fillprice")  # stops relative to the price actually paid
    return vbt.Portfolio.from_signals(
        close=ohlc["close"],
        entries=orders.entries,
        exits=orders.exits,
        price=orders.price,
        open=ohlc["open"],
        high=ohlc["high"],
        low=ohlc["low"],
        fees=config.fees_bps / 1e4,
        slippage=config.slippage_bps / 1e4,
        init_cash=config.init_cash,
        accumulate="addonly" if plan.accumulate else False,  # an exit closes the whole position
        freq="1D",
        **kwargs,
    )


def trades_frame(pf) -> pd.DataFrame:
    """vectorbt's trade records in costbt's columns (see `BacktestResult.trades`)."""
    t = pf.trades.records_readable
    if len(t) == 0:
        return pd.DataFrame(columns=list(TRADE_COLUMNS))
    status = t["Status"].astype(str)
    return pd.DataFrame(
        {
            "entry_time": pd.to_datetime(
                t["Entry Index"] if "Entry Index" in t else t["Entry Timestamp"]
            ),
            "exit_time": pd.to_datetime(
                (t["Exit Index"] if "Exit Index" in t else t["Exit Timestamp"]).where(
                    status == "Closed"
                )
            ),
            "entry_price": t["Avg Entry Price"].astype(float),
            "exit_price": t["Avg Exit Price"].astype(float).where(status == "Closed"),
            "size_btc": t["Size"].astype(float),
            "pnl_usd": t["PnL"].astype(float),
            "return_pct": t["Return"].astype(float),
            "fees_usd": (t["Entry Fees"] + t["Exit Fees"]).astype(float),
            "status": status.to_numpy(),
        }
    )


TRADE_COLUMNS = (
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "size_btc",
    "pnl_usd",
    "return_pct",
    "fees_usd",
    "status",
)


def _funding_adjusted(pf, panel: pd.DataFrame, ohlc: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Equity and returns after funding paid (received) on the open perpetual position."""
    value = pf.value()
    position_value = pf.asset_value()
    rate = panel["funding_rate_8h_mean"].reindex(ohlc.index).fillna(0.0) * 3.0
    paid = (position_value * rate).cumsum()
    equity = value - paid
    returns = equity.pct_change().fillna(equity.iloc[0] / pf.init_cash - 1.0)
    return equity, returns


def exits_by_cause(pf, orders: Orders, exits_params: ExitParams, config: EngineConfig) -> dict:
    """Count the run's exits by cause (`backtest.fast.EXIT_CAUSES`) from its sell orders.

    A sell filled at the bar's order price (after slippage) on a bar with a signal exit is
    ``signal``, with a time-stop exit ``time_stop``, the forced sale on the last bar ``end``;
    any other sell is a price stop: ``take_profit`` if it was at or above the entry price times
    (1 + take_profit) before slippage, else ``trailing_stop`` or ``stop_loss`` by the setting. A
    position still held after the last bar counts one ``end`` (valued at the close).
    """
    counts = {f"exits_{c}": 0.0 for c in EXIT_CAUSES}
    rec = pf.orders.values
    sells = rec[rec["side"] == 1]
    slip = config.slippage_bps / 1e4
    n = len(orders.entries)
    trades = pf.trades.values if len(sells) else None
    for order in sells:
        k, paid = int(order["idx"]), float(order["price"])
        at_order_price = math.isclose(
            paid, float(orders.price.iloc[k]) * (1.0 - slip), rel_tol=1e-12, abs_tol=0.0
        )
        if at_order_price and orders.forced_end and k == n - 1:
            cause = "end"
        elif at_order_price and orders.by_signal[k]:
            cause = "signal"
        elif at_order_price and orders.by_time[k]:
            cause = "time_stop"
        else:
            entry = float("nan")
            if trades is not None:
                closing = trades[trades["exit_idx"] == k]
                if len(closing):
                    entry = float(closing["entry_price"][0])
            level = entry * (1.0 + exits_params.take_profit)
            if exits_params.take_profit > 0 and paid / (1.0 - slip) >= level * (1.0 - 1e-9):
                cause = "take_profit"
            elif exits_params.trailing_stop:
                cause = "trailing_stop"
            else:
                cause = "stop_loss"
        counts[f"exits_{cause}"] += 1.0
    if len(pf.assets()) and float(pf.assets().iloc[-1]) > 0:
        counts["exits_end"] += 1.0
    return counts


def rule_coverage(rule: pd.Series | None, days: pd.Index) -> tuple[float, float]:
    """(entry share, signal coverage) of an entry rule over ``days``.

    entry share = days the rule was True / days it was known; coverage = days known / days.
    NaN for a plan without a rule (benchmarks) or a span with no known day.
    """
    if rule is None or not len(days):
        return float("nan"), float("nan")
    r = rule.astype("boolean").reindex(days)
    known = int(r.notna().sum())
    on = int(r.fillna(False).astype(bool).sum())
    return (on / known if known else float("nan")), known / len(days)


@dataclass(frozen=True)
class StrategyRun:
    """One strategy (or benchmark) simulated on its traded span.

    ``pf`` is the vectorbt portfolio (None for a benchmark: `backtest.benchmarks`), ``plan`` its
    plan, ``equity`` and ``returns`` daily, ``trades`` in `TRADE_COLUMNS`, ``exposure`` the share
    of the span's days holding bitcoin, ``diagnostics`` the entry share, signal coverage,
    market correlation and exits by cause (the non-performance columns of
    `backtest.fast.METRICS`).
    """

    pf: Any
    ohlc: pd.DataFrame
    plan: Plan | None
    equity: pd.Series
    returns: pd.Series
    trades: pd.DataFrame
    exposure: float
    diagnostics: dict[str, float]

    def metrics(self) -> dict[str, float]:
        """Every `backtest.fast.METRICS` value of this run."""
        r = self.returns
        out = {
            "final_equity": float(self.equity.iloc[-1]),
            "total_return": m.total_return(r),
            "trades": float(len(self.trades)),
            "sharpe": m.sharpe(r),
            "max_drawdown": m.max_drawdown(r),
            "exposure": self.exposure,
            "cagr": m.cagr(r),
            **self.diagnostics,
        }
        return {k: out[k] for k in METRICS}

    @property
    def flag(self) -> str | None:
        """`backtest.degenerate.degeneracy` of this run (None: neither flag)."""
        d = self.diagnostics
        return degeneracy(len(self.trades), self.exposure, d.get("market_corr"))


def prior_signals(panel: pd.DataFrame, plan: Plan, first_bar) -> tuple[bool, bool]:
    """The plan's (entry, exit) on the panel row before ``first_bar`` (False, False if none)."""
    pos = int(panel.index.searchsorted(pd.Timestamp(first_bar), "left"))
    if pos == 0:
        return False, False
    day = panel.index[pos - 1]
    return (
        bool(plan.entries.reindex([day], fill_value=False).iloc[0]),
        bool(plan.exits.reindex([day], fill_value=False).iloc[0]),
    )


def run_strategy(
    panel: pd.DataFrame,
    strategy: Strategy,
    params: object,
    config: EngineConfig,
    start=None,
    *,
    close_at_end: bool = False,
    report_extras: bool = True,
) -> StrategyRun:
    """Plan and simulate one strategy on the candles from ``start`` to the panel's last close.

    ``report_extras=False`` plans with `strategies.base.Strategy.plan_signals` when the strategy
    has one: the same orders without what only a report draws (the cost band), for sweeps and
    verification.

    The plan (signals) is computed on the whole panel; trading starts flat on the first candle
    on or after ``start`` (None: the first candle), so trailing windows and expanding fits are
    warm on the first traded day, as they were for a trader at the time, and the first bar
    fills the plan's signal of the row before it. Benchmark strategies are planned on the same
    span by `backtest.benchmarks.span_benchmarks`.
    """
    if strategy.benchmark:
        from costbt.backtest.benchmarks import span_benchmarks

        return span_benchmarks(
            panel, config, start, None, close_at_end=close_at_end, names=(strategy.name,)
        )[strategy.name]
    ohlc = candles(panel, config.instrument, start)
    planner = strategy.plan
    if not report_extras and strategy.plan_signals is not None:
        planner = strategy.plan_signals
    plan = planner(panel, params)
    exits_params = params if isinstance(params, ExitParams) else ExitParams()
    prior = prior_signals(panel, plan, ohlc.index[0])
    orders = orders_for(ohlc, plan, exits_params, config, prior=prior, close_at_end=close_at_end)
    pf = _run_vectorbt(ohlc, plan, exits_params, config, orders)
    if config.instrument == "perp":
        equity, returns = _funding_adjusted(pf, panel, ohlc)
    else:
        equity = pf.value()
        returns = pf.returns()
    share, coverage = rule_coverage(plan.entry_rule, ohlc.index)
    diagnostics = {
        "entry_share": share,
        "signal_coverage": coverage,
        "market_corr": market_correlation(returns, ohlc["close"]),
        **exits_by_cause(pf, orders, exits_params, config),
    }
    return StrategyRun(
        pf=pf,
        ohlc=ohlc,
        plan=plan,
        equity=equity,
        returns=returns,
        trades=trades_frame(pf),
        exposure=held_share(pf),
        diagnostics=diagnostics,
    )


def held_share(pf) -> float:
    held = pf.assets() if hasattr(pf, "assets") else pf.asset_flow().cumsum()
    return float((held > 0).mean())


def provenance(config: dict, seed: int) -> dict:
    """costbt version, git commit (and dirty flag), bundle manifest hash, full config and seed."""
    from costbt.backtest import provenance as prov

    return prov.record(seed=seed, config=config)


def signal_span(rule: pd.Series | None, days: pd.Index) -> dict | None:
    """Where the entry rule is known inside the traded ``days`` (None for a rule-free plan).

    Keys: ``first``/``last`` (first and last day with a known rule, None if never known),
    ``unknown_days`` (traded days with the rule unknown), ``unknown_after`` (traded days after
    ``last``: the signal's inputs ended before the prices did), ``days``.
    """
    if rule is None or not len(days):
        return None
    known = rule.astype("boolean").reindex(days).notna()
    where = days[known.to_numpy()]
    last = where[-1] if len(where) else None
    return {
        "first": where[0] if len(where) else None,
        "last": last,
        "unknown_days": int((~known).sum()),
        "unknown_after": int((days > last).sum()) if last is not None else len(days),
        "days": len(days),
    }


def backtest(
    panel: pd.DataFrame,
    strategy_name: str,
    params: object | None = None,
    config: EngineConfig = EngineConfig(),
    *,
    title: str | None = None,
    extra_config: dict | None = None,
    start=None,
) -> BacktestResult:
    """Run a strategy and the buy-and-hold and weekly-DCA benchmarks on the same candles.

    ``start``: first traded day (signals still use the panel's earlier history; see
    `run_strategy`). The panel's last row is the last traded day. The benchmarks are planned on
    the strategy's traded span (`backtest.benchmarks.span_benchmarks`).
    """
    from costbt.backtest.benchmarks import span_benchmarks

    strategy = STRATEGIES[strategy_name]
    params = strategy.params() if params is None else params
    run = run_strategy(panel, strategy, params, config, start)
    ohlc, plan = run.ohlc, run.plan
    bench = span_benchmarks(panel, config, ohlc.index[0], ohlc.index[-1])
    runs = {strategy_name: run, **{k: v for k, v in bench.items() if k != strategy_name}}
    table = {}
    for name, r in runs.items():
        row = m.summary(r.returns, r.trades, r.exposure)
        row.update({k: r.diagnostics[k] for k in DIAGNOSTICS})
        table[name] = row
    trades = run.trades
    entries_filled = pd.DatetimeIndex(trades["entry_time"].dropna().unique()).sort_values()
    exits_filled = pd.DatetimeIndex(trades["exit_time"].dropna().unique()).sort_values()
    cfg = {
        "strategy": strategy_name,
        "params": {f.name: getattr(params, f.name) for f in fields(params)},
        "engine": asdict(config),
        **(extra_config or {}),
    }
    others = {k: v for k, v in runs.items() if k != strategy_name}
    return BacktestResult(
        strategy=strategy_name,
        title=title or f"costbt: {strategy_name}",
        returns=run.returns,
        equity=run.equity,
        benchmarks={k: v.returns for k, v in others.items()},
        benchmark_equity={k: v.equity for k, v in others.items()},
        trades=trades,
        metrics=pd.DataFrame(table),
        price=ohlc["close"],
        cost=None if plan is None or plan.cost is None else plan.cost.reindex(ohlc.index),
        cost_band=(
            None if plan is None or plan.cost_band is None else plan.cost_band.reindex(ohlc.index)
        ),
        entries=entries_filled,
        exits=exits_filled,
        params=cfg["params"],
        config=cfg,
        provenance=provenance(cfg, config.seed),
        flags={name: r.flag for name, r in runs.items() if not STRATEGIES[name].benchmark},
        signal=None if plan is None else signal_span(plan.entry_rule, ohlc.index),
    )


def summary_table(result: BacktestResult) -> pd.DataFrame:
    """The terminal summary: key metrics, strategy against the benchmarks."""
    rows = [
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
        "entry_share",
        "market_corr",
    ]
    return result.metrics.loc[[r for r in rows if r in result.metrics.index]]


__all__ = [
    "DIAGNOSTICS",
    "EngineConfig",
    "FILLS",
    "Orders",
    "StrategyRun",
    "backtest",
    "exits_by_cause",
    "orders_for",
    "run_strategy",
    "signal_span",
    "shift_to_next_bar",
    "simulate",
    "summary_table",
    "trades_frame",
]
