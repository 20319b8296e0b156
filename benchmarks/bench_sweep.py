"""Sweep throughput: vectorbt's Portfolio.from_signals against the numba fast path (backtest.fast).

(a) A 10,000-combination ``below_cost`` grid over the full bundled daily history: vectorbt on the
    whole grid at once (entries and exits broadcast to a bars x combinations boolean frame) and
    the fast path on the same grid, each in its own child process (peak RSS of that process);
    bar-combinations per second for both and their ratio; final equities compared to 1e-9.
(b) 1,000,000 combinations with the fast path alone: time, rate, peak RSS, CPU use.
(c) numba's thread count and the machine.

Run: ``.venv/bin/python scripts/run_benchmarks.py sweep``.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
VBT_BUDGET_S = 180.0  # above this (projected), the vectorbt side runs on a subset and is scaled
VBT_PROBE = 1_000

COST_SETS = {"power_price": [0.04, 0.05, 0.06, 0.07, 0.08], "efficiency_scale": [0.9, 1.1]}
RULE = {
    "entry_ratio": [0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25],
    "confirm_days": [1, 3, 5, 10],
    "exit_ratio": [1.5, 2.0, 2.5, 3.0, 4.0],
    "fees_bps": [0.0, 5.0, 10.0, 20.0, 30.0],
}
#: Multiplies the 10,000 grid to 1,000,000 (fast path only).
EXTRA = {
    "slippage_bps": [0.0, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0],
    "time_stop_days": [0, 30, 60, 90, 120, 180, 240, 365, 540, 730],
}


def grid(size: int) -> pd.DataFrame:
    """10,000 combinations (10 cost sets x 1,000 rules), or 1,000,000 with slippage and time stop."""
    spec = {**COST_SETS, **RULE}
    if size > 10_000:
        spec.update(EXTRA)
    names = list(spec)
    cols = np.array(list(itertools.product(*spec.values())), dtype=np.float64).T
    df = pd.DataFrame(dict(zip(names, cols, strict=True)))
    for name in ("confirm_days", "time_stop_days"):
        if name in df:
            df[name] = df[name].astype(np.int64)
    if "slippage_bps" not in df:
        df["slippage_bps"] = 5.0
    if size < len(df):  # an evenly spread subset
        df = df.iloc[np.linspace(0, len(df) - 1, size).round().astype(int)].reset_index(drop=True)
    return df


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# ----------------------------------------------------------------------------- child processes


def child_vectorbt(size: int, out_path: str) -> dict:
    """vectorbt's from_signals on the whole grid at once (signals built per distinct rule)."""
    import vectorbt as vbt

    from costbt.backtest.engine import candles, shift_to_next_bar
    from costbt.backtest.fast import cost_sets, normalize_grid, ratio_series
    from costbt.data import load_panel
    from costbt.signals.conditions import as_rule, held_for
    from costbt.strategies.base import decided

    panel = load_panel()
    ohlc = candles(panel, "spot")
    df = normalize_grid(grid(size))
    t_build = time.perf_counter()
    codes, sets = cost_sets(df)
    close = panel["close_usd"]
    entries, exits = {}, {}
    entry_col = np.empty(len(df), dtype=np.int64)
    exit_col = np.empty(len(df), dtype=np.int64)
    for k, s in enumerate(sets):
        ratio = pd.Series(ratio_series(panel, s), index=panel.index)
        known = ratio.notna()
        rows = np.flatnonzero(codes == k)
        for pos in rows:
            er, cd = float(df["entry_ratio"].iat[pos]), int(df["confirm_days"].iat[pos])
            xr = float(df["exit_ratio"].iat[pos])
            if (k, er, cd) not in entries:
                rule = decided(held_for(as_rule(ratio < er, known), cd))
                entries[(k, er, cd)] = (len(entries), rule.reindex(ohlc.index, fill_value=False))
            if (k, xr) not in exits:
                rule = decided(as_rule(ratio > xr, known))
                exits[(k, xr)] = (len(exits), rule.reindex(ohlc.index, fill_value=False))
            entry_col[pos] = entries[(k, er, cd)][0]
            exit_col[pos] = exits[(k, xr)][0]
    e_base = np.column_stack([shift_to_next_bar(s).to_numpy() for _, s in entries.values()])
    x_base = np.column_stack([shift_to_next_bar(s).to_numpy() for _, s in exits.values()])
    cols = pd.RangeIndex(len(df))
    entries_frame = pd.DataFrame(e_base[:, entry_col], index=ohlc.index, columns=cols)
    exits_frame = pd.DataFrame(x_base[:, exit_col], index=ohlc.index, columns=cols)
    build_s = time.perf_counter() - t_build
    del close
    start = time.perf_counter()
    pf = vbt.Portfolio.from_signals(
        close=ohlc["close"],
        entries=entries_frame,
        exits=exits_frame,
        price=ohlc["open"],
        fees=df["fees_bps"].to_numpy() / 1e4,
        slippage=df["slippage_bps"].to_numpy() / 1e4,
        init_cash=10_000.0,
        freq="1D",
    )
    final = np.asarray(pf.final_value(), dtype=np.float64)
    seconds = time.perf_counter() - start
    np.save(out_path, final)
    return {
        "combos": len(df),
        "bars": len(ohlc),
        "seconds": seconds,
        "signal_build_seconds": build_s,
        "distinct_entry_rules": len(entries),
        "distinct_exit_rules": len(exits),
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_fast(size: int, out_path: str) -> dict:
    """The fast path on the grid (numba compiled and warmed up first, reported separately)."""
    import numba

    from costbt.backtest.engine import candles
    from costbt.backtest.fast import sweep_below_cost
    from costbt.data import load_panel

    panel = load_panel()
    bars = len(candles(panel, "spot"))
    t = time.perf_counter()
    sweep_below_cost(panel, grid(10_000).iloc[:4])  # compile (or load the cache) and warm up
    warmup_s = time.perf_counter() - t
    df = grid(size)
    rss_before = _peak_rss_mb()
    cpu0, start = os.times(), time.perf_counter()
    res = sweep_below_cost(panel, df)
    seconds = time.perf_counter() - start
    cpu1 = os.times()
    np.save(out_path, res["final_equity"].to_numpy())
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {
        "combos": len(df),
        "bars": bars,
        "seconds": seconds,
        "warmup_seconds": warmup_s,
        "cpu_seconds": cpu,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": numba.threading_layer(),
        "peak_rss_mb_before_sweep": rss_before,
        "peak_rss_mb": _peak_rss_mb(),
        "trades_total": int(res["trades"].sum()),
    }


def _run_child(kind: str, size: int, out_path: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, __file__, kind, str(size), out_path],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child ({size}) failed:\n{proc.stderr[-4000:]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["children_max_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return info


def _compare(fast: np.ndarray, ref: np.ndarray, rtol: float = 1e-9) -> float:
    rel = np.abs(fast - ref) / np.maximum(np.abs(ref), 1e-300)
    worst = float(rel.max())
    if not np.all(rel <= rtol):
        bad = int(np.argmax(rel))
        raise AssertionError(
            f"fast path final equity differs from vectorbt beyond {rtol}: combination {bad}: "
            f"fast {fast[bad]!r} vs vectorbt {ref[bad]!r} (rel {worst:.3e})"
        )
    return worst


def main() -> None:
    import numba
    import vectorbt

    print(
        f"machine: nproc={os.cpu_count()} {platform.machine()} {platform.system()}; "
        f"python {platform.python_version()}, numba {numba.__version__}, "
        f"vectorbt {vectorbt.__version__}, numpy {np.__version__}, pandas {pd.__version__}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # (a) side by side on the same 10,000-combination grid.
        probe = _run_child("vectorbt", VBT_PROBE, str(tmp / "vbt_probe.npy"))
        projected = probe["seconds"] * 10_000 / VBT_PROBE
        vbt_size = 10_000 if projected <= VBT_BUDGET_S else VBT_PROBE
        vbt = _run_child("vectorbt", 10_000, str(tmp / "vbt.npy")) if vbt_size == 10_000 else probe
        fast = _run_child("fast", vbt_size, str(tmp / "fast.npy"))
        vbt_file = tmp / ("vbt.npy" if vbt_size == 10_000 else "vbt_probe.npy")
        worst = _compare(np.load(tmp / "fast.npy"), np.load(vbt_file))
        bars = vbt["bars"]
        vbt_rate = vbt["combos"] * bars / vbt["seconds"]
        fast_rate = fast["combos"] * bars / fast["seconds"]
        print(f"(a) below_cost grid: {vbt['combos']:,} combinations x {bars:,} daily bars")
        if vbt_size != 10_000:
            print(
                f"    vectorbt projected {projected:.0f} s on 10,000 (> {VBT_BUDGET_S:.0f} s): "
                f"both sides measured on a {VBT_PROBE:,}-combination subset (rates scale)"
            )
        print(
            f"    vectorbt from_signals: {vbt['seconds']:.2f} s -> {vbt_rate / 1e6:,.1f} M "
            f"bar-combinations/s, peak RSS {vbt['peak_rss_mb']:,.0f} MB (signal frames built "
            f"in {vbt['signal_build_seconds']:.1f} s from {vbt['distinct_entry_rules']} entry / "
            f"{vbt['distinct_exit_rules']} exit rules, not timed)"
        )
        print(
            f"    fast path (numba):     {fast['seconds']:.3f} s -> {fast_rate / 1e6:,.1f} M "
            f"bar-combinations/s, peak RSS {fast['peak_rss_mb']:,.0f} MB "
            f"(end to end: cost series, grouping, kernel; compile/cache load "
            f"{fast['warmup_seconds']:.1f} s before, not timed)"
        )
        print(f"    RATIO fast / vectorbt: {fast_rate / vbt_rate:,.0f}x")
        print(
            f"    final equity of all {vbt['combos']:,} combinations equal to vectorbt: "
            f"worst relative difference {worst:.2e} (limit 1e-9)"
        )
        # (b) one million combinations, fast path only.
        big = _run_child("fast", 1_000_000, str(tmp / "big.npy"))
        big_rate = big["combos"] * big["bars"] / big["seconds"]
        print(
            f"(b) {big['combos']:,} combinations x {big['bars']:,} bars (10 cost sets; rule, fees, "
            f"slippage, time stop varied): {big['seconds']:.2f} s -> {big_rate / 1e9:.2f} G "
            f"bar-combinations/s; peak RSS {big['peak_rss_mb']:,.0f} MB (child process; "
            f"{big['peak_rss_mb_before_sweep']:,.0f} MB before the sweep); CPU "
            f"{big['cpu_seconds']:.1f} s over {big['seconds']:.1f} s wall = "
            f"{big['cpu_seconds'] / big['seconds']:.2f} cores busy; {big['trades_total']:,} trades"
        )
        if big["peak_rss_mb"] >= 1536:
            raise AssertionError(f"peak RSS {big['peak_rss_mb']:.0f} MB >= 1.5 GB")
        print(
            f"(c) numba threads: {big['numba_threads']} "
            f"(threading layer {big['numba_threading_layer']}), nproc {os.cpu_count()}"
        )
        # Spot check every metric (time stops included) of a few of the million against vectorbt.
        from costbt.backtest.fast import verify_against_vectorbt
        from costbt.data import load_panel

        sample = grid(1_000_000).sample(6, random_state=0)
        verify_against_vectorbt(load_panel(), sample, rtol=1e-9)
        print("    6 random combinations of (b), every metric: equal to vectorbt to 1e-9")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("vectorbt", "fast"):
        kind, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        runner = child_vectorbt if kind == "vectorbt" else child_fast
        print(json.dumps(runner(n, path)))
    else:
        main()
