"""Price below the short-term holders' realised price (`signals/realised_price.py`)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.signals.lookahead import check_point_in_time
from costbt.signals.params import ParamError
from costbt.signals.realised_price import RealisedPriceParams, below_sth_realised_price


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


def test_the_ratio_is_spot_over_the_realised_price_known_the_day_before(panel):
    out = below_sth_realised_price(panel)
    # Checkonchain's $113.6k of 2025-10-06 (spot $124.7k) is in row 2025-10-07.
    ratio = out.indicator.loc["2025-10-07", "price_to_sth_realised"]
    realised = panel.loc["2025-10-07", "sth_realised_price_usd"]
    assert realised == pytest.approx(113_600, rel=0.01)
    assert ratio == pytest.approx(panel.loc["2025-10-07", "close_usd"] / realised)


def test_entry_below_for_confirm_days_and_exit_above_the_exit_ratio(panel):
    days = pd.date_range("2024-01-01", periods=6, freq="D")
    p = pd.DataFrame(
        {"close_usd": [100.0, 90, 90, 90, 130, 90], "sth_realised_price_usd": 100.0}, index=days
    )  # constructed rows, not data
    out = below_sth_realised_price(p, RealisedPriceParams(confirm_days=2))
    assert out.entry.tolist() == [False, False, True, True, False, False]
    assert out.exit.tolist() == [False, False, False, False, True, False]


def test_missing_inputs_are_unknown_not_false(panel):
    out = below_sth_realised_price(panel)
    last = panel["sth_realised_price_usd"].last_valid_index()
    after = out.entry.loc[last + pd.Timedelta(days=1) :]
    assert len(after) and after.isna().all() and out.exit.loc[after.index].isna().all()
    assert out.entry.loc[: pd.Timestamp("2010-08-16")].isna().all()


def test_the_late_2025_drawdown_put_spot_below_the_recent_buyers_cost(panel):
    # Mid-November 2025 spot (~$90k) sat far under the STH realised price (~$110k).
    assert bool(below_sth_realised_price(panel).entry.loc["2025-11-20"]) is True


def test_an_exit_not_above_the_entry_is_refused():
    with pytest.raises(ParamError):
        RealisedPriceParams(entry_ratio=1.2, exit_ratio=1.1)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cutoffs=st.lists(
        st.dates(pd.Timestamp("2011-01-01").date(), pd.Timestamp("2026-08-01").date()),
        min_size=1,
        max_size=3,
    ).map(lambda ds: [pd.Timestamp(d) for d in ds])
)
def test_the_signal_is_point_in_time(panel, cutoffs):
    params = RealisedPriceParams(confirm_days=3)
    assert check_point_in_time(lambda p: below_sth_realised_price(p, params), panel, cutoffs) == []


def test_the_point_in_time_check_catches_tomorrows_realised_price(panel):
    import dataclasses

    def leaky(p: pd.DataFrame):
        out = below_sth_realised_price(p)
        ratio = p["close_usd"] / p["sth_realised_price_usd"].shift(-1)  # the day-after value
        return dataclasses.replace(out, entry=(ratio < 1.0).astype("boolean"))

    cutoffs = [pd.Timestamp("2022-06-10"), pd.Timestamp("2025-11-01")]
    assert check_point_in_time(leaky, panel, cutoffs) == cutoffs
