"""Spot-ETF flow signals: streak reversal, rolling sum, z-score; published days only; no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.signals.etf_flows import (
    EtfFlowParams,
    EtfTrendParams,
    etf_reversal,
    etf_trend,
    flow_indicators,
    published_flows,
)
from costbt.signals.lookahead import check_point_in_time
from costbt.signals.params import ParamError, build, space

FIRST_ROW = pd.Timestamp("2024-01-12")  # 2024-01-11's flows (the first), usable the next day
# Cutoffs from a month before the first flow to a fortnight after the last (2026-04-11's row).
LO, HI = pd.Timestamp("2023-12-01"), pd.Timestamp("2026-04-25")
CUTOFFS = st.lists(
    st.integers(0, (HI - LO).days).map(lambda k: LO + pd.Timedelta(days=k)),
    min_size=1,
    max_size=3,
)
PIT = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


def fixture_panel(flows: dict[str, float], start: str, end: str) -> pd.DataFrame:
    """FIXTURE (hand-made, not market data): total flows on given panel rows, NaN elsewhere."""
    days = pd.date_range(start, end, freq="D", name="date")
    col = pd.Series(np.nan, index=days)
    for day, value in flows.items():
        col[pd.Timestamp(day)] = value
    return pd.DataFrame({"etf_flow_total_usd_m": col})


def is_false(value: object) -> bool:
    """Known and False (<NA> is not False)."""
    return value is not pd.NA and not bool(value)


def fired(rule: pd.Series) -> list[str]:
    return [str(d.date()) for d in rule.index[rule.fillna(False).to_numpy(dtype=bool)]]


# Rows are panel rows (the flow of the previous US trading day). Thu/Fri/Sat rows hold
# Wed/Thu/Fri flows; Sun and Mon rows have no publication.
STREAK_OVER_WEEKEND = {
    "2024-03-12": 80.0,  # Tue
    "2024-03-13": 20.0,  # Wed
    "2024-03-14": -300.0,  # Thu: outflow 1
    "2024-03-15": -100.0,  # Fri: outflow 2
    "2024-03-16": -150.0,  # Sat: outflow 3, total 550
    # 2024-03-17 (Sun) and 2024-03-18 (Mon): no publication
    "2024-03-19": 150.0,  # Tue: first inflow >= 100 after 3 outflow days totalling 550
    "2024-03-20": 300.0,  # Wed: an inflow, but not the first after the streak
}


# ---------------------------------------------------------------------------- models.md facts


def test_ibit_outflow_of_2025_11_18_is_in_the_row_of_the_next_day(panel):
    """models.md section 4: IBIT -$523.2m on 2025-11-18, usable from 2025-11-19."""
    ind = flow_indicators(panel, EtfFlowParams(fund="ibit"))
    assert panel.loc["2025-11-19", "etf_flow_ibit_usd_m"] == -523.2
    assert ind.loc["2025-11-19", "flow_usd_m"] == -523.2
    assert ind.loc["2025-11-18", "flow_usd_m"] != -523.2


def test_defaults_are_those_of_models_md():
    p = EtfFlowParams()
    assert (p.min_inflow_usd_m, p.min_outflow_days, p.min_outflow_total_usd_m) == (100, 3, 500)
    assert (p.sum_window_days, p.z_window_days, p.change_window_days) == (21, 60, 7)


# ------------------------------------------------------------------------- streak reversal


def test_reversal_fires_on_the_first_large_inflow_after_the_streak():
    p = fixture_panel(STREAK_OVER_WEEKEND, "2024-03-10", "2024-03-22")
    assert fired(etf_reversal(p).entry) == ["2024-03-19"]


def test_a_weekend_without_publication_does_not_break_the_streak():
    p = fixture_panel(STREAK_OVER_WEEKEND, "2024-03-10", "2024-03-22")
    ind = etf_reversal(p).indicator
    assert ind.loc["2024-03-18", "outflow_streak_days"] == 3  # held over Sun and Mon
    assert ind.loc["2024-03-18", "outflow_streak_usd_m"] == 550


def test_entry_is_false_not_unknown_on_days_without_a_publication():
    out = etf_reversal(fixture_panel(STREAK_OVER_WEEKEND, "2024-03-10", "2024-03-22"))
    assert is_false(out.entry.loc["2024-03-17"])
    assert is_false(out.entry.loc["2024-03-18"])


def test_a_streak_totalling_less_than_the_minimum_does_not_fire():
    flows = dict(STREAK_OVER_WEEKEND, **{"2024-03-16": -50.0})  # total 450 < 500
    assert fired(etf_reversal(fixture_panel(flows, "2024-03-10", "2024-03-22")).entry) == []


def test_a_streak_shorter_than_the_minimum_does_not_fire():
    flows = dict(STREAK_OVER_WEEKEND, **{"2024-03-14": 10.0, "2024-03-15": -400.0})  # 2 days
    assert fired(etf_reversal(fixture_panel(flows, "2024-03-10", "2024-03-22")).entry) == []


def test_a_small_inflow_before_the_large_one_ends_the_streak():
    flows = dict(STREAK_OVER_WEEKEND, **{"2024-03-19": 40.0})  # first inflow < 100
    assert fired(etf_reversal(fixture_panel(flows, "2024-03-10", "2024-03-22")).entry) == []


def test_a_hole_in_the_data_is_not_bridged_by_a_streak():
    """Six days without a publication (more than max_stale_days): the streak is not known."""
    flows = {"2024-03-05": -300.0, "2024-03-06": -200.0, "2024-03-07": -200.0}
    flows |= {"2024-03-14": 150.0, "2024-03-15": -10.0, "2024-03-16": 120.0}
    out = etf_reversal(fixture_panel(flows, "2024-03-04", "2024-03-18"))
    assert out.entry.loc["2024-03-12":"2024-03-13"].isna().all()  # stale
    assert out.entry.loc["2024-03-14"] is pd.NA  # would qualify, but the streak is unknown
    assert is_false(out.entry.loc["2024-03-16"])  # one outflow day since the hole


def test_a_panel_ending_before_the_first_flow_is_all_unknown(panel):
    out = etf_reversal(panel.loc[:"2023-12-31"])
    assert out.entry.isna().all() and out.exit.isna().all()
    assert out.indicator["sum_usd_m"].isna().all()


def test_thresholds_are_parameters():
    p = fixture_panel(STREAK_OVER_WEEKEND, "2024-03-10", "2024-03-22")
    strict = EtfFlowParams(min_inflow_usd_m=200.0)
    assert fired(etf_reversal(p, strict).entry) == []
    loose = EtfFlowParams(min_outflow_days=2, min_outflow_total_usd_m=250.0)
    assert fired(etf_reversal(p, loose).entry) == ["2024-03-19"]


def test_unknown_before_the_first_flow_not_false(panel):
    out = etf_reversal(panel)
    before = slice(None, FIRST_ROW - pd.Timedelta(days=1))
    assert out.entry.loc[before].isna().all()
    assert out.exit.loc[before].isna().all()
    assert out.indicator.loc[before, "flow_usd_m"].isna().all()
    assert is_false(out.entry.loc[FIRST_ROW])  # known from the first publication on


def test_unknown_once_the_last_publication_is_stale(panel):
    out = etf_reversal(panel)
    last = published_flows(panel).index.max()
    stale = last + pd.Timedelta(days=EtfFlowParams().max_stale_days + 1)
    assert is_false(out.entry.loc[stale - pd.Timedelta(days=1)])
    assert out.entry.loc[stale:].isna().all()
    assert out.indicator.loc[stale:, "sum_usd_m"].isna().all()


def test_bundled_panel_every_firing_day_satisfies_the_definition_and_vice_versa(panel):
    """Recompute the rule by a plain loop over published totals; both lists must agree."""
    pub = panel["etf_flow_total_usd_m"].dropna()
    values = pub.to_numpy()
    expected = []
    for i, x in enumerate(values):
        days, total, j = 0, 0.0, i - 1
        while j >= 0 and values[j] < 0:
            days, total, j = days + 1, total - values[j], j - 1
        if x >= 100 and days >= 3 and total >= 500:
            expected.append(str(pub.index[i].date()))
    got = fired(etf_reversal(panel).entry)
    assert got == expected
    assert len(got) > 0
    assert all(pd.Timestamp(d) in pub.index for d in got)


# --------------------------------------------------------------------------------- exits


def test_exit_fires_when_the_rolling_sum_turns_negative():
    flows = {"2024-03-04": 100.0, "2024-03-05": 50.0, "2024-03-06": -10.0, "2024-03-07": -200.0}
    flows |= {"2024-03-08": -10.0, "2024-03-09": 500.0}
    p = fixture_panel(flows, "2024-03-01", "2024-03-12")
    out = etf_reversal(p, EtfFlowParams(sum_window_days=2))
    # sums: 150, 40, -210, -210, 490: turns negative on 03-07 only
    assert fired(out.exit) == ["2024-03-07"]
    assert out.exit.loc["2024-03-05"] is pd.NA  # a 2-day sum needs a previous sum to turn


def test_outflow_streak_exit_fires_when_a_new_streak_qualifies():
    p = fixture_panel(STREAK_OVER_WEEKEND, "2024-03-10", "2024-03-22")
    out = etf_reversal(p, EtfFlowParams(exit_rule="outflow_streak"))
    assert fired(out.exit) == ["2024-03-16"]


def test_trend_enters_when_the_sum_turns_positive_and_exits_when_negative():
    flows = {"2024-03-04": -100.0, "2024-03-05": -50.0, "2024-03-06": 200.0}
    flows |= {"2024-03-07": 10.0, "2024-03-08": -300.0}
    out = etf_trend(
        fixture_panel(flows, "2024-03-01", "2024-03-10"), EtfTrendParams(sum_window_days=2)
    )
    # sums: -150, 150, 210, -290
    assert fired(out.entry) == ["2024-03-06"]
    assert fired(out.exit) == ["2024-03-08"]


# ------------------------------------------------------------------- indicators, published only


def test_rolling_sum_and_zscore_use_published_days_only(panel):
    pub = panel["etf_flow_total_usd_m"].dropna()
    day = pub.index[200]
    ind = flow_indicators(panel)
    last21 = pub.loc[:day].iloc[-21:]
    last60 = pub.loc[:day].iloc[-60:]
    assert ind.loc[day, "sum_usd_m"] == pytest.approx(last21.sum())
    z = (pub[day] - last60.mean()) / last60.std(ddof=1)
    assert ind.loc[day, "zscore"] == pytest.approx(z)
    assert ind.loc[day, "sum_sign"] == np.sign(last21.sum())


def test_change_compares_the_last_seven_calendar_days_with_the_seven_before(panel):
    pub = panel["etf_flow_total_usd_m"].dropna()
    day = pub.index[300]
    recent = pub.loc[day - pd.Timedelta(days=6) : day].sum()
    before = pub.loc[day - pd.Timedelta(days=13) : day - pd.Timedelta(days=7)].sum()
    assert flow_indicators(panel).loc[day, "change_usd_m"] == pytest.approx(recent - before)


def test_indicator_values_stand_until_the_next_publication(panel):
    ind = flow_indicators(panel)
    assert ind.loc["2025-11-23", "flow_usd_m"] == panel.loc["2025-11-22", "etf_flow_total_usd_m"]
    assert not ind.loc["2025-11-23", "published"]
    assert ind.loc["2025-11-23", "sum_usd_m"] == ind.loc["2025-11-22", "sum_usd_m"]


# ------------------------------------------------------------------------------ parameters


def test_parameter_space_declares_defaults_and_ranges():
    names = {p.name: p for p in space(EtfFlowParams)}
    assert names["min_outflow_days"].default == 3 and names["min_outflow_days"].low == 1
    assert "total" in names["fund"].choices and "ibit" in names["fund"].choices
    assert build(EtfFlowParams, {"min_inflow_usd_m": "150"}).min_inflow_usd_m == 150.0


@pytest.mark.parametrize(
    ("cls", "override"),
    [
        (EtfFlowParams, {"min_outflow_days": 0}),
        (EtfFlowParams, {"min_inflow_usd_m": -1}),
        (EtfFlowParams, {"sum_window_days": 500}),
        (EtfFlowParams, {"fund": "spy"}),
        (EtfFlowParams, {"exit_rule": "never"}),
        (EtfTrendParams, {"max_stale_days": 0}),
    ],
)
def test_out_of_range_parameters_are_refused(cls, override):
    with pytest.raises(ParamError):
        build(cls, override)


# --------------------------------------------------------------------------- point in time


@PIT
@given(cutoffs=CUTOFFS)
def test_reversal_is_point_in_time(panel, cutoffs):
    assert check_point_in_time(lambda p: etf_reversal(p), panel, cutoffs) == []


@PIT
@given(cutoffs=CUTOFFS)
def test_reversal_on_one_fund_with_the_streak_exit_is_point_in_time(panel, cutoffs):
    params = EtfFlowParams(fund="ibit", exit_rule="outflow_streak", max_stale_days=2)
    assert check_point_in_time(lambda p: etf_reversal(p, params), panel, cutoffs) == []


@PIT
@given(cutoffs=CUTOFFS)
def test_trend_is_point_in_time(panel, cutoffs):
    assert check_point_in_time(lambda p: etf_trend(p), panel, cutoffs) == []


def test_the_check_catches_a_zscore_against_the_full_sample_mean(panel):
    """A leaky variant (z-score with the whole sample's mean and std) must fail the check."""

    def leaky(p: pd.DataFrame):
        out = etf_reversal(p)
        pub = published_flows(p)
        z = ((pub - pub.mean()) / pub.std()).reindex(p.index).ffill()
        return out.indicator.assign(zscore=z)

    cutoffs = ["2024-06-03", "2025-03-14", "2025-11-20"]
    assert check_point_in_time(leaky, panel, cutoffs) == [pd.Timestamp(c) for c in cutoffs]


def test_the_check_catches_a_backward_filled_flow(panel):
    def leaky(p: pd.DataFrame):
        return etf_reversal(p.assign(etf_flow_total_usd_m=p["etf_flow_total_usd_m"].bfill()))

    assert check_point_in_time(leaky, panel, ["2025-11-23"]) != []
