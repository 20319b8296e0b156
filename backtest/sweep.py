"""Parameter sweeps: every combination of a grid, chunk by chunk, resumable, verified.

`run_sweep` walks the Cartesian product of the grid axes in chunks (combination k of the product
is decoded from k, so no full list is built), evaluates each chunk (``below_cost``: the numba fast
path `backtest.fast.sweep_below_cost`, which itself falls back to vectorbt for price stops; other
strategies: the vectorbt engine, one combination at a time), and writes it atomically to ``<out>/chunks/chunk_NNNNN.parquet``
before starting the next. ``<out>/sweep_state.json`` records the grid (and its hash), the chunk size
and the chunks done, with ``status`` "partial" until the end: an interrupted sweep keeps its
completed chunks, and ``resume=True`` finishes only the rest (refusing a different grid). At the end
the chunks are joined into ``results.parquet`` and ``results.csv`` (every parameter and metric for
every combination), the top N and a random sample are re-run through vectorbt
(`backtest.fast.verify_against_vectorbt`, 1e-9 relative). The combinations of the chunks done are
counted in the trial ledger (`backtest.ledger`) after each chunk, under the sweep's identity
(``ledger_id`` in the state, kept by a resume): resuming adds only the chunks it evaluates.
A state that cannot be read or is not a sweep state (`read_state`), a chunk marked done that is
missing or damaged, or a ledger that cannot be read is a `costbt.data.errors.DataError` naming
the file, raised before anything in the folder is deleted or rewritten.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from costbt.backtest.grid import Axis, grid_size
from costbt.data import atomic_files
from costbt.data.cache import frame_to_parquet_bytes, read_parquet
from costbt.data.errors import DataError

STATE = "sweep_state.json"
#: A sweep state's ``status``: chunks still to evaluate, or every chunk done and joined.
STATUSES = ("partial", "complete")


class SweepError(ValueError):
    """The sweep cannot start or resume (bad grid, mismatched resume)."""


#: The most combinations one sweep may hold: every combination is a row of ``results.parquet``
#: (about 30 columns), joined in memory at the end; larger grids are split into several sweeps.
MAX_SWEEP_COMBINATIONS = 100_000_000


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep evaluates: the grid, the fixed values and the traded span.

    ``start``/``end`` (UTC days or None) choose the traded days: from the first known close on
    or after ``start`` to the last on or before ``end``; the signals still see the history before
    ``start`` (warm, as in `costbt backtest`). Part of the digest: a resume must match them.
    """

    strategy: str
    axes: tuple[Axis, ...]
    fixed: dict
    chunk_size: int = 100_000
    start: str | None = None
    end: str | None = None

    def __post_init__(self) -> None:
        if self.size > MAX_SWEEP_COMBINATIONS:
            raise SweepError(
                f"{self.size:,} combinations, more than {MAX_SWEEP_COMBINATIONS:,}: split the grid "
                "into several sweeps"
            )
        if not 1 <= int(self.chunk_size) <= 10_000_000:
            raise SweepError(f"chunk_size {self.chunk_size} is not in 1 .. 10,000,000")

    @property
    def size(self) -> int:
        return grid_size(list(self.axes))

    def as_dict(self) -> dict:
        out = {
            "strategy": self.strategy,
            "axes": {a.name: list(a.values) for a in self.axes},
            "fixed": self.fixed,
            "chunk_size": self.chunk_size,
        }
        if self.start is not None or self.end is not None:
            out["span"] = [self.start, self.end]
        return out

    def traded_panel(self, panel: pd.DataFrame) -> pd.DataFrame:
        """The panel up to ``end`` (nothing after it is read)."""
        return panel if self.end is None else panel.loc[: pd.Timestamp(self.end)]

    @property
    def digest(self) -> str:
        return hashlib.sha256(
            json.dumps(self.as_dict(), sort_keys=True, default=str).encode()
        ).hexdigest()


def combinations(spec: SweepSpec, start: int, stop: int) -> pd.DataFrame:
    """Rows ``start .. stop-1`` of the grid's Cartesian product (plus the fixed parameters)."""
    shape = tuple(len(a.values) for a in spec.axes)
    k = np.arange(start, stop, dtype=np.int64)
    idx = np.unravel_index(k, shape) if shape else ()
    cols = {
        a.name: np.asarray(a.values, dtype=object)[i] for a, i in zip(spec.axes, idx, strict=True)
    }
    frame = pd.DataFrame(cols, index=pd.RangeIndex(start, stop, name="combination"))
    for a in spec.axes:
        if all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            for v in a.values
        ):
            frame[a.name] = pd.to_numeric(frame[a.name])
    for name, value in spec.fixed.items():
        frame[name] = value
    return frame


def _state_problem(state: object) -> str | None:
    """What makes ``state`` no sweep state, or None."""
    if not isinstance(state, dict):
        return f"is {type(state).__name__}, not an object"
    spec = state.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("axes"), dict):
        return "has no 'spec' with the grid's 'axes'"
    if not all(isinstance(v, list) for v in spec["axes"].values()):
        return "has a grid axis that is not a list"
    size = spec.get("chunk_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        return "has no 'chunk_size' of at least 1"
    chunks = state.get("chunks")
    if not isinstance(chunks, int) or isinstance(chunks, bool) or chunks < 1:
        return "has no number of 'chunks'"
    done = state.get("done")
    if not isinstance(done, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c < chunks for c in done
    ):
        return "has no list of the chunks 'done'"
    if not isinstance(state.get("digest"), str) or state.get("status") not in STATUSES:
        return f"has no 'digest' or no 'status' ({' or '.join(STATUSES)})"
    if not isinstance(state.get("ledger_id", ""), str):
        return "has a 'ledger_id' that is not text"
    return None


def read_state(path: Path) -> dict:
    """The sweep state in ``path`` (`STATE`); a `DataError` naming it when it cannot be read or
    is not a sweep state (the folder is then left as it is: nothing deleted, nothing resumed)."""
    path = Path(path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except IsADirectoryError:
        raise DataError("is a folder, not a sweep state; move it away", path=path) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"the sweep state cannot be read ({exc}); fix it, or move the folder away and run "
            "the sweep again",
            path=path,
        ) from None
    problem = _state_problem(state)
    if problem is not None:
        raise DataError(
            f"not a sweep state: it {problem}; fix it, or move the folder away and run the "
            "sweep again",
            path=path,
        )
    return state


def _check_chunks(state: dict, state_path: Path, chunks_dir: Path) -> None:
    """Every chunk a state marks done is there and readable, with its rows (a resume keeps them
    and evaluates the rest): each is read before any work, so a damaged chunk is named before
    the sweep runs or is counted in the ledger."""
    import pyarrow.parquet as pq

    size = math.prod(len(v) for v in state["spec"]["axes"].values())
    chunk_size = int(state["spec"]["chunk_size"])
    for c in sorted(state["done"]):
        chunk = chunks_dir / f"chunk_{c:05d}.parquet"
        if not chunk.is_file():
            raise DataError(
                f"chunk {c} is marked done but {chunk} is missing; restore it, or move the "
                "folder away and run the sweep again",
                path=state_path,
            )
        expected = max(0, min(chunk_size, size - c * chunk_size))
        try:
            rows = pq.read_table(chunk).num_rows  # all of it: a footer can be whole in a
            # file whose pages are not
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for damage
            raise DataError(
                f"is not a readable Parquet file ({str(exc)[:200]}); it was damaged after costbt "
                "wrote it: move the sweep folder away and run the sweep again",
                path=chunk,
            ) from None
        if rows != expected:
            raise DataError(
                f"holds {rows:,} rows where chunk {c} has {expected:,}; move the sweep folder "
                "away and run the sweep again",
                path=chunk,
            )


def _write_json(path: Path, data: dict) -> None:
    atomic_files.write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def engine_row(strategy: str, row: dict):
    """(strategy parameters, `backtest.engine.EngineConfig`) of a sweep row mixing both."""
    from costbt.backtest.engine import EngineConfig
    from costbt.signals.params import build, space
    from costbt.strategies import STRATEGIES

    strat = STRATEGIES[strategy]
    names = {p.name for p in space(strat.params)}
    clean = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
    params = build(strat.params, {k: v for k, v in clean.items() if k in names})
    config = build(EngineConfig, {k: v for k, v in clean.items() if k not in names})
    return params, config


def run_row(panel: pd.DataFrame, strategy: str, row: dict, start=None):
    """One combination (strategy and engine parameters mixed in ``row``) on the engine."""
    from costbt.backtest.engine import run_strategy
    from costbt.strategies import STRATEGIES

    params, config = engine_row(strategy, row)
    return run_strategy(panel, STRATEGIES[strategy], params, config, start, report_extras=False)


def strategy_metrics(panel: pd.DataFrame, strategy: str, row: dict, start=None) -> dict:
    """The sweep `backtest.fast.METRICS` of one combination of any strategy, on the engine.

    The slow path for strategies the numba kernel does not cover (accumulation, confluence):
    correct by construction (it is the engine), about a combination per 0.1-1 s.
    """
    return run_row(panel, strategy, row, start).metrics()


def flags(metrics: pd.DataFrame) -> pd.Series:
    """Each row's `backtest.degenerate` flag ("" for none) from its trades, exposure and
    market correlation."""
    from costbt.backtest.degenerate import degeneracy

    values = [
        degeneracy(t, e, c) or ""
        for t, e, c in zip(
            metrics["trades"].to_numpy(dtype=float),
            metrics["exposure"].to_numpy(dtype=float),
            metrics["market_corr"].to_numpy(dtype=float),
            strict=True,
        )
    ]
    return pd.Series(values, index=metrics.index, name="flag", dtype=object)


def evaluate(
    panel: pd.DataFrame, strategy: str, params: pd.DataFrame, chunk_size: int, start=None
) -> pd.DataFrame:
    """Metrics (and the degenerate ``flag``) for a chunk: the numba fast path for below_cost,
    the engine for the others."""
    from costbt.backtest import fast
    from costbt.strategies import STRATEGIES

    if STRATEGIES[strategy].kernel:
        metrics = fast.sweep_below_cost(panel, params, chunk_size=chunk_size, start=start)
    else:
        rows = [
            strategy_metrics(panel, strategy, params.iloc[i].to_dict(), start)
            for i in range(len(params))
        ]
        metrics = pd.DataFrame(rows, index=params.index, columns=list(fast.METRICS))
    return metrics.assign(flag=flags(metrics))


def run_sweep(
    panel: pd.DataFrame,
    spec: SweepSpec,
    out: Path,
    *,
    resume: bool = False,
    on_chunk: Callable[[int, int], None] | None = None,
    record: bool = True,
) -> pd.DataFrame:
    """Evaluate every combination; see the module docstring. Returns params + metrics.

    ``record``: count the evaluated combinations in `backtest.ledger` (kind ``sweep``, keyed by
    the panel's data), after each chunk.
    """
    traded = spec.traded_panel(panel)
    if record:  # first: a ledger the sweep could not count in refuses it before any file
        from costbt.backtest import ledger

        ledger.check()
    out.mkdir(parents=True, exist_ok=True)
    chunks_dir = out / "chunks"
    chunks_dir.mkdir(exist_ok=True)
    state_path = out / STATE
    n_chunks = max(1, -(-spec.size // spec.chunk_size))
    if state_path.exists() and not resume:
        old = read_state(state_path)
        if old.get("status") == "partial":
            raise SweepError(
                f"{state_path}: an unfinished sweep is here; rerun with --resume or choose another --out"
            )
    if resume:
        if not state_path.exists():
            raise SweepError(f"--resume: no sweep state in {out}")
        state = read_state(state_path)
        if state.get("digest") != spec.digest:
            raise SweepError(
                f"--resume: the grid, fixed values or --start/--end differ from the interrupted "
                f"sweep in {out}"
            )
        if state.get("data") not in (None, _data_key(panel)):
            raise SweepError(f"--resume: the data differs from the interrupted sweep's in {out}")
        _check_chunks(state, state_path, chunks_dir)
        done = set(state.get("done", []))
        if record and "ledger_id" not in state:  # a state from before the per-data ledger
            state["ledger_id"] = uuid.uuid4().hex
            _write_json(state_path, state)
    else:
        for old_chunk in chunks_dir.glob("chunk_*.parquet"):
            old_chunk.unlink()
        done = set()
        state = {
            "spec": spec.as_dict(),
            "digest": spec.digest,
            "chunks": n_chunks,
            "done": [],
            "status": "partial",
            "ledger_id": uuid.uuid4().hex,  # this sweep's identity in the ledger
            "data": _data_key(panel),
        }
        _write_json(state_path, state)
    tracked = None
    if record:
        from costbt.backtest import ledger

        tracked = ledger.start_sweep(
            state["ledger_id"],
            state_path,
            done_combinations(state),
            strategy=spec.strategy,
            data=ledger.data_ref(panel),
            details={
                "out": str(out.resolve()),
                "combinations": spec.size,
                "grid": spec.as_dict()["axes"],
                "fixed": spec.fixed,
            },
        )
    for c in range(n_chunks):
        a, b = c * spec.chunk_size, min((c + 1) * spec.chunk_size, spec.size)
        if c in done:
            if on_chunk:
                on_chunk(c, b - a)
            continue
        params = combinations(spec, a, b)
        metrics = evaluate(traded, spec.strategy, params, spec.chunk_size, spec.start)
        frame = pd.concat([params, metrics], axis=1)
        atomic_files.write_bytes(
            chunks_dir / f"chunk_{c:05d}.parquet", frame_to_parquet_bytes(frame)
        )
        done.add(c)
        state["done"] = sorted(done)
        _write_json(state_path, state)
        if tracked is not None:
            tracked.update(done_combinations(state))
        if on_chunk:
            on_chunk(c, b - a)
    results = pd.concat(
        [read_parquet(chunks_dir / f"chunk_{c:05d}.parquet") for c in range(n_chunks)]
    )
    atomic_files.write_bytes(out / "results.parquet", frame_to_parquet_bytes(results))
    atomic_files.write_text(out / "results.csv", results.to_csv())
    state["status"] = "complete"
    _write_json(state_path, state)
    if tracked is not None:
        tracked.finish(done_combinations(state))
    return results


def _data_key(panel: pd.DataFrame) -> str:
    from costbt.backtest.ledger import data_key

    return data_key(panel)


def done_combinations(state: dict) -> int:
    """The combinations in the chunks a sweep state marks done (what the ledger counts)."""
    size = math.prod(len(v) for v in state["spec"]["axes"].values())
    chunk = int(state["spec"]["chunk_size"])
    return sum(max(0, min((c + 1) * chunk, size) - c * chunk) for c in set(state["done"]))


def verify(
    panel: pd.DataFrame,
    results: pd.DataFrame,
    spec: SweepSpec,
    metric: str,
    top: int,
    sample: int,
    seed: int,
) -> list[int]:
    """Re-run the top ``top`` by ``metric`` and ``sample`` random combinations through vectorbt.

    Only a sweep that ran on the kernel is verified: without the kernel capability
    (`costbt.strategies.base.Strategy.kernel`) every row already ran on vectorbt (empty list).
    """
    from costbt.backtest import fast
    from costbt.strategies import STRATEGIES

    if not STRATEGIES[spec.strategy].kernel:
        return []

    ranked = results.sort_values(metric, ascending=False, na_position="last")
    picks = list(ranked.index[:top])
    rng = np.random.default_rng(seed)
    rest = results.index.difference(picks)
    if len(rest):
        picks += list(rng.choice(rest, size=min(sample, len(rest)), replace=False))
    names = [a.name for a in spec.axes] + list(spec.fixed)
    rows = results.loc[picks, names]
    fast.verify_against_vectorbt(
        spec.traded_panel(panel),
        rows,
        fast=results.loc[picks, list(fast.METRICS)],
        start=spec.start,
    )
    return [int(p) for p in picks]


def sweep_candidates(
    panel: pd.DataFrame, ranked: pd.DataFrame, names: list[str], cap: int, spec: SweepSpec
) -> tuple[pd.DataFrame | None, str]:
    """(Daily returns of the sweep's combinations for PBO and SPA, how they were chosen).

    Every combination with a finite objective up to ``cap``, above it every k-th in objective
    rank from the best (`backtest.overfitting.sample_ranked`), on the ``below_cost`` evaluator
    (`backtest.evaluator.Evaluator`, about a millisecond each). None when a combination leaves
    the evaluator's fast path (price stops and the like would take the engine, 0.1-1 s each).
    """
    from costbt.backtest.evaluator import Evaluator
    from costbt.backtest.overfitting import sample_ranked

    picks = sample_ranked(len(ranked), cap)
    evaluator = Evaluator(panel)
    rows = [
        {
            k: (v.item() if isinstance(v, np.generic) else v)
            for k, v in ranked.iloc[i][names].items()
        }
        for i in picks
    ]
    if not all(evaluator.fast_path(evaluator.row(r)) for r in rows):
        return None, "not computed: the combinations leave the evaluator's fast path"
    matrix = pd.concat(
        [
            evaluator.returns(r, spec.start, spec.end).rename(int(ranked.index[i]))
            for i, r in zip(picks, rows, strict=True)
        ],
        axis=1,
    )
    how = (
        f"all {len(ranked):,} combinations with a defined objective"
        if len(picks) == len(ranked)
        else f"{len(picks):,} of the {len(ranked):,} combinations with a defined objective (one "
        f"in every {-(-len(ranked) // cap)} by rank, from the best)"
    )
    return matrix, how


def deflated_best(
    panel: pd.DataFrame,
    results: pd.DataFrame,
    spec: SweepSpec,
    metric: str,
    n_trials: int,
    *,
    max_candidates: int = 500,
    n_boot: int = 1000,
    spa_reps: int = 1000,
    seed: int = 0,
) -> dict:
    """The verdict statistics of the best combination by ``metric`` (`backtest.overfitting`).

    The best combination's daily returns come from the evaluator with the candidates (equal to
    the engine, `backtest.evaluator`) or else from the engine; buy-and-hold is
    `backtest.benchmarks` on the same span with the best row's costs. DSR against buy-and-hold = PSR(SR_bh + SR0) and
    against 0 (secondary), with V the variance of the per-day Sharpe ratios across every
    combination of this sweep (the results table) and N = ``n_trials`` (the ledger's count for the
    strategy, every configuration ever tried). PBO (scored by ``metric``) and SPA (returns scaled
    to buy-and-hold's volatility) run over the combinations of `sweep_candidates` for
    ``below_cost`` (other strategies: not computed, said in the notes).

    Returns: best (its parameters), span (first and last day of its returns), signal_coverage
    (share of those days with its entry rule known), sharpe_annual, benchmark_sharpe, n_trials, sr_variance, dsr
    and psr (against 0), dsr_vs_bh and psr_vs_bh, pbo, spa_pvalue, regime, verdict and the whole
    `backtest.overfitting.Assessment` as ``assessment``.
    """
    from dataclasses import replace

    from costbt.backtest import degenerate, overfitting

    ranked = results.sort_values(metric, ascending=False, na_position="last")
    best = ranked.iloc[0]
    names = [a.name for a in spec.axes] + list(spec.fixed)
    row = {k: best[k] for k in names}
    variance = overfitting.annual_sharpes_variance(results["sharpe"]) or 0.0
    candidates, how = None, "not computed: candidates' daily returns need below_cost"
    finite = ranked[np.isfinite(ranked[metric].to_numpy(dtype=float))]
    from costbt.strategies import STRATEGIES

    if STRATEGIES[spec.strategy].kernel:
        if len(finite) and finite.index[0] == ranked.index[0]:
            candidates, how = sweep_candidates(panel, finite, names, max_candidates, spec)
        else:
            how = f"not computed: no combination has a defined {metric}"
    if candidates is not None:
        returns = candidates.iloc[:, 0]  # the best, on the evaluator (equal to the engine)
    else:
        returns = strategy_returns(spec.traded_panel(panel), spec.strategy, row, spec.start)
    from costbt.backtest.benchmarks import buy_and_hold_returns

    _, config = engine_row(spec.strategy, row)
    bench = buy_and_hold_returns(panel, config, returns.index[0], returns.index[-1])
    flag = degenerate.degeneracy(
        float(best.get("trades", np.nan)),
        float(best.get("exposure", np.nan)),
        degenerate.market_correlation(returns, panel["close_usd"]),
    )
    a = overfitting.assess(
        returns,
        candidates,
        bench,
        n_trials,
        sr_variance=variance,
        sr_variance_from="every combination of the sweep",
        objective=metric if metric in overfitting.PBO_METRICS else "sharpe",
        degenerate=flag,
        searched_assumptions=overfitting.cost_assumptions(axis.name for axis in spec.axes),
        n_boot=n_boot,
        spa_reps=spa_reps,
        seed=seed,
    )
    if candidates is None:
        a = replace(a, pbo_note=how, spa_note=f"{how}; the best combination alone: {a.spa_note}")
    else:
        a = replace(a, pbo_note=f"{how}; {a.pbo_note}")
    return {
        "best": row,
        "span": (returns.index[0], returns.index[-1]),
        "signal_coverage": float(best.get("signal_coverage", np.nan)),
        "sharpe_annual": a.sharpe,
        "benchmark_sharpe": a.benchmark_sharpe,
        "n_trials": a.n_trials,
        "sr_variance": variance,
        "dsr": a.dsr,
        "psr": a.psr,
        "dsr_vs_bh": a.dsr_vs_bh,
        "psr_vs_bh": a.psr_vs_bh,
        "pbo": a.pbo,
        "spa_pvalue": a.spa_pvalue,
        "regime": a.regime,
        "verdict": a.verdict,
        "assessment": a,
    }


def strategy_returns(panel: pd.DataFrame, strategy: str, row: dict, start=None) -> pd.Series:
    """Daily returns of one combination on the vectorbt engine."""
    return run_row(panel, strategy, row, start).returns


# ----------------------------------------------------------------------------- the workflow


@dataclass(frozen=True)
class SweepStudy:
    """A finished sweep with everything that judges it (`sweep_study`).

    Attributes:
        spec, out: what was swept and the folder holding results, chunks and state.
        results: one row per combination (parameters, `backtest.fast.METRICS`, ``flag``).
        verified: the rows re-run through vectorbt (empty: every row already ran on it).
        data_label, data_key: the data the ledger counted the combinations under.
        ledger_trials: configurations tried for the strategy on that data, this sweep included.
        assessment: `backtest.overfitting.Assessment` of the best by ``metric`` against
            buy-and-hold on the same days (DSR deflated by ``ledger_trials``, PBO, SPA).
        span: (first, last) traded day of the best combination.
        signal_coverage: share of those days its entry rule was known.
    """

    spec: SweepSpec
    out: Path
    metric: str
    results: pd.DataFrame
    verified: list[int]
    data_label: str
    data_key: str
    ledger_trials: int
    assessment: object
    span: tuple
    signal_coverage: float

    def best(self, top: int) -> pd.DataFrame:
        """The ``top`` rows by ``metric`` (missing values last)."""
        return self.results.sort_values(self.metric, ascending=False, na_position="last").head(top)


def sweep_study(
    panel: pd.DataFrame,
    spec: SweepSpec,
    out: Path,
    *,
    metric: str = "sharpe",
    top: int = 20,
    verify_sample: int = 10,
    seed: int = 0,
    resume: bool = False,
    on_chunk: Callable[[int, int], None] | None = None,
) -> SweepStudy:
    """Sweep, verify against vectorbt, count in the ledger and judge the best: one call.

    1. `run_sweep` (chunked, resumable, counted in the ledger after each chunk);
    2. `verify`: the top ``top`` and ``verify_sample`` random rows re-run through vectorbt when
       the kernel ran them (raises ``AssertionError`` on a difference beyond 1e-9);
    3. the ledger's N for this strategy and data;
    4. `deflated_best`: the best by ``metric`` against buy-and-hold on the same days.

    Raises `SweepError`, `costbt.data.errors.DataError` or ``ValueError`` as `run_sweep` does.
    """
    from costbt.backtest import ledger

    results = run_sweep(panel, spec, out, resume=resume, on_chunk=on_chunk)
    verified = verify(panel, results, spec, metric, min(top, len(results)), verify_sample, seed)
    data = ledger.data_ref(panel)  # run_sweep counted the combinations under this key
    tried = ledger.trials(spec.strategy, data.key)
    deflated = deflated_best(panel, results, spec, metric, tried)
    return SweepStudy(
        spec=spec,
        out=Path(out),
        metric=metric,
        results=results,
        verified=verified,
        data_label=data.label,
        data_key=data.key,
        ledger_trials=tried,
        assessment=deflated["assessment"],
        span=deflated["span"],
        signal_coverage=deflated["signal_coverage"],
    )
