"""Runs that tests/backtest/test_ledger_kill.py starts in a subprocess and kills with SIGKILL.

Each prints a line per unit of work done (a chunk, a completed trial) and, after ``block_after``
units, ``blocked`` and waits on stdin forever: the test kills it there, so what it had done when
killed is known exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path

GRID = ("entry_ratio=0.8,0.85,0.9,0.95,1.0", "exit_ratio=1.5,1.75,2,2.5")  # 20 combinations
CHUNK = 2
WALKFORWARD = {"train": "1y", "test": "1y", "start": "2019-01-01", "end": "2022-12-31"}


def _block() -> None:
    print("blocked", flush=True)
    sys.stdin.readline()  # never answered
    raise SystemExit("unblocked")


def sweep_spec():
    from costbt.backtest import tuning
    from costbt.backtest.grid import parse_axis
    from costbt.backtest.sweep import SweepSpec

    params = tuning.parameters("below_cost")
    return SweepSpec("below_cost", tuple(parse_axis(g, params) for g in GRID), {}, CHUNK)


def sweep(out: str, block_after: int) -> None:
    from costbt.backtest.sweep import run_sweep
    from costbt.data import load_panel

    def on_chunk(chunk: int, size: int) -> None:
        print(f"chunk {chunk}", flush=True)
        if chunk + 1 == block_after:
            _block()

    run_sweep(load_panel(), sweep_spec(), Path(out), on_chunk=on_chunk)


def walkforward(n_trials: int, block_after: int) -> None:
    from optuna.trial import TrialState

    from costbt.backtest.walkforward import run_walkforward
    from costbt.data import load_panel

    done = {"n": 0}

    def on_trial(_study, trial) -> None:  # runs after the ledger's own callback
        if trial.state != TrialState.COMPLETE:
            return
        done["n"] += 1
        print(f"trial {done['n']}", flush=True)
        if done["n"] == block_after:
            _block()

    run_walkforward(load_panel(), n_trials=n_trials, callbacks=(on_trial,), **WALKFORWARD)
