"""Optuna studies over a strategy's declared parameter space (``costbt tune``).

`run_study` runs (or continues) one study: each trial draws a combination from the declared
`signals.params.Param` ranges (`suggest`), evaluates it with the numba fast path
(`backtest.fast.sweep_below_cost` on one row) and returns the objective metric (maximised). Every
metric is stored as a trial user attribute; the minimum number of trades is an Optuna constraint
(`optuna.trial.Trial.set_constraint`, read by TPE and by ``study.best_trial``), so a trial with too
few trades is kept (it was evaluated) but never chosen as the best. An exception in the evaluation
marks that trial FAIL (its message in the ``error`` user attribute) and the study goes on.

Storage: a journal file (`optuna.storages.journal.JournalFileBackend`, `default_storage`: ``<studies>/
<study>.log``) by default, about 6x faster than SQLite for this workload and safe for several
processes on one machine; or a database URL (``sqlite:///``, ``postgresql://``, ``mysql://``).
Every trial records the process that runs it, and each run first fails the RUNNING trials of dead
workers (`backtest.tuning_storage`); ``total`` runs a study up to a number of finished trials.
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

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from costbt.backtest import storage_urls, trial_gate
from costbt.backtest.degenerate import degeneracy
from costbt.signals.params import Param, ParamError

#: Metrics that can be the objective (all maximised; ``max_drawdown`` is <= 0, so maximising it
#: means the smallest drawdown).
OBJECTIVES = ("sharpe", "cagr", "total_return", "final_equity", "max_drawdown")
#: The searched parameters of ``below_cost`` by default: the trading rule only. The cost model
#: and its assumptions (power price, fleet efficiency, PUE ...) are beliefs about the world, not
#: knobs: fitted, they let the search turn "below cost" into "nearly always in" (buy-and-hold in
#: disguise). They stay at their defaults or ``--param`` values and are explored as scenarios by
#: ``costbt sweep``; searching them takes ``search_assumptions`` (``--search-assumptions``), and
#: every page and verdict then says so. Price stops and the hash-ribbon confirmation are left out
#: because they leave the numba fast path.
DEFAULT_INCLUDE = {"below_cost": ("entry_ratio", "confirm_days", "exit_ratio")}
#: What ``--search-assumptions`` adds to the default search.
DEFAULT_ASSUMPTIONS = {"below_cost": ("power_price", "efficiency_scale", "pue")}
DB_SCHEMES = ("sqlite", "postgresql", "mysql")


class TuningError(ValueError):
    """Bad study settings (unknown parameter, storage, a continued study with other settings).

    ``field`` names the setting at fault, as the argument of `check_study` (``"objective"``,
    ``"fixed"``, ``"storage"``, ...), or is None; the command line turns it into its flag.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ----------------------------------------------------------------------------- the space


def trading_parameters(strategy: str) -> tuple[str, ...]:
    """The default search of a strategy without a declared one (`DEFAULT_INCLUDE`): its own
    numeric and choice parameters with a range, without the cost assumptions (beliefs, not
    knobs), the common exits and the engine's."""
    from costbt.backtest.engine import EngineConfig
    from costbt.signals.params import space
    from costbt.signals.production_cost import CostAssumptions
    from costbt.strategies import STRATEGIES, ExitParams

    common = {p.name for p in (*space(CostAssumptions), *space(ExitParams), *space(EngineConfig))}
    common |= set(assumption_names())  # the cost model too: a belief, not a knob
    return tuple(
        p.name
        for p in space(STRATEGIES[strategy].params)
        if p.name not in common
        and (p.kind == "choice" or (p.kind in ("int", "float") and p.low is not None))
    )


def parameters(strategy: str) -> dict[str, Param]:
    """Every declared parameter of ``strategy`` and of the engine, by name."""
    from costbt.backtest.engine import EngineConfig
    from costbt.signals.params import space
    from costbt.strategies import STRATEGIES, StrategyError

    try:
        chosen = STRATEGIES.resolve(strategy)
    except StrategyError as exc:
        raise TuningError(str(exc)) from None
    if chosen.benchmark:
        raise TuningError(f"'{strategy}' is a benchmark: it has nothing to tune")
    return {p.name: p for p in (*space(chosen.params), *space(EngineConfig))}


def assumption_names() -> tuple[str, ...]:
    """The cost model and every cost assumption (`signals.production_cost.assumption_parameters`)."""
    from costbt.signals.production_cost import assumption_parameters

    return assumption_parameters()


def resolve_include(
    strategy: str, include: Sequence[str] | None, search_assumptions: bool = False
) -> list[str]:
    """The searched parameter names (the default set when None), checked against the space.

    Cost assumptions (`assumption_names`) are searched only with ``search_assumptions``; then
    the default set also includes `DEFAULT_ASSUMPTIONS`.
    """
    params = parameters(strategy)
    if include is None:
        names = list(DEFAULT_INCLUDE.get(strategy) or trading_parameters(strategy))
        if search_assumptions:
            names += list(DEFAULT_ASSUMPTIONS.get(strategy, ()))
    else:
        names = list(include)
    beliefs = [n for n in names if n in assumption_names()]
    if beliefs and not search_assumptions:
        raise TuningError(
            f"{', '.join(beliefs)}: cost assumptions are beliefs about the world, not knobs to "
            "fit; explore them as scenarios with costbt sweep, or add --search-assumptions to "
            "fit them (every page and verdict will say so)"
        )
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
            out[p.name] = trial.suggest_categorical(p.name, list(p.search_choices))
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


def evaluate(panel: pd.DataFrame, row: dict, start=None, end=None) -> dict[str, float]:
    """Metrics of one ``below_cost`` combination traded from ``start`` to ``end`` (fast path)."""
    from costbt.backtest.evaluator import Evaluator

    return Evaluator(panel).metrics(row, start, end)


@dataclass
class Objective:
    """The trial function: suggest, evaluate, record metrics, set the feasibility constraints.

    Feasible: at least ``min_trades`` trades and, unless ``allow_degenerate``, not flagged by
    `backtest.degenerate` (never in; indistinguishable from buy-and-hold). Infeasible trials are
    kept (they were evaluated) but never chosen as the best.

    Picklable (worker processes receive it; the evaluator and its caches are rebuilt in each
    process). ``period`` is the traded span (signals use the whole panel: see
    `backtest.evaluator`). ``run`` tags each trial with the run that made it, so a run's result
    counts only its own trials even when others share the study. Everything is stored in ONE user
    attribute, ``trial`` = {run, worker, feasible, metrics: {...}} (or ``error``), read with
    `trial_metrics` / `trial_tags`: every attribute is a storage write, and a journal or database
    write costs more than the backtest itself.
    """

    panel: pd.DataFrame
    strategy: str
    objective: str
    include: list[str]
    fixed: dict = field(default_factory=dict)
    min_trades: int = 3
    run: str = ""
    period: tuple = (None, None)
    allow_degenerate: bool = False
    _evaluator: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_evaluator"] = None
        return state

    @property
    def evaluator(self):
        if self._evaluator is None:
            from costbt.backtest.evaluation import evaluator_for

            self._evaluator = evaluator_for(self.panel, self.strategy)
        return self._evaluator

    def __call__(self, trial) -> float:
        params = [p for p in parameters(self.strategy).values() if p.name in self.include]
        row = {**self.fixed, **suggest(trial, params, self.include)}
        tags = {"run": self.run, "worker": os.getpid()}
        try:
            metrics = self.evaluator.metrics(row, *self.period)
        except Exception as exc:
            trial.set_user_attr("trial", {**tags, "error": f"{type(exc).__name__}: {exc}"[:500]})
            raise
        trades = int(metrics.get("trades", 0))
        flag = degeneracy(trades, metrics["exposure"], metrics["market_corr"])
        trial.set_constraint("min_trades", float(self.min_trades - trades))
        rejected = flag is not None and not self.allow_degenerate
        trial.set_constraint("degenerate", 1.0 if rejected else -1.0)
        clean = {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
        tags["feasible"] = trades >= self.min_trades and not rejected
        tags["flag"] = flag
        trial.set_user_attr("trial", {**tags, "metrics": clean})
        value = metrics[self.objective]
        # No defined value (e.g. Sharpe with no position ever): the worst, not a failed trial.
        return value if math.isfinite(value) else -math.inf


def signal_days(evaluator, strategy: str, fixed: dict, searched: Sequence[str] = ()) -> tuple:
    """(first, last) day on which the entry rule is known for EVERY configuration the search can
    draw: under ``fixed``, and for each cost model a search draws (`Param.search_choices`; not
    the expiring analyst estimates) when ``model`` is searched, with the longest
    trailing window when ``smooth_days`` is (the other parameters do not move the coverage).
    (None, None) when some configuration is never known.
    """
    params = parameters(strategy)
    rows = [dict(fixed)]
    if "model" in searched:
        rows = [{**r, "model": m} for r in rows for m in params["model"].search_choices]
    if "smooth_days" in searched:
        rows = [{**r, "smooth_days": int(params["smooth_days"].high)} for r in rows]
    spans = [evaluator.signal_days(r) for r in rows]
    if any(first is None for first, _ in spans):
        return None, None
    return max(first for first, _ in spans), min(last for _, last in spans)


def signal_period(
    panel: pd.DataFrame,
    fixed: dict,
    period: tuple,
    strategy: str = "below_cost",
    searched: Sequence[str] = (),
) -> tuple:
    """``period`` (start, end) clipped to the days the entry rule is known (`signal_days`).

    Raises `TuningError` when the signal is unknown on every day of the period.
    """
    from costbt.backtest.evaluation import evaluator_for

    try:
        evaluator = evaluator_for(panel, strategy)
    except ValueError as exc:  # no spot price at all in the panel
        raise TuningError(str(exc)) from None
    first, last = signal_days(evaluator, strategy, fixed, searched)
    start, end = (None if p is None else pd.Timestamp(p) for p in period)
    if first is None or last < first:
        raise TuningError("the entry rule is unknown on every day of the panel")
    start = first if start is None else max(start, first)
    end = last if end is None else min(end, last)
    if end <= start:
        raise TuningError(
            f"the entry rule is known only {first.date()} .. {last.date()}: nothing of the "
            "requested period",
            "start",
        )
    return (start, end)


def trial_metrics(trial) -> dict:
    """The metrics a trial recorded (empty for a failed trial)."""
    return dict((trial.user_attrs.get("trial") or {}).get("metrics") or {})


def trial_tags(trial) -> dict:
    """A trial's ``run``, ``worker``, ``feasible``, ``flag`` and (failed trials) ``error``."""
    info = dict(trial.user_attrs.get("trial") or {})
    info.pop("metrics", None)
    return info


# ----------------------------------------------------------------------------- storage


def default_storage(study_name: str, root: str | Path | None = None) -> Path:
    """The journal file of a study: ``<root>/optuna/<study>.log`` with a folder given
    (``--cache-dir``), else ``<studies>/<study>.log`` in the user's folders
    (`costbt.data.user_dirs.studies_dir`)."""
    from costbt.data.user_dirs import studies_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)
    folder = Path(root) / "optuna" if root is not None else studies_dir()
    return folder / f"{safe}.log"


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
        return storage_urls.normalise(storage)
    if not storage.strip():
        raise TuningError("empty storage")
    return storage


def open_storage(spec: str):
    """An Optuna storage for a `storage_spec` result (journal file or RDB URL).

    Every new trial records the process that runs it; PostgreSQL and MySQL also get Optuna's
    heartbeat; the journal's lock is freed by the kernel if its holder dies
    (`backtest.tuning_storage`).
    """
    from costbt.backtest import tuning_storage

    quiet_optuna()  # the heartbeat is an experimental Optuna feature
    if "://" in spec:
        return tuning_storage.open_rdb(spec)
    return tuning_storage.open_journal(spec)


def quiet_optuna() -> None:
    """Optuna's own log silenced below ERROR: a failed trial (or one cut by Ctrl-C) is logged by
    Optuna as a warning with its traceback; costbt counts failed trials and reports them in
    its own words (the reason stays in the trial's ``fail_reason`` system attribute)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def load_study(spec: str, study_name: str, seed: int | None, settings: dict | None = None):
    """Create or load the study (TPE, seeded); refuse to continue one with other settings."""
    import optuna

    quiet_optuna()
    storage = open_storage(spec)
    sampler = optuna.samplers.TPESampler(seed=seed)
    # Load first: ``create_study(load_if_exists=True)`` appends a (then ignored) creation to a
    # journal even when the study exists, so a run refused below would still change the file.
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    except KeyError:
        try:
            study = optuna.create_study(
                storage=storage, study_name=study_name, sampler=sampler, direction="maximize"
            )
        except optuna.exceptions.DuplicatedStudyError:  # another run created it meanwhile
            study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
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
    stale: list[int] = field(default_factory=list)  # RUNNING trials of dead workers, now FAIL
    before: int = 0  # finished trials of the study when this run started (after `stale`)
    requested: int = 0  # trials this run was to add
    period: tuple = (None, None)  # the traded period: requested, clipped to the signal's days


@dataclass
class RunPlan:
    """What a run found and will do, given to ``run_study(on_start=...)`` before any trial."""

    study: Any
    before: int  # finished trials (COMPLETE, FAIL, PRUNED) already in the study
    stale: list[int]  # numbers of the RUNNING trials of dead workers just marked FAIL
    n_trials: int  # trials this run adds (0 when ``total`` is already reached)
    total: int | None  # the requested total, if any


#: Trial states that count as finished for ``total``.
FINISHED = ("COMPLETE", "FAIL", "PRUNED")


def finished_trials(study) -> int:
    """The study's finished trials (COMPLETE, FAIL, PRUNED; not RUNNING or WAITING)."""
    from optuna.trial import TrialState

    states = tuple(TrialState[s] for s in FINISHED)
    return len(study.get_trials(deepcopy=False, states=states))


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
        if trial_tags(t).get("run") != run:
            continue
        if t.state == TrialState.COMPLETE:
            done += 1
        else:
            failed += 1
    return done, failed


def _gate(spec: str, study_name: str, total: int | None):
    """The study's `backtest.trial_gate.TotalGate` for a run given ``total``, else None."""
    return None if total is None else trial_gate.TotalGate(spec, study_name, total)


class Tickets:
    """This run's trial budget, shared by its worker processes on this machine.

    A worker takes a ticket before each trial and stops when none is left, so the workers run
    exactly ``n`` trials between them whatever their speed: one that starts late (a spawned
    process imports for a second or two) or runs slower simply takes fewer. The count lives in
    shared memory (`multiprocessing.Value`) and dies with the run; a worker killed mid-trial
    has used its ticket (its trial is failed by the next run, `tuning_storage.fail_dead_trials`).
    """

    def __init__(self, ctx, n: int) -> None:
        self.left = ctx.Value("q", int(n))
        self.finished = ctx.Value("q", 0)  # workers whose optimize loop has returned

    def take(self) -> bool:
        with self.left.get_lock():
            if self.left.value <= 0:
                return False
            self.left.value -= 1
            return True


@contextlib.contextmanager
def unmasked_causes():
    """Around ``study.optimize``: the error that happened, not the one Optuna's cleanup raised.

    When recording a trial's end fails, Optuna's ``finally`` masks the cause: it asserts
    "Should not reach." after a storage error (a full disk), or reads a variable it never set
    after a Ctrl-C that came while it recorded (UnboundLocalError). The cause is re-raised: the
    ``OSError`` naming its file (exit 1), or ``KeyboardInterrupt`` (exit 130).
    """
    try:
        yield
    except (AssertionError, UnboundLocalError) as exc:
        cause = exc.__context__
        if isinstance(cause, OSError):
            raise cause from None
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise


def _optimize(
    study, objective, tickets: Tickets, callbacks: Sequence[Callable] = (), gate=None
) -> None:
    """``study.optimize`` for as long as ``tickets`` last (one ticket per trial) and, with a
    `backtest.trial_gate.TotalGate`, while the study has room below its total.

    The gate is taken before each trial and let go by the objective once Optuna has created the
    trial (`backtest.trial_gate.GatedObjective`), so runs sharing the study never overshoot.
    """

    def go_on(s) -> bool:
        return tickets.take() and (gate is None or gate.room(s))

    def next_trial(s, _trial) -> None:
        if not go_on(s):
            s.stop()

    if not go_on(study):
        return
    try:
        with unmasked_causes():
            study.optimize(
                objective if gate is None else trial_gate.GatedObjective(objective, gate),
                n_trials=None,
                catch=(Exception,),
                callbacks=[*callbacks, next_trial],
            )
    finally:
        if gate is not None:
            gate.close()


def _start_workers(procs: Sequence) -> None:
    """Start the spawned workers with Ctrl-C blocked in this thread, so in them until `_worker`.

    A worker interrupted while it reads its pickled objective would die with a traceback and
    leave ``Process.start`` blocked for ever on the pipe it no longer reads. The blocked-signal
    mask is inherited through fork and kept through exec; `_worker` unblocks SIGINT first thing.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    for p in procs:
        p.start()


def _worker(
    spec: str,
    study_name: str,
    seed: int | None,
    objective: Objective,
    tickets: Tickets,
    total: int | None = None,
) -> None:
    try:
        # Ctrl-C was held back while this process started (`_start_workers`): one that came
        # meanwhile is raised here, where it ends the worker quietly.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        study = load_study(spec, study_name, seed)
        try:
            _optimize(study, objective, tickets, gate=_gate(spec, study_name, total))
        finally:
            with tickets.finished.get_lock():
                tickets.finished.value += 1
    except KeyboardInterrupt:
        # Ctrl-C reaches every process of the terminal's group: the parent reports it, once.
        sys.exit(130)


def check_fixed_values(strategy: str, include: Sequence[str], fixed: dict | None) -> dict:
    """Fixed parameter values converted and checked, sorted by name.

    Raises `TuningError` (``field`` ``"fixed"``) for an unknown name, a name both fixed and
    searched (in ``include``), or a value its parameter refuses.
    """
    params = parameters(strategy)
    out = dict(fixed or {})
    for k, v in out.items():
        if k not in params:
            raise TuningError(f"unknown fixed parameter '{k}'", "fixed")
        if k in include:
            raise TuningError(f"'{k}' is both fixed and searched", "fixed")
        try:
            out[k] = params[k].validate(v)
        except ParamError as exc:
            raise TuningError(str(exc), "fixed") from None
    return {k: out[k] for k in sorted(out)}


#: The longest study name (it names a journal file: file systems allow 255 bytes).
MAX_STUDY_NAME = 100


def default_study_name(strategy: str, objective: str) -> str:
    """``<strategy's name>-<objective>``: the name the strategy declares, not the path or module
    it was loaded from (``my_file.py:NAME`` -> ``my_strategy-sharpe``)."""
    from costbt.strategies import STRATEGIES

    return f"{STRATEGIES[strategy].name}-{objective}"


def study_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a study, or None: it names the journal file
    ``<studies>/<name>.log``, so it is 1 to `MAX_STUDY_NAME` characters, holds no path
    separator or control character and does not start with a dot."""
    if not name or not name.strip():
        return "a study name cannot be empty"
    if len(name) > MAX_STUDY_NAME:
        return f"'{name[:20]}...' is {len(name)} characters, more than {MAX_STUDY_NAME}"
    if any(c in name for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"'{name}' holds a path separator or a control character"
    if name.startswith("."):
        return f"'{name}' starts with a dot"
    return None


class StorageUnavailable(TuningError):
    """The storage's server could not be reached: the environment failed, not the input."""


@dataclass(frozen=True)
class StudySettings:
    """A study's settings checked before any data is read (`check_study`)."""

    strategy: str
    objective: str
    include: tuple[str, ...]
    fixed: dict
    study_name: str
    storage: str


def check_study(
    strategy: str = "below_cost",
    n_trials: int | None = None,
    objective: str = "sharpe",
    storage: str | None = None,
    study_name: str | None = None,
    *,
    jobs: int = 1,
    min_trades: int = 3,
    include: Sequence[str] | None = None,
    fixed: dict | None = None,
    cache_dir: str | Path | None = None,
    total: int | None = None,
    search_assumptions: bool = False,
) -> StudySettings:
    """Every setting of `run_study` checked, in the order a user reads them; no data is read.

    Raises `TuningError` whose ``field`` is the argument at fault: an unknown strategy or
    objective, ``n_trials`` with ``total``, a count below its minimum, an unknown or doubly given
    parameter, a bad value, a storage that cannot be used (`storage_spec`).
    """
    try:
        parameters(strategy)
    except TuningError as exc:
        raise TuningError(str(exc), "strategy") from None
    if objective not in OBJECTIVES:
        raise TuningError(f"'{objective}' is not one of {', '.join(OBJECTIVES)}", "objective")
    if n_trials is not None and total is not None:
        raise TuningError("n_trials and total are mutually exclusive: give one", "total")
    for name, value, least in (
        ("n_trials", n_trials, 1),
        ("total", total, 1),
        ("jobs", jobs, 1),
        ("min_trades", min_trades, 0),
    ):
        if value is not None and int(value) < least:
            raise TuningError(f"must be at least {least}", name)
    try:
        names = resolve_include(strategy, include, search_assumptions)
    except TuningError as exc:
        raise TuningError(str(exc), "include") from None
    checked = check_fixed_values(strategy, names, fixed)
    study_name = study_name or default_study_name(strategy, objective)
    problem = study_name_problem(study_name)
    if problem is not None:
        raise TuningError(problem, "study_name")
    try:
        spec = storage_spec(storage, study_name, cache_dir)
    except TuningError as exc:
        raise TuningError(str(exc), "storage") from None
    try:
        storage_urls.probe(spec)
    except storage_urls.StorageError as exc:
        cls = StorageUnavailable if exc.unavailable else TuningError
        raise cls(str(exc), "storage") from None
    return StudySettings(strategy, objective, tuple(names), checked, study_name, spec)


def run_study(
    panel: pd.DataFrame,
    strategy: str = "below_cost",
    n_trials: int | None = None,
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
    total: int | None = None,
    on_start: Callable[[RunPlan], None] | None = None,
    search_assumptions: bool = False,
    allow_degenerate: bool = False,
) -> StudyResult:
    """Run ``n_trials`` (default 100) more trials of the study (created or continued), record them.

    ``total`` instead of ``n_trials``: run until the study has ``total`` finished trials
    (COMPLETE, FAIL, PRUNED), i.e. add ``max(0, total - finished)``; each worker also stops once
    the study reaches ``total`` (other runs on the same study count). Before any trial, the
    RUNNING trials of dead workers are marked FAIL (`backtest.tuning_storage.fail_dead_trials`);
    ``on_start(plan)`` then receives what was found (`RunPlan`).

    ``jobs > 1``: this process and ``jobs - 1`` spawned worker processes share the study's
    storage, seeded ``seed + i`` (this process: ``seed``), and exactly ``n_trials`` trials between
    them (`Tickets`); ``poll(study)`` is then called a few times a second (progress). ``callbacks`` go to ``study.optimize`` (one worker only).
    ``record``: the study's entry in `backtest.ledger` (kind ``tune``) is SET to its COMPLETE
    trials before any trial and at the end; a killed run is reconciled at the next read.

    ``search_assumptions``: the cost model's assumptions may be searched (`resolve_include`).
    ``allow_degenerate``: flagged trials (never in, buy-and-hold in disguise) stay feasible.
    The traded period is clipped to the days the entry rule is known for every configuration
    the search can draw (`signal_days`): days without signal data are not days of "no
    position" (``StudyResult.period`` holds the clipped period).
    """
    checked = check_study(
        strategy,
        n_trials,
        objective,
        storage,
        study_name,
        jobs=jobs,
        min_trades=min_trades,
        include=include,
        fixed=fixed,
        cache_dir=cache_dir,
        total=total,
        search_assumptions=search_assumptions,
    )
    names, fixed, study_name, spec = (
        checked.include,
        dict(checked.fixed),
        checked.study_name,
        checked.storage,
    )
    settings = {
        "strategy": strategy,
        "objective": objective,
        "include": list(names),
        "fixed": {k: fixed[k] for k in sorted(fixed)},
        "min_trades": int(min_trades),
        "period": [None if p is None else str(pd.Timestamp(p).date()) for p in period],
        "search_assumptions": bool(search_assumptions),
        "allow_degenerate": bool(allow_degenerate),
    }
    traded = signal_period(panel, fixed, period, strategy, names)
    settings["traded"] = [str(traded[0].date()), str(traded[1].date())]
    study = load_study(spec, study_name, seed, settings)
    from costbt.backtest.tuning_storage import fail_dead_trials

    stale = fail_dead_trials(study)
    before = finished_trials(study)
    if total is not None:
        n_trials = max(0, total - before)
    elif n_trials is None:
        n_trials = 100
    tracked = None
    if record:  # the study's ledger entry, SET to its COMPLETE trials, owned by this process
        from costbt.backtest import ledger

        details = {"objective": objective, "searched": list(names)}
        data = ledger.data_ref(panel)
        tracked = ledger.start_study(
            study, strategy=strategy, storage=spec, data=data, details=details
        )
    if on_start is not None:
        on_start(RunPlan(study, before, stale, n_trials, total))
    run = uuid.uuid4().hex
    obj = Objective(
        panel,
        strategy,
        objective,
        names,
        fixed,
        int(min_trades),
        run,
        traded,
        allow_degenerate=bool(allow_degenerate),
    )
    if n_trials == 0:
        pass  # ``total`` already reached
    elif jobs == 1:
        tickets = Tickets(multiprocessing.get_context("spawn"), n_trials)
        _optimize(study, obj, tickets, callbacks, _gate(spec, study_name, total))
    else:
        # This process is worker 0 (no start-up cost); jobs - 1 spawned workers join it. They
        # share the n_trials through tickets, so a worker that starts late takes fewer.
        ctx = multiprocessing.get_context("spawn")
        tickets = Tickets(ctx, n_trials)
        procs = [
            ctx.Process(
                target=_worker,
                args=(spec, study_name, None if seed is None else seed + i, obj, tickets, total),
            )
            for i in range(1, min(jobs, n_trials))
        ]
        if poll is not None:
            poll(study)  # before any worker starts: the progress counts from here
        last = {"t": 0.0}

        def progress(s, _trial) -> None:
            if poll is not None and time.monotonic() - last["t"] > 0.25:
                last["t"] = time.monotonic()
                poll(s)

        # p.start() blocks until the child has read the pickled objective (the panel: a few
        # MB through a pipe), about half a second: start them from a thread so that this
        # process's first trial does not wait.
        starter = threading.Thread(target=_start_workers, args=(procs,), daemon=True)
        starter.start()
        try:
            _optimize(study, obj, tickets, [progress], _gate(spec, study_name, total))
            starter.join()
            # Wait for each worker's last trial, not for its interpreter to wind down: a worker
            # counts itself finished (tickets.finished) once its optimize loop has returned.
            while any(p.is_alive() for p in procs) and tickets.finished.value < len(procs):
                if poll is not None:
                    poll(study)
                for p in procs:
                    p.join(timeout=0.25 / len(procs))
        except BaseException:
            starter.join()
            for p in procs:
                if p.is_alive():
                    p.terminate()
                if p.pid is not None:
                    p.join()
            raise
        if poll is not None:
            poll(study)
        bad = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
        if bad:
            raise RuntimeError(f"{len(bad)} tuning worker(s) ended with exit code(s) {bad}")
    completed, failed = _count(study, run)
    if tracked is not None:
        tracked.finish()  # SET to the study's COMPLETE trials again
    return StudyResult(study, run, completed, failed, spec, stale, before, n_trials, traded)


def flag_counts(study, run: str | None = None) -> dict[str, int]:
    """How many completed trials (of ``run``, or all) each `backtest.degenerate` flag marks."""
    from optuna.trial import TrialState

    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        tags = trial_tags(t)
        if run is not None and tags.get("run") != run:
            continue
        flag = tags.get("flag")
        if flag:
            counts[flag] = counts.get(flag, 0) + 1
    return counts


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
    "RunPlan",
    "StudyResult",
    "StorageUnavailable",
    "StudySettings",
    "TuningError",
    "check_fixed_values",
    "check_study",
    "evaluate",
    "flag_counts",
    "load_study",
    "quiet_optuna",
    "resolve_include",
    "run_study",
    "storage_spec",
    "suggest",
    "top_trials",
]
