"""The verdict on CONSTRUCTED FAMILIES of configurations traded on REAL bitcoin returns.

The market is the bundled panel's BTC close to close, 2017-2024 (2,922 days; buy-and-hold Sharpe
about 1.15). Each family is a T × K matrix of daily returns built from it with a seeded rule, so
the right answer is known by construction:

* pure noise: K = 30 configurations whose market exposure is switched on and off at random (a
  Markov chain, a switch on 1 day in 20; 10 bps a switch): no information, so the best of them
  is luck. Expected: DSR against buy-and-hold small, PBO about 0.5 on average, a verdict of
  overfit, inconclusive or no edge, never skill;
* a buy-and-hold clone: the market's returns plus a tiny seeded noise (0.01 % a day), or the
  market itself. Expected: "indistinguishable from buy-and-hold";
* a planted edge: K = 30 variants of a rule that sits out the market on the days of its 5 %
  largest drops, USING FUTURE KNOWLEDGE ON PURPOSE (the day's own return) so that the edge is
  known to exist, with variant j skipping each such day with probability q_j (0.5 to 1: how much
  of the foresight it keeps) and sitting out a further random 10 % of days (10 bps a switch).
  The best variant really beats holding. Expected: "Evidence of an edge over buy-and-hold".

N is K (every configuration of the family was tried, and the chosen one is the best of them) or
the ledger-sized 1,000; bootstraps are cut to 100 draws and SPA to 300 replications to keep each
test near a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from costbt.backtest import degenerate
from costbt.backtest import overfitting as o

FAST = {"n_boot": 100, "spa_reps": 300}
K = 30
FEE = 0.001


@pytest.fixture(scope="module")
def market(bundled_panel) -> pd.Series:
    close = bundled_panel["close_usd"].dropna()
    return close.pct_change().dropna().loc["2017":"2024"].rename("buy_and_hold")


def traded(market: pd.Series, position: np.ndarray) -> pd.DataFrame:
    """Daily returns of T × K positions (0 or 1) on the market, 10 bps a switch."""
    switches = np.abs(np.diff(np.vstack([np.zeros(position.shape[1]), position]), axis=0))
    return pd.DataFrame(position * market.to_numpy()[:, None] - FEE * switches, index=market.index)


def pure_noise(market: pd.Series, seed: int, k: int = K, switch: float = 1 / 20) -> pd.DataFrame:
    """K random on/off exposures (a Markov chain switching with probability ``switch`` a day)."""
    rng = np.random.default_rng(seed)
    flips = rng.uniform(size=(len(market), k)) < switch
    position = (rng.integers(0, 2, k)[None, :] + np.cumsum(flips, axis=0)) % 2
    return traded(market, position.astype(float))


def planted_edge(market: pd.Series, seed: int, k: int = K) -> pd.DataFrame:
    """K variants of "out on the day of a large drop" (future knowledge, on purpose)."""
    rng = np.random.default_rng(seed)
    r = market.to_numpy()
    crash = r < np.quantile(r, 0.05)
    keep = np.linspace(0.5, 1.0, k)
    skip = crash[:, None] & (rng.uniform(size=(len(r), k)) < keep)
    position = np.where(skip, 0.0, (rng.uniform(size=(len(r), k)) > 0.10).astype(float))
    return traded(market, position)


def best(matrix: pd.DataFrame) -> pd.Series:
    """The column with the highest Sharpe: the one a search maximising Sharpe would choose."""
    return matrix[matrix.apply(o.per_day_sharpe).idxmax()]


# --------------------------------------------------------------------------- pure noise


def test_pure_noise_gives_pbo_near_one_half(market) -> None:
    values = [o.pbo(pure_noise(market, seed))[0] for seed in range(20)]
    assert 0.4 <= float(np.mean(values)) <= 0.62


@pytest.mark.parametrize(("seed", "n_trials"), [(0, K), (1, K), (2, 1000)])
def test_the_best_of_pure_noise_is_never_called_skill(market, seed, n_trials) -> None:
    m = pure_noise(market, seed)
    a = o.assess(best(m), m, market, n_trials, **FAST)
    assert a.regime in ("overfit", "inconclusive", "no_edge"), a.verdict
    assert a.dsr_vs_bh < 0.5
    assert a.spa_pvalue > 0.05
    assert a.flag is None  # in the market about half the time: not a buy-and-hold clone


def test_a_typical_noise_configuration_does_not_even_beat_holding(market) -> None:
    # In the market half the time at random: about half of buy-and-hold's drift for about 70 %
    # of its volatility, minus fees. The median configuration's Sharpe is well below holding's.
    m = pure_noise(market, 1)
    sharpes = m.apply(o.per_day_sharpe).sort_values()
    median = m[sharpes.index[len(sharpes) // 2]]
    a = o.assess(median, m, market, K, **FAST)
    assert a.regime == "no_edge", a.verdict
    assert a.verdict.startswith(f"No edge over buy-and-hold: Sharpe {a.sharpe:.2f} vs 1.15 for")


# --------------------------------------------------------------------------- buy-and-hold clones


def test_a_buy_and_hold_clone_is_indistinguishable_from_buy_and_hold(market) -> None:
    clone = market + np.random.default_rng(0).normal(0.0, 1e-4, len(market))
    a = o.assess(clone, None, market, 1000, **FAST)
    assert a.regime == "buy_and_hold", a.verdict
    assert a.verdict.startswith("Indistinguishable from buy-and-hold: its daily returns move")
    assert a.correlation > 0.999


def test_always_in_the_market_is_buy_and_hold_whatever_its_statistics(market) -> None:
    always = traded(market, np.ones((len(market), 1)))[0]
    flag = degenerate.degeneracy(trades=1, exposure=1.0, correlation=None)
    a = o.assess(always, None, market, 1000, degenerate=flag, **FAST)
    assert a.flag == "buy_and_hold" and a.regime == "buy_and_hold"


# --------------------------------------------------------------------------- a planted edge


@pytest.mark.parametrize(("seed", "n_trials"), [(0, K), (1, 1000)])
def test_a_planted_edge_over_holding_is_called_skill(market, seed, n_trials) -> None:
    m = planted_edge(market, seed)
    chosen = best(m)
    a = o.assess(chosen, m, market, n_trials, **FAST)
    assert a.regime == "skill", a.verdict
    assert a.verdict.startswith("Evidence of an edge over buy-and-hold after deflation")
    assert a.dsr_vs_bh >= 0.95 and a.pbo <= 0.2 and a.spa_pvalue <= 0.05
    assert a.sharpe > a.hurdle > a.benchmark_sharpe


def test_a_planted_edge_whose_assumptions_were_searched_says_so(market) -> None:
    m = planted_edge(market, 0)
    a = o.assess(best(m), m, market, K, searched_assumptions=("power_price",), **FAST)
    assert a.regime == "skill"
    assert a.verdict.endswith(
        "(N = 30 trials in the ledger) — cost assumptions were fitted too (power_price): the "
        "thesis was not held fixed"
    )
