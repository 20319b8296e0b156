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
* The kernel (`costbt.backtest.fast_nb`) loops over combinations in parallel (``prange``; every numba thread) and over bars
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

from dataclasses import fields

import numpy as np
import pandas as pd

from costbt.backtest.fast_nb import DIAGNOSTICS as DIAGNOSTICS
from costbt.backtest.fast_nb import METRICS as METRICS
from costbt.backtest.fast_nb import NO_RETURNS as NO_RETURNS
from costbt.backtest.fast_nb import PERFORMANCE as PERFORMANCE
from costbt.backtest.fast_nb import sweep_nb
from costbt.backtest.result import EXIT_CAUSES as EXIT_CAUSES
from costbt.signals import production_cost as pc

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
