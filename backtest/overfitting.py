"""Is a chosen configuration skill or luck? `assess` -> `Assessment`, with a one-line verdict.

Inputs (daily simple returns, 365-day years, tz-naive dates):

* ``returns``: the chosen configuration's daily returns;
* ``candidates``: a T × K matrix of the candidate configurations' daily returns on the same days
  (the chosen one among them; it is added as a column if it is not), e.g. the top-K distinct
  feasible trials of a study;
* ``benchmark``: BTC buy-and-hold daily returns on the same days (optional);
* ``n_trials``: N, the trial ledger's count of every configuration ever tried for the strategy.

What is computed (the formulas are in `backtest.validation`; ``docs/validation.md``):

* Sharpe (annual, 365), PSR against 0, MinTRL in days at 95 %, stationary-bootstrap intervals of
  Sharpe and CAGR (90 %, seeded);
* DSR with N from the ledger and V the variance across candidates of their per-day Sharpe ratios
  (``sr_variance`` overrides V: a study passes the variance over all its completed trials).
  Effective-N caveat: trials are correlated (neighbouring configurations trade the same days),
  so N overstates the independent trials (DSR too pessimistic) while V from similar candidates
  is too small (DSR too optimistic); neither is corrected here;
* PBO by CSCV (`validation.pbo_cscv`, S = 16 blocks, performance = mean daily return) over the
  candidates with distinct returns (identical columns are one configuration in effect); needs
  K >= 2 and at least S days, otherwise None with the reason;
* Hansen's SPA p-value ("consistent") against buy-and-hold with every distinct candidate as a
  model: H0 "no candidate beats buy-and-hold", so the search over the K candidates is accounted
  for (not the ledger's N).

The verdict (`verdict`) applies `Thresholds` in order: not enough data; no skill (Sharpe <= 0);
likely overfit (PBO >= 0.5 or DSR < 0.5); evidence of skill (DSR >= 0.95 and PBO <= 0.2 or not
computed), with or without an edge over buy-and-hold (SPA p <= 0.05); otherwise inconclusive.
Every function is pure and deterministic for a seed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtest import metrics, validation

PERIODS = metrics.PERIODS


@dataclass(frozen=True)
class Thresholds:
    """Where the verdict's regimes begin (see ``docs/validation.md`` for why these values)."""

    min_days: int = 60  # fewer days of returns: no verdict
    dsr_skill: float = 0.95  # DSR at or above: the Sharpe survives deflation at 95 %
    dsr_overfit: float = 0.5  # DSR below: no better than the best of N zero-skill trials
    pbo_skill: float = 0.2  # PBO at or below: the in-sample best usually stays above the median
    pbo_overfit: float = 0.5  # PBO at or above: selection no better than a coin flip
    spa_alpha: float = 0.05  # SPA p at or below: beats buy-and-hold


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Assessment:
    """Overfitting statistics of one chosen configuration and the verdict they lead to.

    ``sharpe`` is annual (365); ``psr``, ``dsr`` and ``pbo`` are probabilities; ``min_trl`` and
    ``n_obs`` are days; intervals are (low, high) at ``ci_size``. A statistic that could not be
    computed is None and its ``*_note`` says why. ``regime`` is one of ``insufficient``,
    ``no_skill``, ``overfit``, ``skill``, ``skill_no_edge``, ``inconclusive``.
    """

    sharpe: float
    psr: float
    dsr: float | None
    min_trl: float
    pbo: float | None
    spa_pvalue: float | None
    sharpe_ci: tuple[float, float]
    cagr: float
    cagr_ci: tuple[float, float]
    n_trials: int
    n_candidates: int
    n_obs: int
    sr_variance: float | None
    expected_max_sharpe: float | None  # SR0, annual: the Sharpe luck alone gives the best of N
    verdict: str
    regime: str
    dsr_note: str = ""
    pbo_note: str = ""
    spa_note: str = ""
    ci_size: float = 0.90
    pbo_splits: int = 16


# --------------------------------------------------------------------------- building blocks


def align(
    returns: pd.Series, candidates: pd.DataFrame | None, benchmark: pd.Series | None
) -> tuple[pd.Series, pd.DataFrame | None, pd.Series | None]:
    """The three inputs on the days of ``returns`` (NaN dropped); candidates/benchmark reindexed.

    Candidate and benchmark days missing from ``returns`` are dropped; a missing candidate or
    benchmark value on a day of ``returns`` is NaN (left to each statistic).
    """
    r = pd.Series(returns, dtype=float).dropna()
    c = None if candidates is None else pd.DataFrame(candidates).astype(float).reindex(r.index)
    b = None if benchmark is None else pd.Series(benchmark, dtype=float).reindex(r.index)
    return r, c, b


def with_chosen(candidates: pd.DataFrame | None, returns: pd.Series) -> pd.DataFrame:
    """``candidates`` with ``returns`` as the first column unless a column already equals it."""
    if candidates is None or candidates.shape[1] == 0:
        return returns.to_frame("chosen")
    values = returns.to_numpy()
    for col in candidates.columns:
        if np.array_equal(candidates[col].to_numpy(), values, equal_nan=True):
            return candidates
    return pd.concat([returns.rename("chosen"), candidates], axis=1)


def distinct_columns(matrix: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``matrix`` with distinct values (the first of identical columns kept)."""
    keep, seen = [], set()
    for i in range(matrix.shape[1]):
        key = matrix.iloc[:, i].to_numpy(dtype=float).tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return matrix.iloc[:, keep]


def sharpe_variance(matrix: pd.DataFrame) -> float | None:
    """V: variance (ddof 1) across columns of their per-day Sharpe ratios; None under 2 finite."""
    m = matrix.to_numpy(dtype=float)
    sd = np.nanstd(m, axis=0, ddof=1) if len(m) > 1 else np.full(m.shape[1], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_day = np.where(sd > 0, np.nanmean(m, axis=0) / sd, np.nan)
    per_day = per_day[np.isfinite(per_day)]
    return float(np.var(per_day, ddof=1)) if len(per_day) > 1 else None


def deflated(
    returns: pd.Series, sr_variance: float | None, n_trials: int
) -> tuple[float | None, float | None]:
    """(DSR, SR0 annual) of ``returns`` for N = ``n_trials`` and V = ``sr_variance``."""
    if sr_variance is None or not math.isfinite(sr_variance):
        return None, None
    sr, n_obs, skew, kurt = validation._moments(returns)
    n = max(int(n_trials), 1)
    dsr = validation.deflated_sharpe_ratio(sr, sr_variance, n, n_obs, skew, kurt)
    sr0 = validation.expected_max_sharpe(sr_variance, n) * math.sqrt(PERIODS)
    return (dsr if math.isfinite(dsr) else None), sr0


def min_track_record_days(returns: pd.Series, alpha: float = 0.05) -> float:
    """MinTRL in days: the track record needed for PSR(0) >= 1 - ``alpha`` (inf if SR <= 0)."""
    sr, _, skew, kurt = validation._moments(returns)
    if not math.isfinite(sr):
        return float("inf")
    return validation.min_track_record_length(sr, 0.0, skew, kurt, alpha)


def pbo(matrix: pd.DataFrame, n_splits: int = 16) -> tuple[float | None, str]:
    """(PBO by CSCV on the distinct columns of ``matrix``, a note), or (None, the reason)."""
    m = distinct_columns(matrix.dropna())
    k = m.shape[1]
    if k < 2:
        return None, (
            f"not computed: CSCV needs at least two candidates with distinct returns (got {k})"
        )
    if len(m) < n_splits:
        return None, f"not computed: {len(m)} days is fewer than the {n_splits} CSCV blocks"
    value, _ = validation.pbo_cscv(m, n_splits=n_splits, metric="mean")
    return value, (
        f"CSCV over {k} candidates with distinct returns, {n_splits} blocks of about "
        f"{len(m) // n_splits} days, mean daily return"
    )


def spa_pvalue(
    benchmark: pd.Series | None, models: pd.DataFrame, reps: int = 1000, seed: int = 0
) -> tuple[float | None, str]:
    """(Hansen's SPA consistent p-value of ``models`` against ``benchmark``, a note) or None."""
    if benchmark is None or benchmark.dropna().empty:
        return None, "not computed: no buy-and-hold returns on these days"
    models = distinct_columns(models)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # degenerate models: p-values still shown
        p = validation.spa_test(benchmark, models, reps=reps, seed=seed)["consistent"]
    k = models.shape[1]
    what = "the chosen configuration" if k == 1 else f"the best of {k} candidates"
    return p, f"H0: {what} does not beat buy-and-hold; stationary bootstrap, {reps} reps"


def intervals(
    returns: pd.Series, size: float = 0.90, n_boot: int = 1000, seed: int = 0
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Stationary-bootstrap ``size`` intervals of (Sharpe 365, CAGR)."""
    alpha = 1.0 - size
    out = []
    for stat in ("sharpe", "cagr"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws: a flat series
            lo, _, hi = validation.stationary_bootstrap_ci(
                returns, stat, n_boot=n_boot, alpha=alpha, seed=seed
            )
        out.append((lo, hi))
    return out[0], out[1]


# --------------------------------------------------------------------------- the verdict


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, fmt)


def verdict(
    *,
    sharpe: float,
    psr: float,
    dsr: float | None,
    pbo: float | None,
    spa_pvalue: float | None,
    n_obs: int,
    n_trials: int,
    min_trl: float,
    thresholds: Thresholds = THRESHOLDS,
) -> tuple[str, str]:
    """(regime, one plain-language line); the regimes are tested in the order of the docstring.

    1. ``insufficient``: fewer than ``min_days`` days, or no Sharpe (never a position);
    2. ``no_skill``: Sharpe <= 0;
    3. ``overfit``: PBO >= ``pbo_overfit`` or DSR < ``dsr_overfit``;
    4. ``skill`` / ``skill_no_edge``: DSR >= ``dsr_skill`` and PBO <= ``pbo_skill`` (or not
       computed); ``skill`` if SPA p <= ``spa_alpha`` (or not computed), else ``skill_no_edge``;
    5. ``inconclusive``: anything else (including DSR not computed).
    """
    t = thresholds
    stats = f"DSR {_num(dsr)}, PBO {_num(pbo)}"
    spa = "" if spa_pvalue is None else f", SPA p={_num(spa_pvalue)} vs buy-and-hold"
    if n_obs < t.min_days:
        return "insufficient", (
            f"Not enough data to judge: {n_obs} days of returns (at least {t.min_days} needed)"
        )
    if not math.isfinite(sharpe):
        return "insufficient", (
            "Not enough data to judge: the chosen configuration's returns never varied "
            "(no position, Sharpe undefined)"
        )
    if sharpe <= 0:
        return "no_skill", (
            f"No skill: Sharpe {sharpe:.2f} over {n_obs:,} days (PSR {psr:.2f}) — the chosen "
            "configuration did not make money after risk"
        )
    high_pbo = pbo is not None and pbo >= t.pbo_overfit
    low_dsr = dsr is not None and dsr < t.dsr_overfit
    if high_pbo or low_dsr:
        why = []
        if high_pbo:
            why.append(
                "the best in-sample configuration is not reliably better than the median one "
                "out of sample"
            )
        if low_dsr:
            why.append(
                f"a Sharpe of {sharpe:.2f} is what the best of {n_trials:,} zero-skill trials "
                "would show by luck"
            )
        lead = f"PBO {_num(pbo)} and DSR {_num(dsr)}" if high_pbo else stats
        return "overfit", f"Likely overfit: {lead} — {'; '.join(why)}"
    if dsr is not None and dsr >= t.dsr_skill and (pbo is None or pbo <= t.pbo_skill):
        if spa_pvalue is None or spa_pvalue <= t.spa_alpha:
            return "skill", f"Evidence of skill after deflation: {stats}{spa}"
        return "skill_no_edge", (
            f"Evidence of skill after deflation, but no edge over buy-and-hold: {stats}{spa} — "
            "the Sharpe survives the trial count, yet buy-and-hold did as well"
        )
    need = (
        f"MinTRL {min_trl:,.0f} days against {n_obs:,} observed"
        if math.isfinite(min_trl)
        else "MinTRL unbounded"
    )
    return "inconclusive", (
        f"Inconclusive: {stats}{spa} — neither overfit nor proven after deflation; {need}"
    )


# --------------------------------------------------------------------------- the assessment


def assess(
    returns: pd.Series,
    candidates: pd.DataFrame | None,
    benchmark: pd.Series | None,
    n_trials: int,
    *,
    sr_variance: float | None = None,
    sr_variance_from: str = "the candidates",
    pbo_matrix: pd.DataFrame | None = None,
    n_splits: int = 16,
    ci_size: float = 0.90,
    n_boot: int = 1000,
    spa_reps: int = 1000,
    seed: int = 0,
    thresholds: Thresholds = THRESHOLDS,
) -> Assessment:
    """Every statistic of the module docstring for the chosen ``returns``, and the verdict.

    ``sr_variance`` replaces V (default: from ``candidates``; ``sr_variance_from`` names its
    source in the note); ``pbo_matrix`` replaces the matrix
    CSCV runs on (default: ``candidates``; a walk-forward passes the last window's candidates on
    its training span). N is ``max(n_trials, K)``: the ledger cannot have seen fewer trials than
    the candidates shown.
    """
    r, cands, bench = align(returns, candidates, benchmark)
    matrix = with_chosen(cands, r)
    k = distinct_columns(matrix.dropna()).shape[1]
    n = max(int(n_trials), k, 1)
    sr, n_obs, skew, kurt = validation._moments(r)
    sharpe = sr * math.sqrt(PERIODS) if math.isfinite(sr) else float("nan")
    psr = validation.probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew, kurt)

    v = sr_variance if sr_variance is not None else sharpe_variance(matrix)
    dsr, sr0 = deflated(r, v, n)
    if v is None:
        dsr_note = "not computed: V needs the Sharpe ratios of at least two candidates"
    else:
        dsr_note = (
            f"N = {n:,} trials (ledger), V = {v:.3g} (variance of per-day Sharpe ratios across "
            f"{sr_variance_from}); "
            "effective N: correlated trials make N too large (DSR too low) and V too small "
            "(DSR too high)"
        )
    if pbo_matrix is not None:
        pbo_value, pbo_note = pbo(pbo_matrix, n_splits)
    else:
        pbo_value, pbo_note = pbo(matrix, n_splits)
    spa, spa_note = spa_pvalue(bench, matrix, reps=spa_reps, seed=seed)
    min_trl = min_track_record_days(r)
    if n_obs >= 2:
        sharpe_ci, cagr_ci = intervals(r, ci_size, n_boot, seed)
    else:
        sharpe_ci = cagr_ci = (float("nan"), float("nan"))
    regime, line = verdict(
        sharpe=sharpe,
        psr=psr,
        dsr=dsr,
        pbo=pbo_value,
        spa_pvalue=spa,
        n_obs=n_obs,
        n_trials=n,
        min_trl=min_trl,
        thresholds=thresholds,
    )
    return Assessment(
        sharpe=sharpe,
        psr=psr,
        dsr=dsr,
        min_trl=min_trl,
        pbo=pbo_value,
        spa_pvalue=spa,
        sharpe_ci=sharpe_ci,
        cagr=metrics.cagr(r),
        cagr_ci=cagr_ci,
        n_trials=n,
        n_candidates=k,
        n_obs=n_obs,
        sr_variance=v,
        expected_max_sharpe=sr0,
        verdict=line,
        regime=regime,
        dsr_note=dsr_note,
        pbo_note=pbo_note,
        spa_note=spa_note,
        ci_size=ci_size,
        pbo_splits=n_splits,
    )


__all__ = ["THRESHOLDS", "Assessment", "Thresholds", "assess", "verdict"]
