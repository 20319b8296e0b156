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

from dataclasses import asdict, dataclass, fields

import pandas as pd

from backtest import metrics as m
from backtest.result import BacktestResult
from signals.params import param
from strategies import STRATEGIES
from strategies.base import ExitParams, Plan, Strategy, time_stop_exits

FILLS = ("next_open", "next_close")


@dataclass(frozen=True)
class EngineConfig:
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


def _ohlc(panel: pd.DataFrame, instrument: str, start=None) -> pd.DataFrame:
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


def simulate(ohlc: pd.DataFrame, plan: Plan, exits_params: ExitParams, config: EngineConfig):
    """Run vectorbt's `Portfolio.from_signals` for one plan on the given candles."""
    import vectorbt as vbt

    entries = plan.entries.reindex(ohlc.index, fill_value=False).astype(bool)
    exits = plan.exits.reindex(ohlc.index, fill_value=False).astype(bool)
    if exits_params.time_stop_days > 0:
        exits = exits | time_stop_exits(entries, exits, exits_params.time_stop_days)
    kwargs = {}
    if plan.accumulate or plan.entry_size < 1.0:
        kwargs.update(size=config.init_cash * plan.entry_size, size_type="value")
    if exits_params.stop_loss > 0:
        kwargs.update(sl_stop=exits_params.stop_loss, sl_trail=exits_params.trailing_stop)
    if exits_params.take_profit > 0:
        kwargs.update(tp_stop=exits_params.take_profit)
    if "sl_stop" in kwargs or "tp_stop" in kwargs:
        kwargs.update(stop_entry_price="fillprice")  # stops relative to the price actually paid
    price = ohlc["open"] if config.fill == "next_open" else ohlc["close"]
    return vbt.Portfolio.from_signals(
        close=ohlc["close"],
        entries=shift_to_next_bar(entries),
        exits=shift_to_next_bar(exits),
        price=price,
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
        return pd.DataFrame(
            columns=[
                "entry_time",
                "exit_time",
                "entry_price",
                "exit_price",
                "size_btc",
                "pnl_usd",
                "return_pct",
                "fees_usd",
                "status",
            ]
        )
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


def _funding_adjusted(pf, panel: pd.DataFrame, ohlc: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Equity and returns after funding paid (received) on the open perpetual position."""
    value = pf.value()
    position_value = pf.asset_value()
    rate = panel["funding_rate_8h_mean"].reindex(ohlc.index).fillna(0.0) * 3.0
    paid = (position_value * rate).cumsum()
    equity = value - paid
    returns = equity.pct_change().fillna(equity.iloc[0] / pf.init_cash - 1.0)
    return equity, returns


def provenance(config: dict, seed: int) -> dict:
    """costbt version, git commit (and dirty flag), bundle manifest hash, full config and seed."""
    from backtest import provenance as prov

    return {
        "costbt_version": prov.costbt_version(),
        "git_commit": prov.git_commit(),
        "git_dirty": prov.git_dirty(),
        "data_manifest_sha256": prov.manifest_hash(),
        "seed": seed,
        "config": config,
    }


def run_strategy(
    panel: pd.DataFrame,
    strategy: Strategy,
    params: object,
    config: EngineConfig,
    start=None,
) -> tuple[object, pd.DataFrame, Plan, pd.Series, pd.Series]:
    """Plan and simulate one strategy; returns (portfolio, ohlc, plan, equity, returns).

    The plan (signals) is computed on the whole panel; trading starts flat on the first candle
    on or after ``start`` (None: the first candle), so trailing windows and expanding fits are
    warm on the first traded day, as they were for a trader at the time.
    """
    ohlc = _ohlc(panel, config.instrument, start)
    plan = strategy.plan(panel, params)
    exits_params = params if isinstance(params, ExitParams) else ExitParams()
    pf = simulate(ohlc, plan, exits_params, config)
    if config.instrument == "perp":
        equity, returns = _funding_adjusted(pf, panel, ohlc)
    else:
        equity = pf.value()
        returns = pf.returns()
    return pf, ohlc, plan, equity, returns


def _exposure(pf) -> float:
    held = pf.assets() if hasattr(pf, "assets") else pf.asset_flow().cumsum()
    return float((held > 0).mean())


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
    `run_strategy`). The panel's last row is the last traded day.
    """
    strategy = STRATEGIES[strategy_name]
    params = strategy.params() if params is None else params
    pf, ohlc, plan, equity, returns = run_strategy(panel, strategy, params, config, start)
    bench_returns, bench_equity, bench_trades, bench_exposure = {}, {}, {}, {}
    for name in ("buy_and_hold", "weekly_dca"):
        bpf, _, _, beq, bret = run_strategy(
            panel, STRATEGIES[name], STRATEGIES[name].params(), config, start
        )
        bench_returns[name], bench_equity[name] = bret, beq
        bench_trades[name], bench_exposure[name] = trades_frame(bpf), _exposure(bpf)
    trades = trades_frame(pf)
    table = {strategy_name: m.summary(returns, trades, _exposure(pf))}
    for name in bench_returns:
        table[name] = m.summary(bench_returns[name], bench_trades[name], bench_exposure[name])
    entries_filled = pd.DatetimeIndex(trades["entry_time"].dropna().unique()).sort_values()
    exits_filled = pd.DatetimeIndex(trades["exit_time"].dropna().unique()).sort_values()
    cfg = {
        "strategy": strategy_name,
        "params": {f.name: getattr(params, f.name) for f in fields(params)},
        "engine": asdict(config),
        **(extra_config or {}),
    }
    return BacktestResult(
        strategy=strategy_name,
        title=title or f"costbt: {strategy_name}",
        returns=returns,
        equity=equity,
        benchmarks=bench_returns,
        benchmark_equity=bench_equity,
        trades=trades,
        metrics=pd.DataFrame(table),
        price=ohlc["close"],
        cost=None if plan.cost is None else plan.cost.reindex(ohlc.index),
        cost_band=None if plan.cost_band is None else plan.cost_band.reindex(ohlc.index),
        entries=entries_filled,
        exits=exits_filled,
        params=cfg["params"],
        config=cfg,
        provenance=provenance(cfg, config.seed),
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
    ]
    return result.metrics.loc[[r for r in rows if r in result.metrics.index]]


__all__ = [
    "EngineConfig",
    "FILLS",
    "backtest",
    "shift_to_next_bar",
    "simulate",
    "summary_table",
    "trades_frame",
]
