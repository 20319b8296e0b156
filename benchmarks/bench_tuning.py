"""Tuning throughput: Optuna TPE trials per second, with and without the backtest.

(a) Reference: a trivial objective (one float parameter, ``(x - 2) ** 2``), 500 TPE trials, on
    in-memory, journal-file and SQLite storage: what the storage and the sampler cost alone.
(b) The flagship: ``costbt tune``'s study (`backtest.tuning.run_study`) of ``below_cost`` on the
    bundled panel, 500 trials, the default embedded storage (journal file), one worker, with
    six searched parameters: the trading rule and three cost assumptions
    (``search_assumptions=True``, the harder case: every new assumption set computes a cost
    series; it was the default search until issue 11). Target: at least 50 trials/s. Also the
    default search since issue 11 (the three trading-rule parameters only), for reference.
(c) The six-parameter study with ``jobs=2`` (two worker processes on one journal, spawn
    start-up included). Target: at least 1.5x (b).

Each figure is wall-clock time for the whole ``optimize`` / ``run_study`` call on a fresh study in
a fresh temporary folder, after a warm-up study (imports, numba's compiled kernel loaded from its
cache). Run: ``.venv/bin/python scripts/run_benchmarks.py tuning``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

N_TRIALS = 500
TARGET_ONE = 50.0
TARGET_SPEEDUP = 1.5


def _trivial(storage) -> float:
    import optuna

    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0))
    t = time.perf_counter()
    study.optimize(lambda tr: (tr.suggest_float("x", -10, 10) - 2) ** 2, n_trials=N_TRIALS)
    return N_TRIALS / (time.perf_counter() - t)


def reference(folder: Path) -> dict[str, float]:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return {
        "in memory": _trivial(None),
        "journal file": _trivial(JournalStorage(JournalFileBackend(str(folder / "j.log")))),
        "sqlite": _trivial(f"sqlite:///{folder / 'db.sqlite'}"),
    }


def flagship(
    panel, folder: Path, jobs: int, name: str, assumptions: bool = True
) -> tuple[float, int]:
    from costbt.backtest import tuning

    t = time.perf_counter()
    res = tuning.run_study(
        panel,
        n_trials=N_TRIALS,
        study_name=name,
        cache_dir=folder,
        jobs=jobs,
        record=False,
        search_assumptions=assumptions,
    )
    rate = N_TRIALS / (time.perf_counter() - t)
    return rate, res.completed + res.failed


def main() -> None:
    from costbt.data.panel import load_panel

    panel = load_panel()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ref = reference(folder)
        for storage, rate in ref.items():
            print(f"trivial objective, {N_TRIALS} TPE trials, {storage}: {rate:.0f} trials/s")
        from costbt.backtest import tuning

        tuning.run_study(panel, n_trials=5, study_name="warm", cache_dir=folder, record=False)
        rule, n0 = flagship(panel, folder, 1, "rule", assumptions=False)
        one, n1 = flagship(panel, folder, 1, "one")
        two, n2 = flagship(panel, folder, 2, "two")
    bars = int(panel["close_usd"].notna().sum())
    print(
        f"below_cost study, default search (trading rule, 3 parameters), {N_TRIALS} TPE trials "
        f"x {bars:,} bars, journal file, 1 worker: {rule:.1f} trials/s [{n0} trials]"
    )
    print(
        f"below_cost study, 6 parameters (rule + cost assumptions), {N_TRIALS} TPE trials x "
        f"{bars:,} bars, journal file, 1 worker: {one:.1f} trials/s (target >= "
        f"{TARGET_ONE:.0f}) [{n1} trials]"
    )
    print(
        f"below_cost study, {N_TRIALS} TPE trials, journal file, --jobs 2: {two:.1f} trials/s, "
        f"{two / one:.2f}x one worker (target >= {TARGET_SPEEDUP}x) [{n2} trials]"
    )
    if {n0, n1, n2} != {N_TRIALS}:
        raise RuntimeError(f"expected {N_TRIALS} trials, got {n0}, {n1} and {n2}")


if __name__ == "__main__":
    main()
