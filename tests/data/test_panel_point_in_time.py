"""The panel's point-in-time contract: row d holds only what was known at 00:00 UTC of d+1."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.data.panel import (
    PANEL_SOURCES,
    SOURCES_BY_NAME,
    build_panel,
    column_catalogue,
    load_panel,
    truncate_sources,
)

FIRST = pd.Timestamp("2009-01-03")
LAST = pd.Timestamp("2026-08-13")
DATES = st.integers(0, (LAST - FIRST).days).map(lambda k: FIRST + pd.Timedelta(days=k))


def rows_up_to_t_unchanged(full: pd.DataFrame, sources, frames, t: pd.Timestamp) -> bool:
    truncated = build_panel(truncate_sources(frames, t), sources)
    a, b = full.loc[:t], truncated.loc[:t]
    return a.index.equals(b.index) and a.equals(b)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(t=DATES)
def test_truncating_every_source_at_t_leaves_every_row_up_to_t_unchanged(sources, panel, t):
    truncated = build_panel(truncate_sources(sources, t))
    pd.testing.assert_frame_equal(panel.loc[:t], truncated.loc[:t], check_freq=False)


@pytest.mark.parametrize("t", ["2024-04-19", "2025-11-18", "2026-02-12", "2023-09-02"])
def test_the_contract_holds_at_source_boundaries(sources, panel, t):
    assert rows_up_to_t_unchanged(panel, PANEL_SOURCES, sources, pd.Timestamp(t))


def test_the_property_catches_a_source_declared_too_early(sources):
    """A lag of -1 (using tomorrow's ETF flow today) must break the contract: the test can fail."""
    leaky = tuple(
        dataclasses.replace(s, lag_days=-1) if s.name == "etf_flows" else s for s in PANEL_SOURCES
    )
    full = build_panel(sources, leaky)
    assert not rows_up_to_t_unchanged(full, leaky, sources, pd.Timestamp("2025-11-18"))


def test_the_property_catches_a_backward_fill(sources):
    """Filling a missing day from the next observation is look-ahead, and is detected."""

    def leaky_build(frames):
        p = build_panel(frames)
        p["hashrate_ths"] = p["hashrate_ths"].bfill()
        return p

    t = pd.Timestamp("2025-11-13")  # a day the chain source is missing
    full = leaky_build(sources)
    truncated = leaky_build(truncate_sources(sources, t))
    assert not full.loc[:t].equals(truncated.loc[:t])


def test_etf_flows_of_day_d_first_appear_in_row_d_plus_1(panel, etf):
    assert etf.loc["2025-11-18", "ibit_usd_m"] == -523.2
    assert panel.loc["2025-11-19", "etf_flow_ibit_usd_m"] == -523.2
    assert panel.loc["2025-11-18", "etf_flow_ibit_usd_m"] == etf.loc["2025-11-17", "ibit_usd_m"]


def test_spot_and_chain_of_day_d_are_in_row_d(panel, spot, chain):
    assert panel.loc["2024-04-20", "close_usd"] == spot.loc["2024-04-20", "close_usd"]
    assert panel.loc["2024-04-20", "block_subsidy_btc"] == 3.125
    assert panel.loc["2024-04-19", "block_subsidy_btc"] == 6.25


def test_missing_days_stay_missing(panel):
    assert panel.loc["2025-11-13":"2025-11-15", "hashrate_ths"].isna().all()
    # ETF flows: Saturday holds Friday's flow; Sunday and Monday have nothing new.
    assert panel.loc["2025-11-16":"2025-11-17", "etf_flow_total_usd_m"].isna().all()


def test_a_declared_hold_carries_a_monthly_value_only_within_its_limit(panel):
    src = SOURCES_BY_NAME["power_us_industrial"]
    last_usable = pd.Timestamp("2023-05-01") + pd.Timedelta(days=src.lag_days)
    col = "us_industrial_power_usd_kwh"
    assert np.isnan(panel.loc[last_usable - pd.Timedelta(days=1), col]) == False  # noqa: E712
    assert panel.loc[last_usable, col] == pytest.approx(0.0775)
    assert panel.loc[last_usable + pd.Timedelta(days=src.hold_days), col] == pytest.approx(0.0775)
    assert np.isnan(panel.loc[last_usable + pd.Timedelta(days=src.hold_days + 1), col])


def test_as_of_builds_the_panel_a_trader_had_that_day(panel):
    t = "2025-11-18"
    asof = load_panel(as_of=t)
    assert asof.index.max() == pd.Timestamp(t)
    pd.testing.assert_frame_equal(asof, panel.loc[:t], check_freq=False)


def test_the_index_is_a_tz_naive_daily_utc_calendar(panel):
    assert panel.index.name == "date" and panel.index.tz is None
    assert panel.index.equals(pd.date_range(panel.index.min(), panel.index.max(), freq="D"))
    assert panel.index.min() == FIRST and panel.index.max() == LAST


def test_every_column_is_snake_case_and_catalogued_with_a_unit(panel):
    cat = column_catalogue().set_index("column")
    # The bundled panel has exactly the bundled sources' columns; cache-only columns (fees) are
    # catalogued too, and appear only when the download cache supplies them.
    assert list(panel.columns) == list(cat.index[cat["bundled"]])
    assert list(cat.index[~cat["bundled"]]) == ["fees_btc"]
    for name in cat.index:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert cat.loc[name, "unit"], name


# ----------------------------------------------------------------------------- vintage

CBECI_COLUMNS = [pc for _, pc in SOURCES_BY_NAME["cbeci"].columns]


def test_every_source_declares_when_it_was_first_available():
    for src in PANEL_SOURCES:
        assert "first available" in src.known_when, src.name  # the reason, also for None
    assert SOURCES_BY_NAME["cbeci"].first_available == "2019-07-02"  # CBECI's launch
    assert all(s.first_available is None for s in PANEL_SOURCES if s.name != "cbeci")


def test_no_cbeci_value_is_in_a_row_dated_before_its_publication(panel, sources):
    before = panel.loc[:"2019-07-01", CBECI_COLUMNS]
    assert before.isna().all().all()
    assert sources["cbeci"].loc[:"2019-06-30"].notna().any().any()  # the history exists...
    # ...and the first row holds the value dated the day before (lag 1), as published.
    assert panel.loc["2019-07-02", "cbeci_twh_yr_at_0_05_usd_kwh"] == pytest.approx(
        sources["cbeci"].loc["2019-07-01", "twh_yr_at_0_05_usd_kwh"]
    )


def test_withholding_follows_the_declared_day_only(sources):
    later = tuple(
        dataclasses.replace(s, first_available="2020-01-01") if s.name == "cbeci" else s
        for s in PANEL_SOURCES
    )
    panel = build_panel(sources, later)
    assert panel.loc[:"2019-12-31", CBECI_COLUMNS].isna().all().all()
    assert panel.loc["2020-01-01", CBECI_COLUMNS].notna().all()
    undated = tuple(
        dataclasses.replace(s, first_available=None) if s.name == "cbeci" else s
        for s in PANEL_SOURCES
    )
    assert build_panel(sources, undated).loc["2015-01-01", CBECI_COLUMNS].notna().all()


def test_a_first_available_day_must_be_a_day():
    with pytest.raises(ValueError, match="first_available"):
        dataclasses.replace(SOURCES_BY_NAME["cbeci"], first_available="2019-07-02 12:00")


@pytest.mark.parametrize("t", ["2019-07-01", "2019-07-02", "2019-07-03"])
def test_the_contract_holds_around_cbeci_publication(sources, panel, t):
    assert rows_up_to_t_unchanged(panel, PANEL_SOURCES, sources, pd.Timestamp(t))


def test_the_3m_basis_of_day_d_is_in_row_d(panel, sources):
    basis = sources["futures_basis_3m"]
    # The seed article's "just 4 %" of late November 2025 (SOURCES.md section 8: 4.0 and 3.7).
    assert basis.loc["2025-11-21", "basis_3m_pct_pa"] == pytest.approx(4.0186)
    assert panel.loc["2025-11-22", "basis_3m_pct_pa"] == basis.loc["2025-11-22", "basis_3m_pct_pa"]
    assert panel["basis_3m_pct_pa"].first_valid_index() == pd.Timestamp("2020-06-09")


def test_sopr_of_day_d_first_appears_in_row_d_plus_1(panel, sources):
    sopr = sources["sopr"]
    assert sopr.loc["2025-11-22", "sth_sopr"] == pytest.approx(0.9436, abs=1e-4)
    assert panel.loc["2025-11-23", "sth_sopr"] == sopr.loc["2025-11-22", "sth_sopr"]
    assert panel.loc["2025-11-22", "sth_sopr"] == sopr.loc["2025-11-21", "sth_sopr"]
    day = pd.Timestamp("2025-10-06")
    assert panel.loc[day + pd.Timedelta(days=1), "sth_realised_price_usd"] == pytest.approx(
        113_600, rel=0.01
    )


def test_the_vendors_filler_and_partial_last_day_are_not_data(sources):
    sopr = sources["sopr"]
    # Checkonchain fills the days before it has data with exactly 1.0: missing, never a ratio.
    assert not (sopr["sth_sopr"] == 1.0).any() and not (sopr["lth_sopr"] == 1.0).any()
    assert sopr["sth_sopr"].first_valid_index() == pd.Timestamp("2010-08-16")
    assert (sopr[["sth_realised_price_usd", "lth_realised_price_usd"]].dropna() > 0).all().all()
    # The scrape's last day (2026-06-21) is partial: dropped, so the panel's last value is 06-20's.
    assert sopr.index.max() == pd.Timestamp("2026-06-20")


@pytest.mark.parametrize(
    "t", ["2020-06-08", "2020-06-09", "2020-06-10", "2010-08-16", "2010-08-17", "2026-06-20"]
)
def test_the_contract_holds_around_the_basis_and_sopr_boundaries(sources, panel, t):
    assert rows_up_to_t_unchanged(panel, PANEL_SOURCES, sources, pd.Timestamp(t))
