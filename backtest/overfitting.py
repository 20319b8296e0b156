"""Does the chosen configuration beat holding bitcoin? `assess` -> `Assessment` and a verdict.

Inputs (daily simple returns, 365-day years, tz-naive dates):

* ``returns``: the chosen configuration's daily returns;
* ``candidates``: a T × K matrix of the candidate configurations' daily returns on the same days
  (the chosen one among them; it is added as a column if it is not): every distinct feasible
  trial of a study, or a deterministic sample of them (`sample_ranked`);
* ``benchmark``: BTC buy-and-hold daily returns on the same days (without it the statistics
  against buy-and-hold are None and the verdict cannot say "skill");
* ``n_trials``: N, the number of configurations the chosen one was selected among (the trial
  ledger's count for the strategy; for a walk-forward record, the walk-forward runs).

What is computed (the formulas are in `backtest.validation`; ``docs/validation.md``):

1. Sharpe (annual, 365) of the chosen returns and of buy-and-hold on the same days;
2. PSR and DSR against buy-and-hold, the primary statistics: PSR(SR* = SR_bh) and
   DSR_vs_bh = PSR(SR* = SR_bh + SR0), SR0 = `validation.expected_max_sharpe`(V, N), V the
   variance across candidates of their per-day Sharpe ratios (``sr_variance`` overrides it).
   Under H0 "no configuration's true Sharpe exceeds buy-and-hold's" each trial's estimate is
   SR_bh + noise, so the best of N is expected near SR_bh + SR0. PSR and DSR against 0 are kept
   as secondary fields;
3. PBO by CSCV (`validation.pbo_cscv`, S = 16 blocks) over the candidates with distinct returns,
   scored by the metric the search maximised (`PBO_METRICS`);
4. Hansen's SPA p-value ("consistent") of the candidates against buy-and-hold with a
   Sharpe-consistent loss: each candidate's returns scaled to buy-and-hold's volatility
   (`validation.volatility_matched`, M²), loss = -scaled return, benchmark loss = -r_bh;
5. MinTRL (days for PSR >= 0.95 against buy-and-hold's Sharpe and against 0), stationary-
   bootstrap 90 % intervals of Sharpe and CAGR (seeded);
6. the degeneracy flag (`backtest.degenerate`): the caller's, or from the correlation with
   buy-and-hold when the caller gave none.

Effective-N caveat: trials are correlated (neighbouring configurations trade the same days), so N
overstates the independent trials (DSR too low) while V from similar candidates is too small
(DSR too high); neither is corrected. The verdict (`verdict`) applies `Thresholds` in the order of
`REGIMES`. Every function is pure and deterministic for a seed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.backtest import degenerate as dg
from costbt.backtest import metrics, validation

PERIODS = metrics.PERIODS
#: The verdict's regimes, in the order they are tested.
REGIMES = (
    "insufficient",
    "never_in",
    "buy_and_hold",
    "no_edge",
    "overfit",
    "skill",
    "inconclusive",
)
#: The CSCV performance metric for each objective a search can maximise (`backtest.tuning`):
#: (`validation.pbo_cscv` metric, transform of the daily returns, words for the note).
PBO_METRICS = {
    "sharpe": ("sharpe", None, "per-block Sharpe ratio (0 when flat), as the search maximised"),
    "total_return": ("mean", "log", "mean daily log return (the compounded return), as searched"),
    "cagr": ("mean", "log", "mean daily log return (the compounded return), as searched"),
    "final_equity": ("mean", "log", "mean daily log return (the compounded return), as searched"),
    "max_drawdown": ("max_drawdown", None, "maximum drawdown of each half, as searched"),
}
DEFLATED_BY = "trials in the ledger"


@dataclass(frozen=True)
class Thresholds:
    """Where the verdict's regimes begin (see ``docs/validation.md`` for why these values)."""

    min_days: int = 60  # fewer days of returns: no verdict
    dsr_skill: float = 0.95  # DSR vs buy-and-hold at or above: beats holding after deflation
    dsr_overfit: float = 0.5  # DSR vs buy-and-hold below: the best of N no-edge trials does as well
    pbo_skill: float = 0.2  # PBO at or below: the in-sample best usually stays above the median
    pbo_overfit: float = 0.5  # PBO at or above: selection no better than a coin flip
    spa_alpha: float = 0.05  # SPA p at or below: some candidate has a higher Sharpe than holding

    def __post_init__(self) -> None:
        if not (isinstance(self.min_days, int) and self.min_days >= 2):
            raise ValueError(f"min_days must be an int >= 2, got {self.min_days!r}")
        for name in ("dsr_skill", "dsr_overfit", "pbo_skill", "pbo_overfit", "spa_alpha"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 < value < 1.0):
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if self.dsr_overfit > self.dsr_skill:
            raise ValueError("dsr_overfit must not exceed dsr_skill")
        if self.pbo_skill > self.pbo_overfit:
            raise ValueError("pbo_skill must not exceed pbo_overfit")


THRESHOLDS = Thresholds()


def _probability(value: float | None) -> bool:
    return value is None or math.isnan(value) or 0.0 <= value <= 1.0


@dataclass(frozen=True)
class Assessment:
    """The verdict statistics of one chosen configuration and the verdict they lead to.

    Sharpe ratios are annual (365); ``psr*``, ``dsr*``, ``pbo`` and ``spa_pvalue`` are
    probabilities; ``min_trl*`` and ``n_obs`` are days; intervals are (low, high) at ``ci_size``.
    Primary (against buy-and-hold on the same days): ``benchmark_sharpe``, ``psr_vs_bh``,
    ``dsr_vs_bh``, ``min_trl_vs_bh``; secondary (against 0): ``psr``, ``dsr``, ``min_trl``.
    ``expected_max_sharpe`` is SR0, the Sharpe luck alone adds to the best of N trials. A
    statistic that could not be computed is None and its ``*_note`` says why. ``regime`` is one of
    `REGIMES`; ``flag`` the `backtest.degenerate` flag (None: neither), ``correlation`` the
    correlation of the daily returns with buy-and-hold's (first day excluded).
    """

    sharpe: float
    benchmark_sharpe: float | None
    psr_vs_bh: float | None
    dsr_vs_bh: float | None
    psr: float
    dsr: float | None
    min_trl: float
    min_trl_vs_bh: float | None
    pbo: float | None
    spa_pvalue: float | None
    sharpe_ci: tuple[float, float]
    cagr: float
    cagr_ci: tuple[float, float]
    n_trials: int
    n_candidates: int
    n_obs: int
    sr_variance: float | None
    expected_max_sharpe: float | None
    verdict: str
    regime: str
    flag: str | None = None
    correlation: float | None = None
    searched_assumptions: tuple[str, ...] = ()
    deflated_by: str = DEFLATED_BY
    objective: str = "sharpe"
    dsr_note: str = ""
    benchmark_note: str = ""
    pbo_note: str = ""
    spa_note: str = ""
    ci_size: float = 0.90
    pbo_splits: int = 16

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {self.regime!r}")
        if self.flag not in (None, *dg.LABELS):
            raise ValueError(f"unknown degeneracy flag {self.flag!r}")
        for name in ("psr", "dsr", "psr_vs_bh", "dsr_vs_bh", "pbo", "spa_pvalue"):
            if not _probability(getattr(self, name)):
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)!r}")
        if self.n_trials < 1 or self.n_obs < 0 or self.n_candidates < 0:
            raise ValueError("n_trials must be >= 1, n_obs and n_candidates >= 0")
        if self.objective not in PBO_METRICS:
            raise ValueError(f"objective must be one of {tuple(PBO_METRICS)}")

    @property
    def hurdle(self) -> float | None:
        """The annual Sharpe the chosen configuration must beat: SR_bh + SR0 (None if unknown)."""
        if self.benchmark_sharpe is None or self.expected_max_sharpe is None:
            return None
        return self.benchmark_sharpe + self.expected_max_sharpe


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


def sample_ranked(n: int, cap: int, keep: int = 0) -> list[int]:
    """Positions of a deterministic, evenly spread sample of ``n`` items ranked best first.

    All ``n`` when ``n <= cap``; otherwise every k-th rank, k = ceil(n / cap), from the first
    (ranks 0, k, 2k, ...: at most ``cap`` and more than ``cap / 2``), plus ``keep`` (the chosen
    one) if the stride missed it. Spreading over the ranking keeps the sample as diverse as the
    search (the best, the middling and the worst), where the top ranks alone are near copies.
    """
    if n < 0 or cap < 1:
        raise ValueError("need n >= 0 and cap >= 1")
    if n <= cap:
        return list(range(n))
    picks = list(range(0, n, math.ceil(n / cap)))
    if 0 <= keep < n and keep not in picks:
        picks = sorted([*picks, keep])
    return picks


def annual_sharpes_variance(sharpes) -> float | None:
    """V from recorded ANNUAL Sharpe ratios (trials, combinations, runs): the variance (ddof 1)
    of the per-day ratios SR / sqrt(365) over the finite ones; None under 2."""
    values = [float(x) for x in sharpes if x is not None and math.isfinite(float(x))]
    per_day = np.asarray(values, dtype=float) / math.sqrt(PERIODS)
    return float(np.var(per_day, ddof=1)) if len(per_day) > 1 else None


def sharpe_variance(matrix: pd.DataFrame) -> float | None:
    """V: variance (ddof 1) across columns of their per-day Sharpe ratios; None under 2 finite."""
    m = matrix.to_numpy(dtype=float)
    sd = np.nanstd(m, axis=0, ddof=1) if len(m) > 1 else np.full(m.shape[1], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_day = np.where(sd > 0, np.nanmean(m, axis=0) / sd, np.nan)
    per_day = per_day[np.isfinite(per_day)]
    return float(np.var(per_day, ddof=1)) if len(per_day) > 1 else None


def per_day_sharpe(returns: pd.Series) -> float:
    """mean / std (ddof 1) of the non-NaN daily returns (NaN if fewer than 2 or flat)."""
    return validation.sharpe_moments(returns)[0]


def deflated(
    returns: pd.Series,
    sr_variance: float | None,
    n_trials: int,
    sr_benchmark: float = 0.0,
) -> tuple[float | None, float | None]:
    """(DSR, SR0 annual) of ``returns`` for N = ``n_trials``, V = ``sr_variance`` and a per-day
    benchmark Sharpe ``sr_benchmark`` (DSR = PSR(SR_b + SR0); SR_b = 0 is the published DSR)."""
    if sr_variance is None or not math.isfinite(sr_variance) or not math.isfinite(sr_benchmark):
        return None, None
    sr, n_obs, skew, kurt = validation.sharpe_moments(returns)
    n = max(int(n_trials), 1)
    dsr = validation.deflated_sharpe_ratio(sr, sr_variance, n, n_obs, skew, kurt, sr_benchmark)
    sr0 = validation.expected_max_sharpe(sr_variance, n) * math.sqrt(PERIODS)
    return (dsr if math.isfinite(dsr) else None), sr0


def min_track_record_days(
    returns: pd.Series, alpha: float = 0.05, sr_benchmark: float = 0.0
) -> float:
    """MinTRL in days: the record needed for PSR(SR*) >= 1 - ``alpha``, SR* = ``sr_benchmark``
    per day (0 by default); infinite if SR <= SR*."""
    sr, _, skew, kurt = validation.sharpe_moments(returns)
    if not math.isfinite(sr):
        return float("inf")
    return validation.min_track_record_length(sr, sr_benchmark, skew, kurt, alpha)


def pbo(
    matrix: pd.DataFrame, n_splits: int = 16, objective: str = "sharpe"
) -> tuple[float | None, str]:
    """(PBO by CSCV on the distinct columns of ``matrix``, a note), or (None, the reason).

    Each half is scored by the metric the search maximised (`PBO_METRICS` of ``objective``):
    per-block Sharpe for ``sharpe``; the mean daily log return (log(1 + r): the order of the
    compounded return) for ``total_return``, ``cagr`` and ``final_equity``; the half's maximum
    drawdown for ``max_drawdown``.
    """
    if objective not in PBO_METRICS:
        raise ValueError(f"objective must be one of {tuple(PBO_METRICS)}, got {objective!r}")
    m = distinct_columns(matrix.dropna())
    k = m.shape[1]
    if k < 2:
        return None, (
            f"not computed: CSCV needs at least two candidates with distinct returns (got {k})"
        )
    if len(m) < n_splits:
        return None, f"not computed: {len(m)} days is fewer than the {n_splits} CSCV blocks"
    metric, transform, words = PBO_METRICS[objective]
    values = np.log1p(m.to_numpy(dtype=float)) if transform == "log" else m
    value, _ = validation.pbo_cscv(values, n_splits=n_splits, metric=metric)
    return value, (
        f"CSCV over {k} candidates with distinct returns, {n_splits} blocks of about "
        f"{len(m) // n_splits} days, {words} ({objective})"
    )


def spa_pvalue(
    benchmark: pd.Series | None, models: pd.DataFrame, reps: int = 1000, seed: int = 0
) -> tuple[float | None, str]:
    """(Hansen's SPA consistent p-value of ``models`` against ``benchmark``, a note) or None.

    Sharpe-consistent loss: every model's returns are scaled to buy-and-hold's volatility over
    the same days (`validation.volatility_matched`), loss = -scaled return, the benchmark's loss
    = -r_bh, so a lower expected loss is a higher Sharpe than buy-and-hold. Models with no
    volatility (never in) cannot be scaled and are dropped, and so are models whose scaled
    returns differ from buy-and-hold's by a constant (a copy of it: SPA is undefined); the note
    counts them.
    """
    if benchmark is None or benchmark.dropna().empty:
        return None, "not computed: no buy-and-hold returns on these days"
    models = distinct_columns(models)
    scaled = validation.volatility_matched(models, benchmark)
    flat = [c for c in scaled.columns if scaled[c].isna().all()]
    scaled = scaled.drop(columns=flat)
    both = scaled.notna().all(axis=1) & benchmark.notna()
    diff = scaled[both].sub(benchmark[both], axis=0)
    copies = [c for c in diff.columns if not diff[c].std(ddof=0) > 1e-12 * benchmark.abs().max()]
    scaled = scaled.drop(columns=copies)
    dropped = []
    if flat:
        dropped.append(f"{len(flat)} never in (no volatility to scale) dropped")
    if copies:
        dropped.append(f"{len(copies)} equal to buy-and-hold after scaling dropped")
    tail = f" ({'; '.join(dropped)})" if dropped else ""
    k = scaled.shape[1]
    if k == 0:
        return None, f"not computed: no candidate left to test{tail}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = validation.spa_test(benchmark, scaled, reps=reps, seed=seed)["consistent"]
    what = "the chosen configuration" if k == 1 else f"the best of {k} candidates"
    return p, (
        f"H0: {what} has no higher Sharpe than buy-and-hold; loss = -return scaled to "
        f"buy-and-hold's volatility (M², full-sample σ); stationary bootstrap, {reps} reps{tail}"
    )


def market_correlation(returns: pd.Series, benchmark: pd.Series | None) -> float | None:
    """Pearson correlation of ``returns`` with ``benchmark`` on the days both are known, the
    first day excluded (as `backtest.degenerate.market_correlation`); None if either is flat or
    fewer than 3 days."""
    if benchmark is None:
        return None
    both = pd.concat([returns, benchmark], axis=1).iloc[1:].dropna().to_numpy(dtype=float)
    if len(both) < 3 or np.std(both[:, 0]) == 0.0 or np.std(both[:, 1]) == 0.0:
        return None
    return float(np.corrcoef(both[:, 0], both[:, 1])[0, 1])


def degeneracy_flag(returns: pd.Series, correlation: float | None, given: str | None) -> str | None:
    """The caller's flag if given; else ``never_in`` for returns that are all 0 (no position:
    every trade pays a fee) or `backtest.degenerate.degeneracy` from the correlation alone."""
    if given is not None:
        if given not in dg.LABELS:
            raise ValueError(f"unknown degeneracy flag {given!r}")
        return given
    if len(returns) and bool((returns == 0.0).all()):
        return dg.NEVER_IN
    corr = float("nan") if correlation is None else correlation
    return dg.degeneracy(float("nan"), float("nan"), corr)


def cost_assumptions(names: Iterable[str]) -> tuple[str, ...]:
    """The names among ``names`` that are the cost model or cost assumptions
    (`signals.production_cost.assumption_parameters`), in the given order: searched, they fit
    the thesis to the data."""
    from costbt.signals.production_cost import assumption_parameters

    known = set(assumption_parameters())
    return tuple(dict.fromkeys(n for n in names if n in known))


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


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def verdict(
    *,
    sharpe: float,
    benchmark_sharpe: float | None,
    dsr_vs_bh: float | None,
    pbo: float | None,
    spa_pvalue: float | None,
    n_obs: int,
    n_trials: int,
    min_trl: float,
    flag: str | None = None,
    correlation: float | None = None,
    searched_assumptions: Sequence[str] = (),
    deflated_by: str = DEFLATED_BY,
    thresholds: Thresholds = THRESHOLDS,
) -> tuple[str, str]:
    """(regime, one plain-language line) answering "better than holding bitcoin?".

    Sharpe ratios annual; ``min_trl`` in days (against buy-and-hold's Sharpe when known). The
    regimes are tested in this order (`REGIMES`):

    1. ``insufficient``: fewer than ``min_days`` days;
    2. ``never_in``: ``flag`` is `dg.NEVER_IN` (0 trades: nothing was tested);
       then ``insufficient`` again when the Sharpe is undefined (returns never varied);
    3. ``buy_and_hold``: ``flag`` is `dg.BUY_AND_HOLD` (indistinguishable from it);
    4. ``no_edge``: Sharpe at or below buy-and-hold's on the same days;
    5. ``overfit``: PBO >= ``pbo_overfit`` or DSR vs buy-and-hold < ``dsr_overfit``;
    6. ``skill``: DSR vs buy-and-hold >= ``dsr_skill``, PBO <= ``pbo_skill`` (or not computed)
       and SPA p <= ``spa_alpha`` (computed);
    7. ``inconclusive``: anything else (also: no buy-and-hold returns to compare with).

    Every line but ``insufficient`` ends with the N it deflated by ("N = 1,234 trials in the
    ledger") and, when ``searched_assumptions`` is not empty, says the cost assumptions were
    fitted too.
    """
    t = thresholds
    if n_obs < t.min_days:
        return "insufficient", (
            f"Not enough data to judge: {n_obs} days of returns (at least {t.min_days} needed)"
        )
    suffix = f" (N = {n_trials:,} {deflated_by})"
    if searched_assumptions:
        suffix += (
            f" — cost assumptions were fitted too ({', '.join(searched_assumptions)}): "
            "the thesis was not held fixed"
        )
    if flag == dg.NEVER_IN:
        return "never_in", (
            "Never in the market: the chosen configuration made no trade, so it tests nothing "
            "about its signal" + suffix
        )
    if not math.isfinite(sharpe):
        return "insufficient", (
            "Not enough data to judge: the chosen configuration's returns never varied "
            "(no position, Sharpe undefined)"
        )
    bh = benchmark_sharpe if _known(benchmark_sharpe) else None
    versus = f"Sharpe {sharpe:.2f} vs {bh:.2f} for buy-and-hold" if bh is not None else ""
    if flag == dg.BUY_AND_HOLD:
        why = (
            f"its daily returns move with buy-and-hold's (correlation {correlation:.3f})"
            if _known(correlation) and correlation >= dg.THRESHOLDS.correlation
            else "in the market nearly every day or moving with it"
        )
        tail = f"; {versus}" if versus else ""
        return "buy_and_hold", (
            f"Indistinguishable from buy-and-hold: {why} — it tests nothing about the cost "
            f"signal{tail}" + suffix
        )
    if bh is not None and sharpe <= bh:
        return "no_edge", (
            f"No edge over buy-and-hold: {versus} on the same {n_obs:,} days" + suffix
        )
    spa = "" if spa_pvalue is None else f", SPA p={_num(spa_pvalue)}"
    stats = f"DSR {_num(dsr_vs_bh)} vs buy-and-hold, PBO {_num(pbo)}{spa}"
    high_pbo = pbo is not None and pbo >= t.pbo_overfit
    low_dsr = dsr_vs_bh is not None and dsr_vs_bh < t.dsr_overfit
    if high_pbo or low_dsr:
        why = []
        if high_pbo:
            why.append(
                "the best in-sample configuration is not reliably better than the median one "
                "out of sample"
            )
        if low_dsr:
            why.append(
                f"a Sharpe of {sharpe:.2f} against buy-and-hold's {bh:.2f} is what the best of "
                f"{n_trials:,} configurations with no edge over holding would show by luck"
            )
        lead = f"PBO {_num(pbo)} and DSR {_num(dsr_vs_bh)} vs buy-and-hold" if high_pbo else stats
        return "overfit", f"Likely overfit: {lead} — {'; '.join(why)}" + suffix
    if bh is None:
        return "inconclusive", (
            f"Inconclusive: no buy-and-hold returns to compare with (Sharpe {sharpe:.2f}, "
            f"PBO {_num(pbo)})" + suffix
        )
    if (
        dsr_vs_bh is not None
        and dsr_vs_bh >= t.dsr_skill
        and (pbo is None or pbo <= t.pbo_skill)
        and spa_pvalue is not None
        and spa_pvalue <= t.spa_alpha
    ):
        return "skill", (
            f"Evidence of an edge over buy-and-hold after deflation: Sharpe {sharpe:.2f} vs "
            f"{bh:.2f}, {stats}" + suffix
        )
    need = (
        f"MinTRL {min_trl:,.0f} days against {n_obs:,} observed"
        if math.isfinite(min_trl)
        else "MinTRL unbounded"
    )
    return "inconclusive", (
        f"Inconclusive: {versus}, {stats} — neither overfit nor proven better than holding after "
        f"deflation; {need}" + suffix
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
    objective: str = "sharpe",
    degenerate: str | None = None,
    searched_assumptions: Sequence[str] = (),
    deflated_by: str = DEFLATED_BY,
    n_splits: int = 16,
    ci_size: float = 0.90,
    n_boot: int = 1000,
    spa_reps: int = 1000,
    seed: int = 0,
    thresholds: Thresholds = THRESHOLDS,
) -> Assessment:
    """Every statistic of the module docstring for the chosen ``returns``, and the verdict.

    ``sr_variance`` replaces V (default: from ``candidates``; ``sr_variance_from`` names its
    source in the note). ``pbo_matrix`` replaces the matrix CSCV runs on (default: the
    candidates; a walk-forward passes the last window's candidates on its training span);
    ``objective`` is what the search maximised (`PBO_METRICS`). ``degenerate`` is the caller's
    `backtest.degenerate.degeneracy` of the chosen run from its trades, exposure and market
    correlation (None: computed here from the correlation with ``benchmark``).
    ``searched_assumptions`` are the cost assumptions the search fitted (`cost_assumptions` of
    the searched names), named in the verdict. ``deflated_by`` says what N counts. N is
    ``max(n_trials, K)``: the chosen one cannot have been selected among fewer trials than the
    candidates shown.
    """
    if objective not in PBO_METRICS:
        raise ValueError(f"objective must be one of {tuple(PBO_METRICS)}, got {objective!r}")
    r, cands, bench = align(returns, candidates, benchmark)
    matrix = with_chosen(cands, r)
    k = distinct_columns(matrix.dropna()).shape[1]
    n = max(int(n_trials), k, 1)
    sr, n_obs, skew, kurt = validation.sharpe_moments(r)
    sharpe = sr * math.sqrt(PERIODS) if math.isfinite(sr) else float("nan")
    psr = validation.probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew, kurt)

    sr_bh = float("nan") if bench is None else per_day_sharpe(bench)
    bh_known = math.isfinite(sr_bh)
    if bench is None:
        benchmark_note = "not computed: no buy-and-hold returns given"
    elif not bh_known:
        benchmark_note = "not computed: buy-and-hold's Sharpe is undefined on these days"
    else:
        benchmark_note = f"buy-and-hold on the same {n_obs:,} days"

    v = sr_variance if sr_variance is not None else sharpe_variance(matrix)
    dsr, sr0 = deflated(r, v, n)
    dsr_bh = deflated(r, v, n, sr_bh)[0] if bh_known else None
    psr_bh = None
    if bh_known:
        value = validation.probabilistic_sharpe_ratio(sr, sr_bh, n_obs, skew, kurt)
        psr_bh = value if math.isfinite(value) else None
    if v is None:
        dsr_note = "not computed: V needs the Sharpe ratios of at least two candidates"
    else:
        dsr_note = (
            f"N = {n:,} {deflated_by}, V = {v:.3g} (variance of per-day Sharpe ratios across "
            f"{sr_variance_from}); "
            "effective N: correlated trials make N too large (DSR too low) and V too small "
            "(DSR too high)"
        )
    pbo_value, pbo_note = pbo(pbo_matrix if pbo_matrix is not None else matrix, n_splits, objective)
    spa, spa_note = spa_pvalue(bench, matrix, reps=spa_reps, seed=seed)
    min_trl = min_track_record_days(r)
    min_trl_bh = min_track_record_days(r, sr_benchmark=sr_bh) if bh_known else None
    if n_obs >= 2:
        sharpe_ci, cagr_ci = intervals(r, ci_size, n_boot, seed)
    else:
        sharpe_ci = cagr_ci = (float("nan"), float("nan"))
    correlation = market_correlation(r, bench)
    flag = degeneracy_flag(r, correlation, degenerate)
    assumptions = tuple(searched_assumptions)
    benchmark_sharpe = sr_bh * math.sqrt(PERIODS) if bh_known else None
    regime, line = verdict(
        sharpe=sharpe,
        benchmark_sharpe=benchmark_sharpe,
        dsr_vs_bh=dsr_bh,
        pbo=pbo_value,
        spa_pvalue=spa,
        n_obs=n_obs,
        n_trials=n,
        min_trl=min_trl_bh if min_trl_bh is not None else min_trl,
        flag=flag,
        correlation=correlation,
        searched_assumptions=assumptions,
        deflated_by=deflated_by,
        thresholds=thresholds,
    )
    return Assessment(
        sharpe=sharpe,
        benchmark_sharpe=benchmark_sharpe,
        psr_vs_bh=psr_bh,
        dsr_vs_bh=dsr_bh,
        psr=psr,
        dsr=dsr,
        min_trl=min_trl,
        min_trl_vs_bh=min_trl_bh,
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
        flag=flag,
        correlation=correlation,
        searched_assumptions=assumptions,
        deflated_by=deflated_by,
        objective=objective,
        dsr_note=dsr_note,
        benchmark_note=benchmark_note,
        pbo_note=pbo_note,
        spa_note=spa_note,
        ci_size=ci_size,
        pbo_splits=n_splits,
    )


__all__ = [
    "DEFLATED_BY",
    "PBO_METRICS",
    "REGIMES",
    "THRESHOLDS",
    "Assessment",
    "Thresholds",
    "assess",
    "cost_assumptions",
    "sample_ranked",
    "verdict",
]
