"""Optuna studies over a strategy's declared parameter space (``costbt tune``).

`run_study` runs (or continues) one study: each trial draws a combination from the declared
`signals.params.Param` ranges (`suggest`), evaluates it with the numba fast path
(`backtest.fast.sweep_below_cost` on one row) and returns the objective metric (maximised). Every
metric is stored as a trial user attribute; the minimum number of trades is an Optuna constraint
(`optuna.trial.Trial.set_constraint`, read by TPE and by ``study.best_trial``), so a trial with too
few trades is kept (it was evaluated) but never chosen as the best. An exception in the evaluation
marks that trial FAIL (its message in the ``error`` user attribute) and the study goes on.

Storage: a journal file (`optuna.storages.journal.JournalFileBackend`, ``<cache dir>/optuna/
<study>.log``) by default, about 6x faster than SQLite for this workload and safe for several
processes on one machine; or a database URL (``sqlite:///``, ``postgresql://``, ``mysql://``).
Running again with the same study name continues the study (``load_if_exists``); the study keeps
its settings (strategy, objective, searched parameters, fixed values, period, minimum trades) and
refuses to continue under different ones.

Reproducibility: with one worker, the same seed and a fresh study, the trials (parameters and
values) are identical from run to run. A continued study draws from a freshly seeded sampler, so
two runs of 50 trials are not the same as one run of 100. ``jobs > 1`` runs worker processes
seeded ``seed + i`` that share the study through its storage; the order in which they see each
other's trials depends on timing, so multi-worker runs are not bit-reproducible.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from signals.params import Param, ParamError

#: Metrics that can be the objective (all maximised; ``max_drawdown`` is <= 0, so maximising it
#: means the smallest drawdown).
OBJECTIVES = ("sharpe", "cagr", "total_return", "final_equity", "max_drawdown")
#: The searched parameters of ``below_cost`` by default: the trading rule and the electricity cost
#: model's assumptions. The cost model itself is fixed (``--param model=...`` or
#: ``--include model``): its parameters mean different things under different models. Price stops
#: and the hash-ribbon confirmation are left out because they leave the numba fast path.
DEFAULT_INCLUDE = {
    "below_cost": (
        "entry_ratio",
        "confirm_days",
        "exit_ratio",
        "power_price",
        "efficiency_scale",
        "pue",
    ),
}
DB_SCHEMES = ("sqlite", "postgresql", "mysql")
STRATEGIES_SUPPORTED = ("below_cost",)


class TuningError(ValueError):
    """Bad study settings (unknown parameter, storage, a continued study with other settings)."""


# ----------------------------------------------------------------------------- the space


def parameters(strategy: str) -> dict[str, Param]:
    """Every declared parameter of ``strategy`` and of the engine, by name."""
    from backtest.engine import EngineConfig
    from signals.params import space
    from strategies import STRATEGIES

    if strategy not in STRATEGIES_SUPPORTED:
        raise TuningError(
            f"unknown or unsupported strategy '{strategy}' "
            f"(supported: {', '.join(STRATEGIES_SUPPORTED)})"
        )
    return {p.name: p for p in (*space(STRATEGIES[strategy].params), *space(EngineConfig))}


def resolve_include(strategy: str, include: Sequence[str] | None) -> list[str]:
    """The searched parameter names (the default set when None), checked against the space."""
    params = parameters(strategy)
    names = list(DEFAULT_INCLUDE[strategy] if include is None else include)
    unknown = [n for n in names if n not in params]
    if unknown:
        raise TuningError(f"unknown parameter(s) {', '.join(unknown)} (known: {', '.join(params)})")
    if len(set(names)) != len(names):
        raise TuningError("a parameter is listed twice")
    if not names:
        raise TuningError("no parameter to search")
    for n in names:
        p = params[n]
        if p.kind in ("int", "float") and (p.low is None or p.high is None):
            raise TuningError(f"{n} has no declared range to search")
    return names


def suggest(trial, params: Sequence[Param], include: Sequence[str] | None = None) -> dict:
    """Draw one value per declared parameter (those named in ``include``; all when None)."""
    out: dict[str, Any] = {}
    for p in params:
        if include is not None and p.name not in include:
            continue
        if p.kind == "choice":
            out[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.kind == "bool":
            out[p.name] = trial.suggest_categorical(p.name, [False, True])
        elif p.kind == "int":
            step = 1 if p.log or not p.step else max(int(p.step), 1)
            out[p.name] = trial.suggest_int(
                p.name, int(p.low), int(p.high), step=step, log=bool(p.log)
            )
        else:
            step = None if p.log else p.step
            out[p.name] = trial.suggest_float(
                p.name, float(p.low), float(p.high), step=step, log=bool(p.log)
            )
    return out


# ----------------------------------------------------------------------------- the objective


def evaluate(panel: pd.DataFrame, row: dict) -> dict[str, float]:
    """Metrics of one ``below_cost`` combination (fast path; vectorbt for stops)."""
    from backtest.fast import METRICS, sweep_below_cost

    res = sweep_below_cost(panel, [row]).iloc[0]
    return {k: float(res[k]) for k in METRICS}


@dataclass
class Objective:
    """The trial function: suggest, evaluate, record metrics, set the min-trades constraint.

    Picklable (worker processes receive it). ``run`` tags each trial with the run that made it,
    so the ledger counts only this run's trials even when others share the study.
    """

    panel: pd.DataFrame
    strategy: str
    objective: str
    include: list[str]
    fixed: dict = field(default_factory=dict)
    min_trades: int = 3
    run: str = ""

    def __call__(self, trial) -> float:
        params = [p for p in parameters(self.strategy).values() if p.name in self.include]
        row = {**self.fixed, **suggest(trial, params, self.include)}
        trial.set_user_attr("run", self.run)
        trial.set_user_attr("worker", os.getpid())
        try:
            metrics = evaluate(self.panel, row)
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise
        for k, v in metrics.items():
            trial.set_user_attr(k, v if math.isfinite(v) else None)
        trades = int(metrics.get("trades", 0))
        trial.set_constraint("min_trades", float(self.min_trades - trades))
        trial.set_user_attr("feasible", trades >= self.min_trades)
        value = metrics[self.objective]
        # No defined value (e.g. Sharpe with no position ever): the worst, not a failed trial.
        return value if math.isfinite(value) else -math.inf


# ----------------------------------------------------------------------------- storage


def default_storage(study_name: str, root: str | Path | None = None) -> Path:
    """The journal file of a study: ``<cache dir>/optuna/<study>.log``."""
    from data.cache import cache_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)
    return cache_dir(root) / "optuna" / f"{safe}.log"


def storage_spec(storage: str | None, study_name: str, root: str | Path | None = None) -> str:
    """Normalize ``storage``: a database URL, or a journal file path (the default when None)."""
    if storage is None:
        return str(default_storage(study_name, root))
    if "://" in storage:
        scheme = storage.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme not in DB_SCHEMES:
            raise TuningError(
                f"storage URL scheme '{scheme}' is not supported "
                f"(use {', '.join(s + '://' for s in DB_SCHEMES)} or a journal file path)"
            )
        return storage
    if not storage.strip():
        raise TuningError("empty storage")
    return storage


def open_storage(spec: str):
    """An Optuna storage for a `storage_spec` result (journal file or RDB URL)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if "://" in spec:
        return optuna.storages.RDBStorage(spec)
    path = Path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def load_study(spec: str, study_name: str, seed: int | None, settings: dict | None = None):
    """Create or load the study (TPE, seeded); refuse to continue one with other settings."""
    import optuna

    _quiet_optuna()
    study = optuna.create_study(
        storage=open_storage(spec),
        study_name=study_name,
        sampler=optuna.samplers.TPESampler(seed=seed),
        direction="maximize",
        load_if_exists=True,
    )
    if settings is not None:
        old = study.user_attrs.get("settings")
        if old is None:
            study.set_user_attr("settings", settings)
        elif old != settings:
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise TuningError(
                f"study '{study_name}' was run with other settings ({', '.join(diff)}); "
                "use another --study name"
            )
    return study


# ----------------------------------------------------------------------------- running


@dataclass
class StudyResult:
    study: Any
    run: str
    completed: int  # trials of this run that completed (evaluated configurations)
    failed: int  # trials of this run that failed
    storage: str


def best_trial(study):
    """The best feasible completed trial, or None."""
    try:
        return study.best_trial
    except ValueError:
        return None


def _count(study, run: str) -> tuple[int, int]:
    from optuna.trial import TrialState

    done = failed = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        if t.user_attrs.get("run") != run:
            continue
        if t.state == TrialState.COMPLETE:
            done += 1
        else:
            failed += 1
    return done, failed


def _worker(spec: str, study_name: str, seed: int | None, objective: Objective, n: int) -> None:
    study = load_study(spec, study_name, seed)
    study.optimize(objective, n_trials=n, catch=(Exception,))


def run_study(
    panel: pd.DataFrame,
    strategy: str = "below_cost",
    n_trials: int = 100,
    objective: str = "sharpe",
    storage: str | None = None,
    study_name: str | None = None,
    seed: int | None = 0,
    jobs: int = 1,
    min_trades: int = 3,
    include: Sequence[str] | None = None,
    fixed: dict | None = None,
    *,
    cache_dir: str | Path | None = None,
    period: tuple[str | None, str | None] = (None, None),
    callbacks: Sequence[Callable] = (),
    poll: Callable[[Any], None] | None = None,
    record: bool = True,
) -> StudyResult:
    """Run ``n_trials`` more trials of the study (created or continued) and record them.

    ``jobs > 1`` starts that many worker processes (spawn) on the same storage, seeded
    ``seed + i``, sharing the trials between them; ``poll(study)`` is then called about twice a
    second while they run (progress). ``callbacks`` go to ``study.optimize`` (one worker only).
    The completed trials of this run are recorded in `backtest.ledger` (kind ``tune``).
    """
    if objective not in OBJECTIVES:
        raise TuningError(f"unknown objective '{objective}' (one of {', '.join(OBJECTIVES)})")
    if n_trials < 1:
        raise TuningError("n_trials must be at least 1")
    if jobs < 1:
        raise TuningError("jobs must be at least 1")
    names = resolve_include(strategy, include)
    params = parameters(strategy)
    fixed = dict(fixed or {})
    for k, v in fixed.items():
        if k not in params:
            raise TuningError(f"unknown fixed parameter '{k}'")
        if k in names:
            raise TuningError(f"'{k}' is both fixed and searched")
        try:
            fixed[k] = params[k].validate(v)
        except ParamError as exc:
            raise TuningError(str(exc)) from None
    study_name = study_name or f"{strategy}-{objective}"
    spec = storage_spec(storage, study_name, cache_dir)
    settings = {
        "strategy": strategy,
        "objective": objective,
        "include": list(names),
        "fixed": {k: fixed[k] for k in sorted(fixed)},
        "min_trades": int(min_trades),
        "period": [str(p) if p is not None else None for p in period],
    }
    study = load_study(spec, study_name, seed, settings)
    run = uuid.uuid4().hex
    obj = Objective(panel, strategy, objective, names, fixed, int(min_trades), run)
    if jobs == 1:
        study.optimize(obj, n_trials=n_trials, catch=(Exception,), callbacks=list(callbacks))
    else:
        shares = [n_trials // jobs + (1 if i < n_trials % jobs else 0) for i in range(jobs)]
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(
                target=_worker,
                args=(spec, study_name, None if seed is None else seed + i, obj, share),
            )
            for i, share in enumerate(shares)
            if share > 0
        ]
        if poll is not None:
            poll(study)  # before any worker starts: the progress counts from here
        for p in procs:
            p.start()
        try:
            while any(p.is_alive() for p in procs):
                if poll is not None:
                    poll(study)
                for p in procs:
                    p.join(timeout=0.5 / len(procs))
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                p.join()
        if poll is not None:
            poll(study)
        bad = [p.exitcode for p in procs if p.exitcode != 0]
        if bad:
            raise RuntimeError(f"{len(bad)} tuning worker(s) ended with exit code(s) {bad}")
    completed, failed = _count(study, run)
    if record and completed:
        from backtest import ledger

        ledger.record(
            strategy,
            "tune",
            completed,
            {
                "study": study_name,
                "storage": spec if "://" not in spec else spec.split("://", 1)[0] + "://...",
                "objective": objective,
                "searched": list(names),
                "failed": failed,
            },
            cache_dir,
        )
    return StudyResult(study, run, completed, failed, spec)


def top_trials(study, n: int = 10) -> list:
    """The best ``n`` feasible completed trials, best first."""
    from optuna.trial import TrialState

    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if all(v <= 0 for v in t.constraints.values())
    ]
    return sorted(done, key=lambda t: t.value, reverse=True)[:n]


__all__ = [
    "DEFAULT_INCLUDE",
    "OBJECTIVES",
    "Objective",
    "StudyResult",
    "TuningError",
    "evaluate",
    "load_study",
    "resolve_include",
    "run_study",
    "storage_spec",
    "suggest",
    "top_trials",
]
