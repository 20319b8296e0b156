"""Vintage: no signal uses a value from before its source was first published.

CBECI was launched on 2 July 2019. Before that day the panel holds no CBECI value and the fleet
efficiency comes from the CBECI-free vintage mix (`signals.fleet_vintage`): so changing every
CBECI value must leave every cost and below-cost signal dated before 2019-07-02 unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.data.panel import build_panel
from costbt.signals import production_cost as pc
from costbt.signals.fleet_efficiency import (
    FRONTIER,
    EfficiencyTimeline,
    cbeci_implied_efficiency,
    efficiency_sources,
    fleet_efficiency,
)
from costbt.signals.fleet_vintage import VintageMix, vintage_mix, vintage_mix_efficiency
from costbt.signals.lookahead import check_point_in_time

PUBLISHED = pd.Timestamp("2019-07-02")  # CBECI's launch: its first panel row
FIRST, LAST = pd.Timestamp("2009-01-10"), pd.Timestamp("2026-02-12")
CUTOFFS = st.integers(0, (LAST - FIRST).days).map(lambda k: FIRST + pd.Timedelta(days=k))
PIT = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


@pytest.fixture(scope="module")
def sources():
    from costbt.data.panel import load_sources

    return load_sources()


def _signals(panel: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every cost model, and the below-cost rule on each assumption model, on ``panel``."""
    out = {"costs": pc.cost_models(panel)}
    for model in pc.ASSUMPTION_MODELS:
        rule = pc.below_cost(panel, pc.BelowCostParams(model=model))
        out[f"below_cost[{model}]"] = pd.DataFrame(
            {"entry": rule.entry, "exit": rule.exit, **rule.indicator}
        )
    return out


@pytest.mark.parametrize("alteration", ["halved", "noise"])
def test_altering_cbeci_changes_nothing_dated_before_its_publication(panel, sources, alteration):
    """THE vintage test: CBECI x0.5 (or random noise) in the raw file, panel rebuilt."""
    altered = dict(sources)
    cbeci = sources["cbeci"].copy()
    if alteration == "halved":
        cbeci = cbeci * 0.5
    else:
        noise = np.random.default_rng(7).uniform(0.3, 3.0, cbeci.shape)
        cbeci = cbeci * noise
    altered["cbeci"] = cbeci
    before = _signals(panel)
    after = _signals(build_panel(altered))
    for name, frame in before.items():
        early_a = frame.loc[: PUBLISHED - pd.Timedelta(days=1)]
        early_b = after[name].loc[: PUBLISHED - pd.Timedelta(days=1)]
        pd.testing.assert_frame_equal(early_a, early_b, check_freq=False, obj=name)
        # ...while later rows do change, so the comparison above can fail.
        if name == "costs":
            late = frame.loc[PUBLISHED:, list(pc.ASSUMPTION_MODELS)]
            changed = ~np.isclose(late, after[name].loc[PUBLISHED:, list(pc.ASSUMPTION_MODELS)])
            assert changed.any(axis=0).all(), name
    assert before["costs"].loc[:"2019-07-01", "electricity"].notna().sum() > 1500  # 2015 on


def test_the_vintage_test_would_catch_a_panel_that_shows_cbeci_early(panel, sources):
    """Without the declared first-available day, altering CBECI moves 2018's costs."""
    from costbt.data.panel import PANEL_SOURCES

    undated = tuple(
        dataclasses.replace(s, first_available=None) if s.name == "cbeci" else s
        for s in PANEL_SOURCES
    )
    halved = {**sources, "cbeci": sources["cbeci"] * 0.5}
    a = pc.cost_models(build_panel(sources, undated), models=("electricity",))
    b = pc.cost_models(build_panel(halved, undated), models=("electricity",))
    assert not np.allclose(a.loc["2018"], b.loc["2018"])


# ----------------------------------------------------------------------------- the seam


def test_fleet_efficiency_is_the_vintage_mix_until_cbeci_is_published(panel):
    eff = fleet_efficiency(panel)
    mix = vintage_mix_efficiency(panel)
    implied = cbeci_implied_efficiency(panel)
    early = eff.loc[:"2019-07-01"].dropna()
    pd.testing.assert_series_equal(early, mix.loc[early.index], check_freq=False)
    assert implied.loc[:"2019-07-01"].isna().all()
    assert eff.loc[PUBLISHED] == pytest.approx(implied.loc[PUBLISHED])
    sources = efficiency_sources(panel)
    assert sources.loc["2018-07-15"] == "vintage mix"
    assert sources.loc[PUBLISHED] == "CBECI" and sources.loc["2025-11-20"] == "extension"


# ----------------------------------------------------------------------------- the vintage mix


def test_a_hand_computed_fifo_vintage_mix():
    """Capacity is added at the day's machine; the oldest (least efficient) runs last.

    day 0: 10 TH/s at 100 J/TH -> 100
    day 1: +10 at 50 -> (10*100 + 10*50) / 20 = 75
    day 2: hashrate 15: the newest 10 at 50 and 5 of the 100s run -> 1000 / 15
    day 3: 25: the idle 100s come back first, +5 at 20 -> (5*20 + 10*50 + 10*100) / 25 = 64
    day 4: 30: +5 at 20 -> (10*20 + 10*50 + 10*100) / 30
    """
    h = np.array([10.0, 20.0, 15.0, 25.0, 30.0])
    e = np.array([100.0, 50.0, 50.0, 20.0, 20.0])
    got = vintage_mix(h, e)
    assert got == pytest.approx([100.0, 75.0, 1000 / 15, 64.0, 1700 / 30])


def test_vintages_retire_after_their_maximum_life():
    """Same input, machines scrapped two days after deployment:

    day 2: the day-0 vintage is scrapped; 10 at 50 run, +5 at 50 -> 50
    day 3: the day-1 vintage goes too; 5 at 50 left, +20 at 20 -> (250 + 400) / 25 = 26
    day 4: the day-2 vintage goes; 20 at 20 left, +10 at 20 -> 20
    """
    h = np.array([10.0, 20.0, 15.0, 25.0, 30.0])
    e = np.array([100.0, 50.0, 50.0, 20.0, 20.0])
    assert vintage_mix(h, e, max_life_days=2) == pytest.approx([100.0, 75.0, 50.0, 26.0, 20.0])


def test_obsolete_vintages_are_scrapped_for_good():
    """Scrap at 3x the J/TH being deployed:

    day 1: deploying 50, limit 150: the 100s stay -> 75
    day 2: deploying 20, limit 60: the 100s go; 10 at 50 left, +10 at 20 -> 700 / 20 = 35
    day 3: hashrate falls to 10: the 50s are switched off (not scrapped: 50 < 60) -> 20
    day 4: back to 20: the 50s come back before anything new -> 35
    """
    h = np.array([10.0, 20.0, 20.0, 10.0, 20.0])
    e = np.array([100.0, 50.0, 20.0, 20.0, 20.0])
    got = vintage_mix(h, e, obsolete_ratio=3.0)
    assert got == pytest.approx([100.0, 75.0, 35.0, 20.0, 35.0])


def test_unknown_hashrate_gives_no_value_and_keeps_the_fleet():
    h = np.array([10.0, np.nan, 0.0, 20.0])
    e = np.array([100.0, 50.0, 50.0, 50.0])
    got = vintage_mix(h, e)
    assert got[0] == 100.0 and np.isnan(got[1]) and np.isnan(got[2])
    assert got[3] == pytest.approx(75.0)


def test_machines_may_not_get_worse_over_time():
    with pytest.raises(ValueError, match="must not increase"):
        vintage_mix(np.array([10.0, 20.0]), np.array([50.0, 100.0]))


def test_the_settings_are_validated():
    with pytest.raises(ValueError, match="deploy_lag_days"):
        VintageMix(deploy_lag_days=-1)
    with pytest.raises(ValueError, match="max_life_days"):
        VintageMix(max_life_days=0)
    with pytest.raises(ValueError, match="obsolete_ratio"):
        VintageMix(obsolete_ratio=1.0)


def test_the_frontier_reaches_back_to_the_genesis_block_and_never_worsens():
    days = [pd.Timestamp(d) for d, _, _ in FRONTIER]
    assert days[0] == pd.Timestamp("2009-01-03") and days == sorted(days)
    j = [v for _, v, _ in FRONTIER]
    assert all(a > b for a, b in zip(j, j[1:], strict=False))
    named = {m.split(" (")[0]: v for _, v, m in FRONTIER}
    assert named["Avalon batch 1"] == 9400 and named["Antminer S1"] == 2000
    assert named["Antminer S7"] == 273 and named["Antminer S9"] == 98


@pytest.mark.parametrize(
    ("day", "coin_metrics"),
    [("2018-07-15", 89.0), ("2023-05-15", 33.0)],
)
def test_fleet_efficiency_is_near_coin_metrics_estimates(panel, day, coin_metrics):
    """Coin Metrics: ~89 J/TH (July 2018), ~33 J/TH (May 2023) (models.md). A sanity band of
    +-40 % (fleet estimates disagree by that much: CBECI says 141 J/TH for July 2018)."""
    assert coin_metrics / 1.4 < fleet_efficiency(panel).loc[day] < coin_metrics * 1.4
    assert coin_metrics / 1.4 < vintage_mix_efficiency(panel).loc[day] < coin_metrics * 1.4


def test_the_vintage_mix_does_not_depend_on_cbeci_or_the_power_price(panel):
    no_cbeci = panel.drop(columns=[c for c in panel.columns if c.startswith("cbeci_")])
    mix = vintage_mix_efficiency(panel)
    pd.testing.assert_series_equal(vintage_mix_efficiency(no_cbeci), mix)
    pd.testing.assert_series_equal(fleet_efficiency(no_cbeci), mix)  # no CBECI at all
    cheap = fleet_efficiency(panel, 0.02).loc[:"2019-07-01"]
    dear = fleet_efficiency(panel, 0.10).loc[:"2019-07-01"]
    pd.testing.assert_series_equal(cheap, dear)


def test_the_deploy_lag_is_a_parameter(panel):
    slow = EfficiencyTimeline(vintage=VintageMix(deploy_lag_days=180))
    day = "2016-06-01"
    assert fleet_efficiency(panel, timeline=slow).loc[day] > fleet_efficiency(panel).loc[day]


@PIT
@given(t=CUTOFFS)
def test_the_vintage_mix_is_point_in_time(panel, t):
    assert check_point_in_time(vintage_mix_efficiency, panel, [t]) == []


@PIT
@given(t=CUTOFFS)
def test_fleet_efficiency_is_point_in_time(panel, t):
    assert check_point_in_time(fleet_efficiency, panel, [t]) == []


def test_the_checker_catches_capacity_sized_on_the_full_sample(panel):
    """A fleet that knows the sample's peak hashrate from day one leaks the future."""

    def leaky(p):
        h = p["hashrate_ths"].rolling(7, min_periods=7).mean()
        peak = h.max()  # full sample
        return (vintage_mix_efficiency(p) * h / peak).rename("leaky")

    assert check_point_in_time(leaky, panel, ["2016-01-01", "2018-07-15"]) != []
