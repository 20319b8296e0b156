"""The SOPR proxy's fidelity to the real STH-SOPR: formulas, matching window, point in time,
validation, and the measured numbers on the bundle (in sane ranges, not pinned)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.signals.lookahead import check_point_in_time
from costbt.signals.sopr import SoprParams, sopr_proxy, sopr_signal
from costbt.signals.sopr_fidelity import (
    FRAME_COLUMNS,
    NoOverlapError,
    ProxyFidelity,
    episode_starts,
    fidelity_frame,
    matched_within,
    proxy_fidelity,
    verdict,
)

FIRST, LAST = pd.Timestamp("2015-07-05"), pd.Timestamp("2026-06-21")
CUTOFFS = st.lists(
    st.integers(0, (LAST - FIRST).days).map(lambda k: FIRST + pd.Timedelta(days=k)),
    min_size=1,
    max_size=3,
)
PIT = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DIPS = (250, 400, 550)  # FIXTURE: days on which a 20-day price dip starts


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


@pytest.fixture(scope="module")
def bundled(panel) -> ProxyFidelity:
    return proxy_fidelity(panel)


def dipping_panel(shift_days: int = 0, days: int = 700) -> pd.DataFrame:
    """FIXTURE (made up, not market data): flat price 100 with three 20-day dips to 80 and
    constant volume, so the proxy dips below 1 three times; ``sth_sopr`` is that proxy moved
    ``shift_days`` later, so every real entry comes exactly ``shift_days`` after a proxy one."""
    idx = pd.date_range("2020-01-01", periods=days, freq="D", name="date")
    close = pd.Series(100.0, index=idx)
    for d in DIPS:
        close.iloc[d : d + 20] = 80.0
    p = pd.DataFrame({"close_usd": close, "volume_btc": 1.0}, index=idx)
    p["sth_sopr"] = sopr_proxy(p).shift(shift_days)
    return p


def days(*values: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(values)))


# ----------------------------------------------------------------------- identical series


def test_identical_series_agree_perfectly(panel):
    same = panel.copy()
    same["sth_sopr"] = sopr_proxy(same)
    f = proxy_fidelity(same)
    assert f.correlation == pytest.approx(1.0)
    assert f.correlation_smoothed == pytest.approx(1.0)
    assert f.agreement == 1.0
    assert f.real_entries == f.proxy_entries and len(f.real_entries) > 0
    assert f.recall == 1.0 and f.precision == 1.0


def test_identical_series_are_called_a_good_stand_in(panel):
    same = panel.copy()
    same["sth_sopr"] = sopr_proxy(same)
    assert verdict(proxy_fidelity(same)).startswith("the proxy is a good stand-in")


# ------------------------------------------------------------------------- known shift


def test_the_fixture_has_one_proxy_entry_per_dip():
    f = proxy_fidelity(dipping_panel(shift_days=3), match_days=3)
    assert len(f.proxy_entries) == len(f.real_entries) == len(DIPS)
    lags = [(r - p).days for r, p in zip(f.real_entries, f.proxy_entries, strict=True)]
    assert lags == [3, 3, 3]


def test_a_shift_within_the_window_matches_every_entry():
    f = proxy_fidelity(dipping_panel(shift_days=3), match_days=3)
    assert (f.real_matched, f.proxy_matched) == (3, 3)
    assert f.recall == 1.0 and f.precision == 1.0


def test_a_shift_outside_the_window_matches_no_entry():
    f = proxy_fidelity(dipping_panel(shift_days=3), match_days=2)
    assert (f.real_matched, f.proxy_matched) == (0, 0)
    assert f.recall == 0.0 and f.precision == 0.0


def test_a_shift_lowers_the_agreement_below_one_but_not_to_chance():
    f = proxy_fidelity(dipping_panel(shift_days=3))
    assert 0.9 < f.agreement < 1.0


def test_the_window_is_inclusive_at_both_ends():
    a = days("2024-01-10", "2024-03-01")
    assert matched_within(a, days("2024-01-13"), 3) == 1
    assert matched_within(a, days("2024-01-07"), 3) == 1
    assert matched_within(a, days("2024-01-14"), 3) == 0
    assert matched_within(a, days("2024-01-10"), 0) == 1


def test_an_extra_real_entry_lowers_recall_not_precision():
    real = days("2024-01-10", "2024-06-01")
    proxy = days("2024-01-12")
    assert matched_within(real, proxy, 7) == 1  # recall 1 of 2
    assert matched_within(proxy, real, 7) == 1  # precision 1 of 1


# ---------------------------------------------------------------------------- episodes


def test_consecutive_entry_days_form_one_episode_and_unknown_is_not_an_entry():
    idx = pd.date_range("2024-01-01", periods=6, freq="D")
    entry = pd.Series([True, True, False, pd.NA, True, True], index=idx, dtype="boolean")
    assert list(episode_starts(entry)) == list(days("2024-01-01", "2024-01-05"))


def test_the_sopr_rule_never_fires_on_consecutive_days(panel):
    entry = sopr_signal(panel).entry
    assert len(episode_starts(entry)) == int(entry.fillna(False).sum())


# ------------------------------------------------------------------------ point in time


def test_the_frame_has_its_declared_columns(panel):
    assert tuple(fidelity_frame(panel).columns) == FRAME_COLUMNS


def test_altering_data_after_a_day_leaves_its_trailing_means_unchanged(panel):
    t = pd.Timestamp("2022-06-15")
    later = panel.index > t
    altered = panel.copy()
    rng = np.random.default_rng(0)
    for col in ("close_usd", "volume_btc", "sth_sopr"):
        altered.loc[later, col] *= rng.uniform(0.5, 1.5, int(later.sum()))
    before, after = fidelity_frame(panel), fidelity_frame(altered)
    for col in ("real_smoothed", "proxy_smoothed"):
        pd.testing.assert_series_equal(before.loc[:t, col], after.loc[:t, col])
    assert not before.loc[later, "proxy_smoothed"].equals(after.loc[later, "proxy_smoothed"])


def test_a_span_ending_on_a_day_reads_nothing_after_it(panel):
    t = pd.Timestamp("2022-06-15")
    altered = panel.copy()
    altered.loc[altered.index > t, ["close_usd", "sth_sopr"]] *= 0.5
    assert proxy_fidelity(panel, end=t) == proxy_fidelity(altered, end=t)


@PIT
@given(cutoffs=CUTOFFS)
def test_the_frame_is_point_in_time(panel, cutoffs):
    assert check_point_in_time(fidelity_frame, panel, cutoffs) == []


# ---------------------------------------------------------------------------- the span


def test_start_and_end_limit_the_compared_days(panel, bundled):
    f = proxy_fidelity(panel, start="2020-01-01", end="2020-12-31")
    assert f.first == pd.Timestamp("2020-01-01") and f.last == pd.Timestamp("2020-12-31")
    assert f.days == 366
    assert set(f.real_entries) <= set(bundled.real_entries)


def test_a_span_without_both_series_is_refused(panel):
    with pytest.raises(NoOverlapError):
        proxy_fidelity(panel, start="2030-01-01")
    with pytest.raises(NoOverlapError):
        proxy_fidelity(panel, end="2012-01-01")  # real STH-SOPR only, no proxy yet


# -------------------------------------------------------------------------- validation


@pytest.mark.parametrize("match_days", [-1, 1.5, "7", True])
def test_a_bad_match_window_is_refused(panel, match_days):
    with pytest.raises(ValueError, match="match_days"):
        proxy_fidelity(panel, match_days=match_days)


def test_a_start_after_the_end_is_refused(panel):
    with pytest.raises(ValueError, match="after end"):
        proxy_fidelity(panel, start="2021-01-01", end="2020-01-01")


def test_the_proxy_against_itself_is_refused(panel):
    with pytest.raises(ValueError, match="real series"):
        proxy_fidelity(panel, SoprParams(series="proxy"))


@pytest.mark.parametrize(
    "change",
    [
        {"match_days": -1},
        {"agreement": 1.2},
        {"correlation": 1.5},
        {"real_matched": 999},
        {"days": 0},
        {"first": pd.Timestamp("2030-01-01")},
    ],
)
def test_an_inconsistent_result_cannot_be_constructed(bundled, change):
    with pytest.raises(ValueError):
        dataclasses.replace(bundled, **change)


# ---------------------------------------------------------------- the bundled real series


def test_the_bundle_is_compared_from_the_proxys_start_to_the_real_series_end(bundled):
    assert bundled.reference == "sth_sopr"
    assert bundled.first.year == 2015 and bundled.last >= pd.Timestamp("2026-06-01")
    assert 3900 < bundled.days <= bundled.daily_days < 4100


def test_on_the_bundle_the_levels_correlate_and_mostly_agree(bundled):
    assert 0.6 < bundled.correlation < 0.95
    assert 0.6 < bundled.correlation_smoothed < 0.95
    assert 0.7 < bundled.agreement < 0.95
    assert 0.2 < bundled.real_below < 0.6 and 0.2 < bundled.proxy_below < 0.6


def test_on_the_bundle_the_proxy_rule_misses_most_real_entries(bundled):
    assert 40 <= len(bundled.real_entries) <= 80
    assert 5 <= len(bundled.proxy_entries) < len(bundled.real_entries) / 2
    assert bundled.recall < 0.5
    assert 0.0 < bundled.precision <= 1.0
    assert verdict(bundled).startswith("the proxy is a poor stand-in for the SOPR rule")


def test_a_wider_window_never_matches_fewer_entries(panel):
    counts = [proxy_fidelity(panel, match_days=m).real_matched for m in (0, 3, 7, 14, 30)]
    assert counts == sorted(counts)
