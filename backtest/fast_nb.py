"""The numba kernel of the below-cost sweep: arrays in, arrays out (vectorbt's ``nb.py`` style).

`sweep_nb` (threaded over combinations) and `sweep_serial_nb` (the same kernel without threads,
for one combination at a time) write one row of `METRICS` per combination into ``out`` and,
optionally, each combination's daily returns into ``rets``. The pandas-facing wrappers, the
grid, the cost sets and the verification against vectorbt are in `costbt.backtest.fast`; the
algorithm is described there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from costbt.backtest.metrics import PERIODS
from costbt.backtest.result import EXIT_CAUSES

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


__all__ = ["DIAGNOSTICS", "METRICS", "NO_RETURNS", "PERFORMANCE", "sweep_nb", "sweep_serial_nb"]
