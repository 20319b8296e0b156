"""A numba fast path for sweeping the ``below_cost`` strategy over many parameter combinations.

`sweep_below_cost(panel, grid)` evaluates every row of ``grid`` (a DataFrame or a list of dicts of
`strategies.below_cost.BelowCostStrategyParams` fields plus the engine's ``init_cash``,
``fees_bps``, ``slippage_bps`` and ``fill``) and returns one row of metrics per combination. It
reproduces `backtest.engine.simulate` (vectorbt's ``Portfolio.from_signals``) for the same
parameters: a signal on day d is filled on the next bar (open or close), all cash in
(size = cash / (price (1 + slippage) (1 + fees))), everything out at price (1 - slippage)
(1 - fees), no order when an entry and an exit land on the same bar, an entry while long is
ignored, and the time stop of `strategies.base.time_stop_exits`. `verify_against_vectorbt`
re-runs rows through vectorbt and raises on a difference beyond ``rtol``.

How it stays fast and small:

* The production cost (and so the price/cost ratio) depends only on the cost-assumption fields
  that the row's model uses; it is computed ONCE per distinct set with
  `signals.production_cost.cost_models` (a K x T array, K small), never per combination.
* The kernel loops over combinations in parallel (``prange``; every numba thread) and over bars
  inside each, deriving the entry/exit signals, the fills, the daily returns (mean and variance
  from sums of the returns shifted by their typical mean: the stable shifted-data method),
  drawdown and exposure on the fly. Nothing of size bars x combinations is ever allocated:
  outputs are one value per combination, and the grid is processed in chunks.

Not in the fast path (rows with them fall back to vectorbt one by one, or raise with
``fallback=False``): price stops (``stop_loss``, ``take_profit``, ``trailing_stop``: vectorbt's
intrabar stop logic is not reproduced here), the hash-ribbon confirmation
(``ribbon_confirm_days > 0``) and the perpetual (``instrument="perp"``, funding).
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pandas as pd
from numba import njit, prange

from costbt.backtest.metrics import PERIODS  # noqa: E402 - the one annualisation constant
from costbt.backtest.result import EXIT_CAUSES
from costbt.signals import production_cost as pc

#: Every per-combination output, in the kernel's column order. Beyond performance, each run says
#: what it was: ``entry_share`` (days its entry rule was on / days the rule was known, over the
#: span), ``signal_coverage`` (days the rule was known / days of the span), ``market_corr``
#: (correlation of its daily returns with the traded close's close-to-close returns, spot here,
#: `backtest.degenerate.market_correlation`), and its exits by cause. ``exits_end`` counts the
#: position still held on the span's last day: closed there at the close with costs when the
#: run closes at the end (walk-forward test windows), else valued at the close (open at the end).
PERFORMANCE = (
    "final_equity",
    "total_return",
    "trades",
    "sharpe",
    "max_drawdown",
    "exposure",
    "cagr",
)
#: What each run was, beyond its performance (see `METRICS`).
DIAGNOSTICS = (
    "entry_share",
    "signal_coverage",
    "market_corr",
    *(f"exits_{cause}" for cause in EXIT_CAUSES),
)
METRICS = PERFORMANCE + DIAGNOSTICS
# Exits by cause (`EXIT_CAUSES`) are in `METRICS` order; the kernel never produces the three
# price stops.
#: Cost-assumption fields each model reads (the others do not change its cost series).
_ELECTRICITY = (
    "power_price",
    "efficiency_scale",
    "pue",
    "fleet_lag_days",
    "smooth_days",
    "include_fees",
)
MODEL_FIELDS: dict[str, tuple[str, ...]] = {
    "electricity": _ELECTRICITY,
    "hayes": ("power_price", "efficiency_scale", "pue", "fleet_lag_days", "include_fees"),
    "all_in": _ELECTRICITY + ("opex_multiplier", "hardware_usd_per_th", "depreciation_years"),
    "difficulty_regression": (),
    "external": ("estimate_max_age_days",),
}
ENGINE_FIELDS = ("init_cash", "fees_bps", "slippage_bps", "fill", "instrument", "seed")
#: Parameters the fast path cannot reproduce unless they are at these values.
UNSUPPORTED = {
    "stop_loss": 0.0,
    "take_profit": 0.0,
    "trailing_stop": False,
    "ribbon_confirm_days": 0,
    "instrument": "spot",
}


# ----------------------------------------------------------------------------- the kernel

NO_RETURNS = np.empty((0, 0))
_M = {name: i for i, name in enumerate(METRICS)}
_FINAL, _TOTAL, _TRADES, _SHARPE = (
    _M["final_equity"],
    _M["total_return"],
    _M["trades"],
    _M["sharpe"],
)
_MDD, _EXPOSURE, _CAGR = _M["max_drawdown"], _M["exposure"], _M["cagr"]
_ENTRY_SHARE, _COVERAGE, _CORR = _M["entry_share"], _M["signal_coverage"], _M["market_corr"]
_X_SIGNAL, _X_TIME, _X_END = _M["exits_signal"], _M["exits_time_stop"], _M["exits_end"]
_X_TP, _X_SL, _X_TSL = _M["exits_take_profit"], _M["exits_stop_loss"], _M["exits_trailing_stop"]


@njit(parallel=True, cache=True)
def sweep_nb(
    ratio,  # K x T: price / cost of each distinct cost-assumption set (NaN: unknown)
    open_,  # T
    close,  # T
    t0,  # first traded row (first known close)
    t1,  # last traded row
    set_idx,  # N: row of ``ratio`` for each combination
    entry_ratio,  # N
    confirm_days,  # N
    exit_ratio,  # N
    fee,  # N (fraction)
    slip,  # N (fraction)
    time_stop,  # N (days, 0: off)
    fill_close,  # N (True: fill at the next bar's close, else its open)
    init_cash,  # N
    close_at_end,  # True: sell a position still held on t1 at t1's close, with costs
    out,  # N x len(METRICS), columns in METRICS order
    rets,  # N x T daily returns (rows t0..t1 written), or 0 x 0 when not wanted
):
    n = set_idx.shape[0]
    keep = rets.shape[0] == n
    nbars = t1 - t0 + 1
    # Shared by every combination: close-to-close returns (the return of a day spent fully
    # invested with no cash left and no order, and the market's return for the correlation),
    # and their mean ``shift``: the variance of the daily returns is accumulated on data shifted
    # by it (sums of r - shift and its square, a numerically stable method when the shift is
    # near the mean; daily returns' mean is tiny against their spread anyway) in two independent
    # sums, not a serial Welford chain.
    growth = np.zeros(close.shape[0])
    shift = 0.0
    for i in range(t0 + 1, t1 + 1):
        growth[i] = close[i] / close[i - 1] - 1.0
        shift += growth[i]
    shift /= max(nbars - 1, 1)
    # The market's side of the correlation (days t0+1 .. t1).
    mdays = nbars - 1
    g1 = 0.0
    g2 = 0.0
    dgrowth = np.zeros(close.shape[0])
    for i in range(t0 + 1, t1 + 1):
        dgrowth[i] = growth[i] - shift
        g1 += dgrowth[i]
        g2 += dgrowth[i] * dgrowth[i]
    for j in prange(n):
        r = ratio[set_idx[j]]
        er = entry_ratio[j]
        cd = max(confirm_days[j], 1)
        xr = exit_ratio[j]
        f = fee[j]
        s = slip[j]
        ts = time_stop[j]
        price = close if fill_close[j] else open_
        cash0 = init_cash[j]
        # The rows before t0 are history: the run of days below entry_ratio up to t0 - 1 and
        # that row's decision, which is filled on t0 (as a trader starting on t0 would act on
        # yesterday's signal at today's open).
        run = 0
        last_false = -(cd + 1)  # last row whose ratio was known and not below entry_ratio
        for i in range(max(t0 - cd, 0), t0):
            if r[i] < er:
                run += 1
            else:
                run = 0
                if r[i] == r[i]:
                    last_false = i
        want_in = False
        want_out = False
        out_by_time = False
        held = -1
        if t0 > 0:
            want_in = run >= cd
            want_out = r[t0 - 1] > xr
            if ts > 0 and want_in:
                held = 0
        cash = cash0
        btc = 0.0
        prev_v = cash0
        s1 = 0.0  # sum of (r - shift) over the days with a position or an order
        s2 = 0.0  # sum of (r - shift)^2 over them
        flat = 0  # days without a position or an order: r = 0 exactly (added at the end)
        c1 = 0.0  # correlation sums over days t0+1 .. t1: sum of (r - shift)
        c2 = 0.0  # ... of (r - shift)^2
        c12 = 0.0  # ... of (r - shift) (g - shift)
        g_in = 0.0  # sum of (g - shift) over the days of t0+1 .. t1 with a position or an order
        flat_after = 0  # flat days without an order in t0+1 .. t1
        peak = cash0
        mdd = 0.0
        trades = 0
        exposed = 0
        known = 0
        entry_on = 0
        x_signal = 0
        x_time = 0
        x_end = 0
        for i in range(t0, t1 + 1):
            if close_at_end and i == t1:
                want_in = False  # no entry on the last bar: it would be sold at its close
            # Yesterday's decision, filled on this bar.
            traded = False
            if want_in and want_out:
                pass  # conflicting signals: no order
            elif want_out and btc > 0.0:
                cash += btc * price[i] * (1.0 - s) * (1.0 - f)
                btc = 0.0
                traded = True
                if out_by_time:
                    x_time += 1
                else:
                    x_signal += 1
            elif want_in and btc == 0.0 and cash > 0.0:
                p = price[i] * (1.0 + s)
                size = cash / (p * (1.0 + f))
                cash -= size * p * (1.0 + f)
                btc = size
                trades += 1
                traded = True
            if close_at_end and i == t1 and btc > 0.0:
                # The span ends: a forced exit at the last close, costs charged.
                cash += btc * close[i] * (1.0 - s) * (1.0 - f)
                btc = 0.0
                traded = True
                x_end += 1
            if btc > 0.0 or traded:
                if btc > 0.0:
                    v = cash + btc * close[i]
                    exposed += 1
                    # All in, no order today: the close-to-close return (v / prev_v - 1 up to
                    # rounding).
                    fully_in = cash == 0.0 and not traded and i > t0
                    ret = growth[i] if fully_in else v / prev_v - 1.0
                else:
                    v = cash
                    ret = v / prev_v - 1.0
                prev_v = v
                if keep:
                    rets[j, i] = ret
                dev = ret - shift
                s1 += dev
                s2 += dev * dev
                if i > t0:
                    dg = dgrowth[i]
                    c1 += dev
                    c2 += dev * dev
                    c12 += dev * dg
                    g_in += dg
                if v > peak:
                    peak = v
                elif v < peak * (1.0 + mdd) * (1.0 + 1e-12):  # only a candidate needs dividing
                    dd = v / peak - 1.0
                    if dd < mdd:
                        mdd = dd
            else:
                # Flat and no order: the value is unchanged and r = 0; the sums get these days'
                # (constant) terms at the end, from the counts.
                flat += 1
                if i > t0:
                    flat_after += 1
                if keep:
                    rets[j, i] = 0.0
            # Today's signals (NaN ratio: no decision), filled tomorrow. The entry rule is known
            # as `signals.conditions.held_for` has it: True after cd days below, False if a
            # known day of the window was not below, else unknown (a NaN broke the run).
            x = r[i]
            if x < er:
                run += 1
            else:
                run = 0
                if x == x:
                    last_false = i
            ent = run >= cd
            if ent:
                entry_on += 1
                known += 1
            elif last_false >= i - cd + 1:
                known += 1
            ex = x > xr
            by_time = False
            if ts > 0:
                if held >= 0:
                    held += 1
                    if ex:
                        held = -1
                    elif held >= ts:
                        ex = True
                        by_time = True
                        held = -1
                elif ent:
                    held = 0
            want_in = ent
            want_out = ex
            out_by_time = by_time
        if btc > 0.0:
            x_end += 1  # still held on the last day: valued at its close
        wealth = prev_v / cash0
        out[j, _FINAL] = prev_v
        out[j, _TOTAL] = wealth - 1.0
        out[j, _TRADES] = trades
        s1 -= flat * shift
        s2 += flat * shift * shift
        sharpe = np.nan
        if nbars > 1 and flat < nbars:  # all days flat: r = 0 throughout, std 0, Sharpe NaN
            var = (s2 - s1 * s1 / nbars) / (nbars - 1)
            sd = math.sqrt(var) if var > 0.0 else 0.0
            if sd > 0.0 and math.isfinite(sd):
                sharpe = (shift + s1 / nbars) / sd * math.sqrt(PERIODS)
        out[j, _SHARPE] = sharpe
        out[j, _MDD] = mdd
        out[j, _EXPOSURE] = exposed / nbars
        out[j, _CAGR] = wealth ** (PERIODS / nbars) - 1.0 if wealth >= 0.0 else np.nan
        out[j, _ENTRY_SHARE] = entry_on / known if known > 0 else np.nan
        out[j, _COVERAGE] = known / nbars
        # The flat days' terms: r - shift = -shift on each of them.
        c1 -= flat_after * shift
        c2 += flat_after * shift * shift
        c12 -= shift * (g1 - g_in)
        corr = np.nan
        if mdays >= 3:
            vr = c2 - c1 * c1 / mdays
            vg = g2 - g1 * g1 / mdays
            # A run that never moved has r = 0 on every day: its variance is rounding only.
            if vr > 1e-12 * c2 and vg > 0.0:
                corr = (c12 - c1 * g1 / mdays) / math.sqrt(vr * vg)
        out[j, _CORR] = corr
        out[j, _X_SIGNAL] = x_signal
        out[j, _X_TP] = 0.0
        out[j, _X_SL] = 0.0
        out[j, _X_TSL] = 0.0
        out[j, _X_TIME] = x_time
        out[j, _X_END] = x_end


#: The same kernel compiled without threads, for one combination at a time
#: (`backtest.evaluator`): a threaded call on one row only adds the thread pool's wake-up and
#: spin-wait, which steals the CPU from the sampler (and from other worker processes).
sweep_serial_nb = njit(cache=True)(sweep_nb.py_func)


# ----------------------------------------------------------------------------- the grid


def parameter_defaults() -> dict:
    from costbt.backtest.engine import EngineConfig
    from costbt.strategies.below_cost import BelowCostStrategyParams

    out = {f.name: f.default for f in fields(BelowCostStrategyParams)}
    out.update({f.name: f.default for f in fields(EngineConfig)})
    return out


def normalize_grid(grid: pd.DataFrame | list[dict]) -> pd.DataFrame:
    """The grid as a DataFrame with every parameter column (defaults filled in), checked."""
    df = pd.DataFrame(grid) if not isinstance(grid, pd.DataFrame) else grid
    defaults = parameter_defaults()
    unknown = [c for c in df.columns if c not in defaults]
    if unknown:
        raise ValueError(f"unknown sweep parameter(s): {', '.join(map(str, unknown))}")
    missing = {k: v for k, v in defaults.items() if k not in df.columns}
    holes = [c for c in df.columns if df[c].isna().any()]  # a key absent from some dicts
    if holes:
        df = df.copy()
        for c in holes:
            filled = df[c].where(df[c].notna(), defaults[c])
            df[c] = filled.astype(type(defaults[c])) if isinstance(defaults[c], int) else filled
    if missing:
        df = df.assign(**missing)
    bad_models = set(df["model"].unique()) - set(MODEL_FIELDS)
    if bad_models:
        raise ValueError(f"unknown cost model(s): {', '.join(sorted(map(str, bad_models)))}")
    bad_fill = set(df["fill"].unique()) - {"next_open", "next_close"}
    if bad_fill:
        raise ValueError(f"unknown fill(s): {', '.join(sorted(map(str, bad_fill)))}")
    return df


def fast_path_mask(df: pd.DataFrame) -> np.ndarray:
    """True for the rows (of a normalized grid) the numba kernel reproduces exactly."""
    ok = np.ones(len(df), dtype=bool)
    for name, value in UNSUPPORTED.items():
        ok &= (df[name] == value).to_numpy()
    return ok


def cost_sets(df: pd.DataFrame) -> tuple[np.ndarray, list[dict]]:
    """Each row's distinct cost-assumption set (index) and the sets (model + the fields it uses).

    Fields a row's model does not read are set to their defaults before grouping, so e.g. every
    ``difficulty_regression`` row shares one set whatever its power price.
    """
    defaults = parameter_defaults()
    cost_fields = [f.name for f in fields(pc.CostAssumptions)]
    key = pd.DataFrame({"model": df["model"].to_numpy()}, index=df.index)
    for name in cost_fields:
        col = df[name].to_numpy()
        users = df["model"].isin([m for m, fs in MODEL_FIELDS.items() if name in fs]).to_numpy()
        key[name] = np.where(users, col, defaults[name])
    # Factorize column by column, then the combined code (fast on millions of rows).
    combined = np.zeros(len(key), dtype=np.int64)
    for name in key.columns:
        col_codes, col_uniques = pd.factorize(key[name].to_numpy())
        combined = combined * len(col_uniques) + col_codes
        combined = pd.factorize(combined)[0].astype(np.int64)  # keep the radix product small
    codes = combined  # numbered in order of first appearance
    first = np.unique(codes, return_index=True)[1]
    sets = [{name: key[name].iat[int(pos)] for name in key.columns} for pos in first]
    sets = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()} for d in sets]
    return codes, sets


def _span(panel: pd.DataFrame, start=None) -> tuple[int, int]:
    """Positions of the first known spot close (on or after ``start``) and the last one."""
    known = panel["close_usd"].notna().to_numpy()
    if start is not None:
        known = known & (panel.index >= pd.Timestamp(start))
    if not known.any():
        raise ValueError("no spot prices in the selected period")
    where = np.flatnonzero(known)
    return int(where[0]), int(where[-1])


def ratio_series(panel: pd.DataFrame, cost_set: dict) -> np.ndarray:
    """price / cost on the panel for one cost-assumption set (exactly as `below_cost` does)."""
    a_fields = {f.name for f in fields(pc.CostAssumptions)}
    a = pc.CostAssumptions(**{k: v for k, v in cost_set.items() if k in a_fields})
    cost = pc.cost_models(panel, a, (cost_set["model"],)).iloc[:, 0]
    return (panel["close_usd"] / cost).to_numpy(dtype=np.float64)


def sweep_below_cost(
    panel: pd.DataFrame,
    grid: pd.DataFrame | list[dict],
    chunk_size: int = 100_000,
    *,
    fallback: bool = True,
    start=None,
    close_at_end: bool = False,
) -> pd.DataFrame:
    """Metrics of the ``below_cost`` strategy for every combination in ``grid``.

    Returns a DataFrame on the grid's index with the columns of `METRICS` (``trades`` as int).
    The traded span runs from the first known close on or after ``start`` (None: the first) to
    the panel's last known close; the signals use the whole panel (warm on the first day).
    Rows the kernel does not reproduce (price stops, ribbon confirmation, perpetual) run through
    vectorbt one at a time when ``fallback`` is true; otherwise they raise ``ValueError``.
    """
    df = normalize_grid(grid)
    n = len(df)
    out = np.full((n, len(METRICS)), np.nan)
    fast = fast_path_mask(df)
    if not fallback and not fast.all():
        names = [k for k, v in UNSUPPORTED.items() if (df[k] != v).any()]
        raise ValueError(f"not supported by the fast path: {', '.join(names)}")
    fast_pos = np.flatnonzero(fast)
    if len(fast_pos):
        sub = df.iloc[fast_pos] if len(fast_pos) < n else df
        codes, sets = cost_sets(sub)
        ratio = np.vstack([ratio_series(panel, s) for s in sets])
        open_ = panel["open_usd"].to_numpy(dtype=np.float64)
        close = panel["close_usd"].to_numpy(dtype=np.float64)
        t0, t1 = _span(panel, start)
        step = max(int(chunk_size), 1)
        for a in range(0, len(fast_pos), step):
            b = min(a + step, len(fast_pos))
            c = sub.iloc[a:b]
            res = np.empty((b - a, len(METRICS)))
            sweep_nb(
                ratio,
                open_,
                close,
                t0,
                t1,
                np.ascontiguousarray(codes[a:b]),
                c["entry_ratio"].to_numpy(dtype=np.float64),
                c["confirm_days"].to_numpy(dtype=np.int64),
                c["exit_ratio"].to_numpy(dtype=np.float64),
                c["fees_bps"].to_numpy(dtype=np.float64) / 1e4,
                c["slippage_bps"].to_numpy(dtype=np.float64) / 1e4,
                c["time_stop_days"].to_numpy(dtype=np.int64),
                (c["fill"] == "next_close").to_numpy(dtype=np.bool_),
                c["init_cash"].to_numpy(dtype=np.float64),
                bool(close_at_end),
                res,
                NO_RETURNS,
            )
            out[fast_pos[a:b]] = res
    for pos in np.flatnonzero(~fast):
        got = vectorbt_metrics(panel, df.iloc[pos].to_dict(), start, close_at_end=close_at_end)
        out[pos] = [got[k] for k in METRICS]
    result = pd.DataFrame(out, index=df.index, columns=list(METRICS))
    result["trades"] = result["trades"].astype(np.int64)
    return result


# ----------------------------------------------------------------------------- checking


def vectorbt_metrics(
    panel: pd.DataFrame, row: dict, start=None, *, close_at_end: bool = False
) -> dict[str, float]:
    """The same `METRICS` from the vectorbt engine (`backtest.engine.run_strategy`) for one
    combination traded from ``start`` to the panel's last close."""
    from costbt.backtest.engine import EngineConfig, run_strategy
    from costbt.signals.params import build
    from costbt.strategies.below_cost import STRATEGY, BelowCostStrategyParams

    defaults = parameter_defaults()
    row = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
    strat = {f.name: row[f.name] for f in fields(BelowCostStrategyParams) if f.name in row}
    eng = {k: row.get(k, defaults[k]) for k in ENGINE_FIELDS}
    params = build(BelowCostStrategyParams, strat)
    config = EngineConfig(**eng)
    if config.instrument != "spot":
        raise ValueError("vectorbt_metrics: spot only (perpetual funding is not in these metrics)")
    run = run_strategy(
        panel, STRATEGY, params, config, start, close_at_end=close_at_end, report_extras=False
    )
    return run.metrics()


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def verify_against_vectorbt(
    panel: pd.DataFrame,
    rows: pd.DataFrame | list[dict],
    rtol: float = 1e-9,
    atol: float = 1e-12,
    fast: pd.DataFrame | None = None,
    *,
    start=None,
    close_at_end: bool = False,
) -> pd.DataFrame:
    """Re-run ``rows`` through vectorbt and compare every metric with the fast path.

    ``fast`` is the fast path's result for ``rows`` (computed here when None) on the span from
    ``start`` (with ``close_at_end`` as given). Raises
    ``AssertionError`` listing each combination and metric that differs by more than ``rtol``
    (relative; ``atol`` only absorbs rounding around an exact zero, e.g. no drawdown). Returns the
    vectorbt metrics on the rows' index.
    """
    df = normalize_grid(rows)
    if fast is None:
        fast = sweep_below_cost(panel, df, fallback=False, start=start, close_at_end=close_at_end)
    got = fast
    ref = pd.DataFrame(
        [
            vectorbt_metrics(panel, df.iloc[i].to_dict(), start, close_at_end=close_at_end)
            for i in range(len(df))
        ],
        index=df.index,
    )
    problems = []
    for i, idx in enumerate(df.index):
        for k in METRICS:
            a, b = float(got[k].iloc[i]), float(ref[k].iloc[i])
            if not _close(a, b, rtol, atol):
                given = {c: rows_value for c, rows_value in df.iloc[i].items()}
                problems.append(
                    f"row {idx!r} {k}: fast {a!r} != vectorbt {b!r} "
                    f"(rel diff {abs(a - b) / max(abs(a), abs(b), 1e-300):.3e}); params {given}"
                )
    if problems:
        raise AssertionError(
            f"fast path differs from vectorbt beyond rtol={rtol} in {len(problems)} place(s):\n"
            + "\n".join(problems[:20])
        )
    return ref


__all__ = [
    "EXIT_CAUSES",
    "METRICS",
    "cost_sets",
    "fast_path_mask",
    "normalize_grid",
    "sweep_below_cost",
    "vectorbt_metrics",
    "verify_against_vectorbt",
]
