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

from signals import production_cost as pc

PERIODS = 365
METRICS = (
    "final_equity",
    "total_return",
    "trades",
    "sharpe",
    "max_drawdown",
    "exposure",
    "cagr",
)
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

_NO_RETURNS = np.empty((0, 0))


@njit(parallel=True, cache=True)
def _sweep_kernel(
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
    out,  # N x 7, columns in METRICS order
    rets,  # N x T daily returns (rows t0..t1 written), or 0 x 0 when not wanted
):
    n = set_idx.shape[0]
    keep = rets.shape[0] == n
    nbars = t1 - t0 + 1
    # Shared by every combination: close-to-close returns (the return of a day spent fully
    # invested with no cash left and no order), and their mean ``shift``: the variance of the
    # daily returns is accumulated on data shifted by it (sums of r - shift and its square, a
    # numerically stable method when the shift is near the mean; daily returns' mean is tiny
    # against their spread anyway) in two independent sums, not a serial Welford chain.
    growth = np.zeros(close.shape[0])
    shift = 0.0
    for i in range(t0 + 1, t1 + 1):
        growth[i] = close[i] / close[i - 1] - 1.0
        shift += growth[i]
    shift /= max(nbars - 1, 1)
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
        # Consecutive days below entry_ratio before the first traded row (held_for on the panel).
        run = 0
        for i in range(max(t0 - cd + 1, 0), t0):
            if r[i] < er:
                run += 1
            else:
                run = 0
        cash = cash0
        btc = 0.0
        want_in = False
        want_out = False
        held = -1
        prev_v = cash0
        s1 = 0.0  # sum of (r - shift) over the days with a position or an order
        s2 = 0.0  # sum of (r - shift)^2 over them
        flat = 0  # days without a position or an order: r = 0 exactly (added at the end)
        peak = cash0
        mdd = 0.0
        trades = 0
        exposed = 0
        for i in range(t0, t1 + 1):
            # Yesterday's decision, filled on this bar.
            traded = False
            if want_in and want_out:
                pass  # conflicting signals: no order
            elif want_out and btc > 0.0:
                cash += btc * price[i] * (1.0 - s) * (1.0 - f)
                btc = 0.0
                traded = True
            elif want_in and btc == 0.0 and cash > 0.0:
                p = price[i] * (1.0 + s)
                size = cash / (p * (1.0 + f))
                cash -= size * p * (1.0 + f)
                btc = size
                trades += 1
                traded = True
            if btc > 0.0:
                v = cash + btc * close[i]
                exposed += 1
                # All in, no order today: the close-to-close return (v / prev_v - 1 up to rounding).
                fully_in = cash == 0.0 and not traded and i > t0
                ret = growth[i] if fully_in else v / prev_v - 1.0
            elif traded:
                v = cash
                ret = v / prev_v - 1.0
            else:
                v = cash  # flat and no order: v == prev_v, r = 0
                flat += 1
                ret = shift  # contributes nothing below; counted in ``flat``
            prev_v = v
            if keep:
                rets[j, i] = ret if (btc > 0.0 or traded) else 0.0
            dev = ret - shift
            s1 += dev
            s2 += dev * dev
            if v > peak:
                peak = v
            elif v < peak * (1.0 + mdd) * (1.0 + 1e-12):  # only a candidate needs the division
                dd = v / peak - 1.0
                if dd < mdd:
                    mdd = dd
            # Today's signals (NaN ratio: no decision), filled tomorrow.
            x = r[i]
            if x < er:
                run += 1
            else:
                run = 0
            ent = run >= cd
            ex = x > xr
            if ts > 0:
                if held >= 0:
                    held += 1
                    if ex:
                        held = -1
                    elif held >= ts:
                        ex = True
                        held = -1
                elif ent:
                    held = 0
            want_in = ent
            want_out = ex
        wealth = prev_v / cash0
        out[j, 0] = prev_v
        out[j, 1] = wealth - 1.0
        out[j, 2] = trades
        s1 -= flat * shift
        s2 += flat * shift * shift
        sharpe = np.nan
        if nbars > 1 and flat < nbars:  # all days flat: r = 0 throughout, std 0, Sharpe NaN
            var = (s2 - s1 * s1 / nbars) / (nbars - 1)
            sd = math.sqrt(var) if var > 0.0 else 0.0
            if sd > 0.0 and math.isfinite(sd):
                sharpe = (shift + s1 / nbars) / sd * math.sqrt(PERIODS)
        out[j, 3] = sharpe
        out[j, 4] = mdd
        out[j, 5] = exposed / nbars
        out[j, 6] = wealth ** (PERIODS / nbars) - 1.0 if wealth >= 0.0 else np.nan


#: The same kernel compiled without threads, for one combination at a time
#: (`backtest.evaluator`): a threaded call on one row only adds the thread pool's wake-up and
#: spin-wait, which steals the CPU from the sampler (and from other worker processes).
_serial_kernel = njit(cache=True)(_sweep_kernel.py_func)


# ----------------------------------------------------------------------------- the grid


def _defaults() -> dict:
    from backtest.engine import EngineConfig
    from strategies.below_cost import BelowCostStrategyParams

    out = {f.name: f.default for f in fields(BelowCostStrategyParams)}
    out.update({f.name: f.default for f in fields(EngineConfig)})
    return out


def normalize_grid(grid: pd.DataFrame | list[dict]) -> pd.DataFrame:
    """The grid as a DataFrame with every parameter column (defaults filled in), checked."""
    df = pd.DataFrame(grid) if not isinstance(grid, pd.DataFrame) else grid
    defaults = _defaults()
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
    defaults = _defaults()
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


def _span(panel: pd.DataFrame) -> tuple[int, int]:
    """Positions of the first and last known spot close (the engine's candle range)."""
    known = panel["close_usd"].notna().to_numpy()
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
) -> pd.DataFrame:
    """Metrics of the ``below_cost`` strategy for every combination in ``grid``.

    Returns a DataFrame on the grid's index with the columns of `METRICS` (``trades`` as int).
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
        t0, t1 = _span(panel)
        step = max(int(chunk_size), 1)
        for a in range(0, len(fast_pos), step):
            b = min(a + step, len(fast_pos))
            c = sub.iloc[a:b]
            res = np.empty((b - a, len(METRICS)))
            _sweep_kernel(
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
                res,
                _NO_RETURNS,
            )
            out[fast_pos[a:b]] = res
    for pos in np.flatnonzero(~fast):
        out[pos] = [vectorbt_metrics(panel, df.iloc[pos].to_dict())[k] for k in METRICS]
    result = pd.DataFrame(out, index=df.index, columns=list(METRICS))
    result["trades"] = result["trades"].astype(np.int64)
    return result


# ----------------------------------------------------------------------------- checking


def vectorbt_metrics(panel: pd.DataFrame, row: dict) -> dict[str, float]:
    """The same metrics from `backtest.engine.simulate` (vectorbt) for one combination."""
    from backtest import metrics as m
    from backtest.engine import EngineConfig, _exposure, _ohlc, simulate
    from signals.params import build
    from strategies.base import Plan, decided
    from strategies.below_cost import BelowCostStrategyParams

    defaults = _defaults()
    row = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
    strat = {f.name: row[f.name] for f in fields(BelowCostStrategyParams) if f.name in row}
    eng = {k: row.get(k, defaults[k]) for k in ENGINE_FIELDS}
    params = build(BelowCostStrategyParams, strat)
    config = EngineConfig(**eng)
    if config.instrument != "spot":
        raise ValueError("vectorbt_metrics: spot only (perpetual funding is not in these metrics)")
    signal = pc.below_cost(panel, params)
    plan = Plan(entries=decided(signal.entry), exits=decided(signal.exit))
    pf = simulate(_ohlc(panel, "spot"), plan, params, config)
    returns = pf.returns()
    value = pf.value()
    return {
        "final_equity": float(value.iloc[-1]),
        "total_return": m.total_return(returns),
        "trades": float(pf.trades.count()),
        "sharpe": m.sharpe(returns),
        "max_drawdown": m.max_drawdown(returns),
        "exposure": _exposure(pf),
        "cagr": m.cagr(returns),
    }


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
) -> pd.DataFrame:
    """Re-run ``rows`` through vectorbt and compare every metric with the fast path.

    ``fast`` is the fast path's result for ``rows`` (computed here when None). Raises
    ``AssertionError`` listing each combination and metric that differs by more than ``rtol``
    (relative; ``atol`` only absorbs rounding around an exact zero, e.g. no drawdown). Returns the
    vectorbt metrics on the rows' index.
    """
    df = normalize_grid(rows)
    got = sweep_below_cost(panel, df, fallback=False) if fast is None else fast
    ref = pd.DataFrame(
        [vectorbt_metrics(panel, df.iloc[i].to_dict()) for i in range(len(df))], index=df.index
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
    "METRICS",
    "cost_sets",
    "fast_path_mask",
    "normalize_grid",
    "sweep_below_cost",
    "vectorbt_metrics",
    "verify_against_vectorbt",
]
