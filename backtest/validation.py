"""Overfitting-aware evaluation: PSR, DSR, MinTRL, PBO (CSCV), bootstrap CIs and Hansen's SPA.

Small pure functions in the style of `backtest.metrics`. Unless a docstring says otherwise a Sharpe
ratio here is PER PERIOD (mean / std of the per-period returns, not annualised): that is the unit
the Bailey & Lopez de Prado formulas use, with ``n_obs`` (T) counted in the same periods. Skewness
is γ3 and kurtosis is the RAW kurtosis γ4 (3 for a normal distribution), not excess kurtosis.

Sources (formulas and test vectors in ``reference/models.md`` section 5):

- Bailey, D. H. & Lopez de Prado, M. (2012). "The Sharpe Ratio Efficient Frontier." Journal of
  Risk 15(2) -- PSR and MinTRL.
- Bailey, D. H. & Lopez de Prado, M. (2014). "The Deflated Sharpe Ratio: Correcting for Selection
  Bias, Backtest Overfitting and Non-Normality." Journal of Portfolio Management 40(5) -- DSR.
- Bailey, D. H., Borwein, J., Lopez de Prado, M. & Zhu, Q. J. (2017, SSRN 2015). "The Probability
  of Backtest Overfitting." Journal of Computational Finance 20(4) -- PBO by CSCV.
- Politis, D. N. & Romano, J. P. (1994). "The Stationary Bootstrap." JASA 89(428).
- Hansen, P. R. (2005). "A Test for Superior Predictive Ability." JBES 23(4).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from arch.bootstrap import SPA, StationaryBootstrap
from scipy import stats

from costbt.backtest import metrics

EULER_GAMMA = 0.5772156649015329


def _sr_variance_term(sr: float, skew: float, kurtosis: float) -> float:
    """1 - γ3·SR + ((γ4 - 1) / 4)·SR², the non-normality adjustment (γ4 raw kurtosis)."""
    return 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2


def psr_z(sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    """The z-statistic inside the PSR: (SR - SR*)·√(T - 1) / √(1 - γ3·SR + ((γ4 - 1)/4)·SR²).

    SR and SR* per period, T = ``n_obs`` periods, γ3 skewness, γ4 raw kurtosis.
    """
    denom = _sr_variance_term(sr, skew, kurtosis)
    if n_obs < 2 or denom <= 0:
        return float("nan")
    return float((sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom))


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """PSR(SR*) = Φ[(SR - SR*)·√(T - 1) / √(1 - γ3·SR + ((γ4 - 1)/4)·SR²)].

    The probability that the true Sharpe ratio exceeds ``sr_benchmark`` given the observed ``sr``.
    SR and SR* PER PERIOD (not annualised); T = ``n_obs`` periods; γ3 = ``skew``; γ4 =
    ``kurtosis`` RAW (normal = 3). Source: Bailey & Lopez de Prado (2012), eq. for PSR.
    """
    z = psr_z(sr, sr_benchmark, n_obs, skew, kurtosis)
    return float(stats.norm.cdf(z)) if np.isfinite(z) else float("nan")


def sharpe_moments(returns: pd.Series | np.ndarray) -> tuple[float, int, float, float]:
    """(per-period Sharpe with std ddof=1, T, skewness, raw kurtosis) of the non-NaN returns."""
    r = np.asarray(pd.Series(returns).dropna(), dtype=float)
    n = len(r)
    if n < 2:
        return float("nan"), n, float("nan"), float("nan")
    sd = r.std(ddof=1)
    sr = float(r.mean() / sd) if sd > 0 else float("nan")
    skew = float(stats.skew(r, bias=True))
    kurt = float(stats.kurtosis(r, fisher=False, bias=True))
    return sr, n, skew, kurt


def psr_from_returns(returns: pd.Series | np.ndarray, sr_benchmark: float = 0.0) -> float:
    """PSR of a return series against ``sr_benchmark`` (PER PERIOD, e.g. daily; 0 by default).

    SR = mean / std(ddof=1) of the non-NaN returns, T their count, γ3 the sample skewness and γ4
    the sample RAW kurtosis (both the biased moment estimators, as in Bailey & Lopez de Prado).
    To compare with an annual benchmark pass ``sr_annual / sqrt(365)``.
    """
    sr, n, skew, kurt = sharpe_moments(returns)
    return probabilistic_sharpe_ratio(sr, sr_benchmark, n, skew, kurt)


def expected_max_sharpe(sr_variance: float, n_trials: int) -> float:
    """SR0 = √V·[(1 - γ)·Φ⁻¹(1 - 1/N) + γ·Φ⁻¹(1 - 1/(N·e))], γ = 0.5772156649 (Euler-Mascheroni).

    The expected maximum of N independent Sharpe ratio estimates whose true value is 0 and whose
    cross-trial variance is V = ``sr_variance`` (in PER PERIOD Sharpe units squared, so SR0 is per
    period too). N = ``n_trials`` >= 2 (for N = 1 there is no selection: returns 0).
    Source: Bailey & Lopez de Prado (2014), "The Deflated Sharpe Ratio", eq. (2)/appendix.
    """
    if n_trials < 1 or sr_variance < 0:
        raise ValueError("need n_trials >= 1 and sr_variance >= 0")
    if n_trials == 1:
        return 0.0
    q1 = stats.norm.ppf(1.0 - 1.0 / n_trials)
    q2 = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sr_variance) * ((1.0 - EULER_GAMMA) * q1 + EULER_GAMMA * q2))


def deflated_sharpe_ratio(
    sr: float,
    sr_variance: float,
    n_trials: int,
    n_obs: int,
    skew: float,
    kurtosis: float,
    sr_benchmark: float = 0.0,
) -> float:
    """DSR = PSR(SR_b + SR0), SR0 = `expected_max_sharpe`(V, N); SR_b = ``sr_benchmark`` (0).

    The probability that the selected strategy's true Sharpe exceeds the Sharpe the best of N
    trials with no skill beyond SR_b would show by luck. With SR_b = 0 (the default) this is the
    published DSR; with SR_b = a benchmark's Sharpe on the same days (e.g. buy-and-hold's) it is
    the PSR(SR*) of Bailey & Lopez de Prado (2012) with SR* = SR_b + SR0: under H0 "no trial's
    true Sharpe exceeds the benchmark's", each trial's estimate is SR_b + noise, so the best of N
    is expected near SR_b + SR0. SR and SR_b per period, V the variance of the per-period Sharpe
    ratios across the N trials, T = ``n_obs`` periods, γ3 skewness, γ4 RAW kurtosis.
    Source: Bailey & Lopez de Prado (2014); vector: annual SR 2.5 over 250 obs/yr (SR = 0.15811),
    T = 1250, N = 100, V = 0.5/250, γ3 = -3, γ4 = 10 -> SR0 = 0.11317, z = 1.2838, DSR = 0.9004.
    """
    sr0 = expected_max_sharpe(sr_variance, n_trials)
    return probabilistic_sharpe_ratio(sr, sr_benchmark + sr0, n_obs, skew, kurtosis)


def min_track_record_length(
    sr: float, sr_benchmark: float, skew: float, kurtosis: float, alpha: float = 0.05
) -> float:
    """MinTRL = 1 + (1 - γ3·SR + ((γ4 - 1)/4)·SR²)·(z_α / (SR - SR*))², z_α = Φ⁻¹(1 - α).

    The number of observations (in the periods SR is measured in; SR, SR* PER PERIOD) needed to
    reject "true SR <= SR*" at confidence 1 - α. Infinite if SR <= SR*. γ4 RAW kurtosis.
    Source: Bailey & Lopez de Prado (2012), "The Sharpe Ratio Efficient Frontier".
    """
    if sr <= sr_benchmark:
        return float("inf")
    z = stats.norm.ppf(1.0 - alpha)
    return float(1.0 + _sr_variance_term(sr, skew, kurtosis) * (z / (sr - sr_benchmark)) ** 2)


FLAT = 1e-12  # a column whose variance over a half is below FLAT x its mean square is flat there
METRICS = ("mean", "sharpe", "max_drawdown")
# Drawdowns are rounded to 12 decimals: equal drawdowns (e.g. two configurations that differ only
# before their deepest fall) computed by products or by log sums then tie in both paths.
DRAWDOWN_DECIMALS = 12


def _block_metric(block: np.ndarray, metric: str | Callable[[np.ndarray], Any]) -> np.ndarray:
    """Each column's score over ``block`` (rows in time order), higher = better.

    "mean": mean; "sharpe": mean / std (ddof 1), 0 for a column flat over the block (variance
    below `FLAT` x its mean square: no position, the Sharpe of cash); "max_drawdown": the deepest
    drawdown of the compounded returns (equity / running peak - 1, equity 1 before the first
    row; a negative fraction, as `backtest.metrics.max_drawdown`, rounded to
    `DRAWDOWN_DECIMALS`).
    """
    if metric == "mean":
        return block.mean(axis=0)
    if metric == "sharpe":
        k = len(block)
        mean = block.mean(axis=0)
        var = block.var(axis=0, ddof=1) if k > 1 else np.zeros(block.shape[1])
        flat = var <= FLAT * (block**2).mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(flat, 0.0, mean / np.sqrt(np.where(flat, 1.0, var)))
    if metric == "max_drawdown":
        equity = np.cumprod(1.0 + block, axis=0)
        peak = np.maximum.accumulate(np.vstack([np.ones(block.shape[1]), equity]), axis=0)[1:]
        return np.round((equity / peak - 1.0).min(axis=0), DRAWDOWN_DECIMALS)
    if callable(metric):
        return np.asarray(metric(block), dtype=float)
    raise ValueError(f"unknown metric {metric!r}; use one of {METRICS} or a callable")


def _moments_perf(
    weights: np.ndarray, sums: np.ndarray, squares: np.ndarray, counts: np.ndarray, metric: str
) -> np.ndarray:
    """ "mean" or "sharpe" of every half at once from per-block sums of x and x² (rows: halves)."""
    k = (weights @ counts)[:, None]
    s, sq = weights @ sums, weights @ squares
    mean = s / k
    if metric == "mean":
        return mean
    var = (sq - s * mean) / (k - 1.0)
    flat = ~(var > FLAT * sq / k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, 0.0, mean / np.sqrt(np.where(flat, 1.0, var)))


def _drawdown_stats(m: np.ndarray, blocks: list[np.ndarray]) -> np.ndarray:
    """Per block and column, in log-equity units: (growth G, highest prefix P, lowest prefix L,
    deepest drawdown within the block D, the block's start counted as a peak); shape (4, S, N)."""
    out = np.empty((4, len(blocks), m.shape[1]))
    for i, b in enumerate(blocks):
        path = np.cumsum(np.log1p(m[b]), axis=0)
        peak = np.maximum.accumulate(np.maximum(path, 0.0), axis=0)
        out[:, i] = path[-1], path.max(axis=0), path.min(axis=0), (peak - path).max(axis=0)
    return out


def _drawdown_perf(stats: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """Max drawdown (negative fraction) of each half = its blocks chained in time order.

    Scan over the half's blocks with the level ``lvl`` and running peak ``top`` before each: the
    deepest log drawdown inside a block is max(top - lvl - lowest prefix, drawdown within it).
    """
    g, hi, lo, dd = stats
    lvl = np.zeros((len(halves), g.shape[1]))
    top, deepest = lvl.copy(), lvl.copy()
    for j in range(halves.shape[1]):
        b = halves[:, j]
        deepest = np.maximum(deepest, np.maximum(top - lvl - lo[b], dd[b]))
        top = np.maximum(top, lvl + hi[b])
        lvl = lvl + g[b]
    return np.round(np.expm1(-deepest), DRAWDOWN_DECIMALS)


def _cscv_lambdas(m: np.ndarray, blocks: list[np.ndarray], metric: str) -> list[float]:
    """λ of every CSCV split at once for the named metrics (same rules as the loop).

    "mean" and "sharpe": each split's in-sample (out-of-sample) rows are a union of blocks, so
    the mean and the variance come from per-block sums of x and x² (a column flat over a half
    scores 0, as in the loop). "max_drawdown": per-block log-equity summaries chained in time
    order (`_drawdown_perf`). C(16, 8) = 12,870 splits of a 2,500 x 50 matrix take about 0.1 s
    instead of 4 s; the splits go in chunks so that a 1,000-column matrix stays within memory.
    """
    n_splits, n = len(blocks), m.shape[1]
    counts = np.array([len(b) for b in blocks], dtype=float)
    if metric == "max_drawdown":
        dd_stats = _drawdown_stats(m, blocks)
    else:
        sums = np.stack([m[b].sum(axis=0) for b in blocks])
        squares = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])
    train = np.array(list(combinations(range(n_splits), n_splits // 2)))
    in_sample = np.zeros((len(train), n_splits), dtype=bool)
    in_sample[np.arange(len(train))[:, None], train] = True
    test = np.nonzero(~in_sample)[1].reshape(len(train), -1)  # row-major: each row sorted
    out: list[float] = []
    step = max(1, 2_000_000 // max(n, 1))
    for lo in range(0, len(train), step):
        tr, te = train[lo : lo + step], test[lo : lo + step]
        if metric == "max_drawdown":
            perf_in, perf_out = _drawdown_perf(dd_stats, tr), _drawdown_perf(dd_stats, te)
        else:
            mask = np.zeros((len(tr), n_splits))
            mask[np.arange(len(tr))[:, None], tr] = 1.0
            perf_in = _moments_perf(mask, sums, squares, counts, metric)
            perf_out = _moments_perf(1.0 - mask, sums, squares, counts, metric)
        best = np.nanargmax(perf_in, axis=1)  # raises on an all-NaN split, like the loop
        x = perf_out[np.arange(len(tr)), best][:, None]
        # Average rank of the chosen column out of sample (1 = worst), as scipy's rankdata; a NaN
        # anywhere in the split makes rankdata return NaN, hence λ NaN (not counted as overfit).
        rank = (perf_out < x).sum(axis=1) + ((perf_out == x).sum(axis=1) + 1) / 2.0
        rank = np.where(np.isnan(perf_out).any(axis=1), np.nan, rank)
        omega = rank / (n + 1.0)
        out.extend(np.log(omega / (1.0 - omega)).tolist())
    return out


def pbo_cscv(
    matrix: pd.DataFrame | np.ndarray,
    n_splits: int = 16,
    metric: str | Callable[[np.ndarray], Any] = "mean",
) -> tuple[float, list[float]]:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    ``matrix`` is T×N: rows are periods (in time order), columns the N configurations tried. Rows
    are split into S = ``n_splits`` (even) contiguous blocks (`numpy.array_split`). For each of the
    C(S, S/2) ways to pick S/2 blocks as in-sample (the rest, in time order, out-of-sample):
    n* = argmax of the in-sample metric (first column on ties); ω = rank of n* out-of-sample among
    the N (1 = worst, N = best; ties get the average rank) / (N + 1); λ = ln(ω / (1 - ω)).
    PBO = share of splits with λ <= 0 (the in-sample winner is at or below the OOS median).

    ``metric``: "mean", "sharpe" (per period, ddof=1; 0 for a column flat over the half, i.e.
    never in the market there: the Sharpe of cash), "max_drawdown" (of the half's returns
    compounded in time order; a negative fraction, so higher = shallower = better) or a callable
    taking a (rows × N) array and returning N scores (higher = better). The named metrics are
    computed for every split at once. Returns (PBO, λ per split in `itertools.combinations`
    order of the in-sample block indices).
    Source: Bailey, Borwein, Lopez de Prado & Zhu (2017), "The Probability of Backtest Overfitting".
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError("matrix must be T×N with N >= 2")
    if n_splits < 2 or n_splits % 2 or n_splits > m.shape[0]:
        raise ValueError("n_splits must be even, >= 2 and <= number of rows")
    n = m.shape[1]
    blocks = np.array_split(np.arange(m.shape[0]), n_splits)
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of {METRICS} or a callable")
        lambdas = _cscv_lambdas(m, blocks, metric)
        return float(np.mean(np.asarray(lambdas) <= 0)), lambdas
    lambdas: list[float] = []
    for train in combinations(range(n_splits), n_splits // 2):
        test = [b for b in range(n_splits) if b not in train]
        rows_in = np.concatenate([blocks[b] for b in train])
        rows_out = np.concatenate([blocks[b] for b in test])
        perf_in = _block_metric(m[rows_in], metric)
        perf_out = _block_metric(m[rows_out], metric)
        best = int(np.nanargmax(perf_in))
        rank = stats.rankdata(perf_out, method="average")[best]
        omega = rank / (n + 1.0)
        lambdas.append(float(math.log(omega / (1.0 - omega))))
    pbo = float(np.mean([lam <= 0 for lam in lambdas]))
    return pbo, lambdas


def _statistic_func(statistic: str | Callable[[pd.Series], float]) -> Callable[[pd.Series], float]:
    if statistic == "sharpe":
        return metrics.sharpe
    if statistic == "cagr":
        return metrics.cagr
    if callable(statistic):
        return statistic
    raise ValueError(f"unknown statistic {statistic!r}; use 'sharpe', 'cagr' or a callable")


def default_block_size(n_obs: int) -> int:
    """Default mean block length for the stationary bootstrap: round(T^(1/3)), at least 1."""
    return max(1, round(n_obs ** (1.0 / 3.0)))


def stationary_bootstrap_ci(
    returns: pd.Series | np.ndarray,
    statistic: str | Callable[[pd.Series], float] = "sharpe",
    n_boot: int = 1000,
    block_size: int | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(low, point, high): percentile confidence interval of a statistic of daily returns.

    Resamples with `arch.bootstrap.StationaryBootstrap` (Politis & Romano 1994: geometric blocks of
    mean length ``block_size``, default round(T^(1/3))) ``n_boot`` times; low/high are the α/2 and
    1 - α/2 quantiles of the bootstrap statistics, point the statistic of the original series.
    ``statistic``: "sharpe" (ANNUALISED, 365 periods, `metrics.sharpe`), "cagr" (`metrics.cagr`,
    365 periods) or a callable of a `pd.Series`. Deterministic for a given ``seed``.
    """
    func = _statistic_func(statistic)
    r = pd.Series(returns).dropna().astype(float)
    r = r.reset_index(drop=True)
    if len(r) < 2:
        nan = float("nan")
        return nan, nan, nan
    bs = StationaryBootstrap(block_size or default_block_size(len(r)), r.to_numpy(), seed=seed)
    draws = bs.apply(lambda x: np.array([func(pd.Series(x))]), reps=n_boot)[:, 0]
    low, high = np.nanquantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(func(r)), float(high)


def volatility_matched(
    model_returns: pd.DataFrame | pd.Series, benchmark_returns: pd.Series
) -> pd.DataFrame:
    """Each model's returns scaled to the benchmark's volatility: r·σ_b / σ_m (M², Modigliani).

    σ = standard deviation (ddof 1) over the days where the model and the benchmark are both
    known (full sample, not re-estimated by a bootstrap). The mean of the scaled returns is
    σ_b·SR_m, so mean(scaled) - mean(r_b) = σ_b·(SR_m - SR_b): ranking the scaled returns by their
    mean ranks the models by Sharpe, and a scaled model earns more than the benchmark on average
    exactly when its Sharpe is higher. Per period, risk-free rate 0. A model with σ = 0 (flat:
    never in the market) or unknown has no scaling: its column is all NaN.
    Source: Modigliani, F. & Modigliani, L. (1997), "Risk-Adjusted Performance", JPM 23(2).
    """
    models = pd.DataFrame(model_returns).astype(float)
    bench = pd.Series(benchmark_returns, dtype=float).reindex(models.index)
    out = {}
    for col in models.columns:
        both = models[col].notna() & bench.notna()
        sd_m = models.loc[both, col].std(ddof=1)
        sd_b = bench[both].std(ddof=1)
        ok = both.sum() > 1 and np.isfinite(sd_m) and sd_m > 0 and np.isfinite(sd_b)
        out[col] = models[col] * (sd_b / sd_m) if ok else pd.Series(np.nan, index=models.index)
    return pd.DataFrame(out, index=models.index)


def spa_test(
    benchmark_returns: pd.Series | np.ndarray,
    model_returns: pd.DataFrame | pd.Series | np.ndarray,
    block_size: int | None = None,
    reps: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Hansen's (2005) test for Superior Predictive Ability of any model over the benchmark.

    H0: no model has a lower expected loss than the benchmark. arch's `SPA` works on LOSSES, so the
    losses passed are the NEGATIVE returns (loss = -r; higher return = lower loss). Rows with a NaN
    in any series are dropped. Bootstrap: stationary, mean block length ``block_size`` (default
    round(T^(1/3))), ``reps`` replications, fixed ``seed``. Returns the "consistent", "lower" and
    "upper" p-values (small = some model beats the benchmark).

    Degenerate input: if a model's loss differential (benchmark loss - model loss) is constant, e.g.
    model = benchmark + c, its variance is 0 and the recentring/studentisation is undefined; the
    p-values are then only meaningful for c > 0 (all 0). A `RuntimeWarning` is emitted.
    """
    bench = pd.Series(benchmark_returns, dtype=float, name="__benchmark__")
    models = pd.DataFrame(model_returns).astype(float)
    if not (
        isinstance(benchmark_returns, pd.Series)
        and isinstance(model_returns, pd.Series | pd.DataFrame)
    ):
        bench, models = bench.reset_index(drop=True), models.reset_index(drop=True)
    joined = pd.concat([bench, models], axis=1, join="inner").dropna()
    bench_loss = -joined["__benchmark__"].to_numpy()
    model_loss = -joined.drop(columns="__benchmark__").to_numpy()
    diff = bench_loss[:, None] - model_loss
    scale = np.abs(diff).max(initial=0.0) + np.abs(bench_loss).max(initial=0.0)
    if len(diff) and np.any(diff.std(axis=0) <= 1e-12 * max(scale, 1e-300)):
        warnings.warn(
            "spa_test: a model's loss differential vs the benchmark is constant (zero variance); "
            "SPA p-values are degenerate",
            RuntimeWarning,
            stacklevel=2,
        )
    spa = SPA(
        bench_loss,
        model_loss,
        block_size=block_size or default_block_size(len(joined)),
        reps=reps,
        bootstrap="stationary",
        seed=seed,
    )
    spa.compute()
    p = spa.pvalues
    return {k: float(p[k]) for k in ("consistent", "lower", "upper")}
