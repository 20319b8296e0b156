"""SOPR: the formula's test vector, the zone/re-entry rules, cached SOPR, the labelled proxy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError
from costbt.signals.lookahead import check_point_in_time
from costbt.signals.params import ParamError, build, space
from costbt.signals.sopr import (
    PROXY_NAME,
    SoprParams,
    load_cached_sopr,
    sopr_from_outputs,
    sopr_proxy,
    sopr_signal,
)

FIRST, LAST = pd.Timestamp("2015-01-26"), pd.Timestamp("2026-08-13")
CUTOFFS = st.lists(
    st.integers(0, (LAST - FIRST).days).map(lambda k: FIRST + pd.Timedelta(days=k)),
    min_size=1,
    max_size=3,
)
PIT = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
RAW = SoprParams(smooth_days=1)  # rules on the unsmoothed series, for exact fixture days


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


def calendar_panel(start: str, days: int) -> pd.DataFrame:
    """An empty panel (only a calendar) for signals run on a given SOPR series."""
    return pd.DataFrame(index=pd.date_range(start, periods=days, freq="D", name="date"))


def fixture_sopr(values: list[float], start: str = "2024-01-01", name: str = "sopr") -> pd.Series:
    """FIXTURE (hand-made, not vendor data): a SOPR series already on the panel calendar."""
    idx = pd.date_range(start, periods=len(values), freq="D", name="date")
    return pd.Series(values, index=idx, name=name, dtype="float64")


def fired(rule: pd.Series) -> list[str]:
    return [str(d.date()) for d in rule.index[rule.fillna(False).to_numpy(dtype=bool)]]


def signal_on(values: list[float], params: SoprParams = RAW, name: str = "sopr"):
    s = fixture_sopr(values, name=name)
    return sopr_signal(calendar_panel("2024-01-01", len(values)), params, s)


# ---------------------------------------------------------------------------- models.md vector


def test_sopr_vector_of_models_md():
    """1 BTC created at $60k and 3 BTC at $80k, all spent at $70k -> 0.9333."""
    value = sopr_from_outputs([1.0, 3.0], [60_000.0, 80_000.0], [70_000.0, 70_000.0])
    assert value == pytest.approx(0.9333, abs=5e-5)
    assert value == pytest.approx(280_000 / 300_000)


@pytest.mark.parametrize(
    ("values", "created", "spent"),
    [([1.0], [1.0, 2.0], [1.0]), ([], [], []), ([-1.0], [1.0], [1.0]), ([1.0], [0.0], [1.0])],
)
def test_sopr_from_outputs_refuses_bad_input(values, created, spent):
    with pytest.raises(ValueError):
        sopr_from_outputs(values, created, spent)


def test_defaults_are_those_of_models_md():
    p = SoprParams()
    assert (p.smooth_days, p.threshold, p.deep, p.min_days_below) == (7, 1.0, 0.95, 5)


# ----------------------------------------------------------------------------------- rules


def test_entry_fires_when_crossing_back_above_one_after_enough_days_below():
    values = [1.02] * 3 + [0.97] * 5 + [1.01, 1.03]
    out = signal_on(values)
    assert fired(out.entry) == ["2024-01-09"]  # the 9th value is the first back above 1


def test_no_entry_after_too_few_days_below():
    out = signal_on([1.02] * 3 + [0.97] * 4 + [1.01, 1.03])
    assert fired(out.entry) == []


def test_entry_uses_the_trailing_mean():
    values = [1.02] * 7 + [0.96] * 10 + [1.10] * 5
    out = signal_on(values, SoprParams(smooth_days=3, min_days_below=5))
    smoothed = out.indicator["sopr_smoothed"]
    assert smoothed.iloc[8] == pytest.approx((1.02 + 0.96 + 0.96) / 3)
    # trailing 3-day mean on day 18: (0.96 + 0.96 + 1.10) / 3 = 1.0067, the first above 1
    assert fired(out.entry) == ["2024-01-18"]


def test_require_deep_needs_the_run_below_to_reach_the_deep_zone():
    shallow = [1.02] * 3 + [0.97] * 5 + [1.01]
    deep = [1.02] * 3 + [0.97, 0.94, 0.97, 0.97, 0.97] + [1.01]
    params = SoprParams(smooth_days=1, require_deep=True)
    assert fired(signal_on(shallow, params).entry) == []
    assert fired(signal_on(deep, params).entry) == ["2024-01-09"]


def test_zones_and_days_below():
    out = signal_on([1.02, 0.97, 0.94, 0.99, 1.01])
    ind = out.indicator
    assert list(ind["sopr_below"]) == [False, True, True, True, False]
    assert list(ind["sopr_deep"]) == [False, False, True, False, False]
    assert list(ind["sopr_days_below"]) == [0, 1, 2, 3, 0]


def test_exit_is_true_while_the_mean_is_above_the_upper_level():
    out = signal_on([1.0, 1.04, 1.06, 1.08, 1.04])
    assert fired(out.exit) == ["2024-01-03", "2024-01-04"]


def test_unknown_while_the_smoothing_window_is_incomplete():
    out = signal_on([0.97] * 10 + [1.02], SoprParams(smooth_days=7))
    assert out.entry.iloc[:6].isna().all() and out.exit.iloc[:6].isna().all()
    assert out.exit.iloc[6:].notna().all()


def test_a_gap_in_the_series_is_unknown_not_false():
    values = [1.02] * 8 + [np.nan] + [1.02] * 3
    out = signal_on(values)
    assert out.exit.iloc[8] is pd.NA and out.indicator["sopr_below"].iloc[8] is pd.NA


def test_a_given_series_names_the_signal():
    assert signal_on([1.0] * 5, name="sth_sopr").name == "sth_sopr"
    assert "sth_sopr_smoothed" in signal_on([1.0] * 5, name="sth_sopr").indicator


# ----------------------------------------------------------------------------------- proxy


def test_proxy_is_spot_over_its_155_day_volume_weighted_average(panel):
    day = pd.Timestamp("2022-06-18")
    win = panel.loc[day - pd.Timedelta(days=154) : day]
    vwap = (win["close_usd"] * win["volume_btc"]).sum() / win["volume_btc"].sum()
    expected = panel.loc[day, "close_usd"] / vwap
    assert sopr_proxy(panel).loc[day] == pytest.approx(expected, rel=1e-12)


def test_proxy_is_named_a_proxy_everywhere(panel):
    out = sopr_signal(panel, SoprParams(series="proxy"))
    assert out.name == PROXY_NAME == "sopr_proxy"
    assert all(str(c).startswith("sopr_proxy") for c in out.indicator.columns)
    assert out.indicator.attrs["proxy"] is True
    assert "PROXY" in out.indicator.attrs["construction"]
    assert sopr_proxy(panel).name == "sopr_proxy"


def test_a_given_series_named_like_the_proxy_is_refused(panel):
    with pytest.raises(ValueError):
        sopr_signal(panel, SoprParams(), sopr_proxy(panel))


def test_proxy_is_unknown_until_155_days_of_spot_exist(panel):
    out = sopr_signal(panel, SoprParams(series="proxy"))
    first_spot = panel["close_usd"].first_valid_index()
    first_proxy = out.indicator["sopr_proxy"].first_valid_index()
    assert first_proxy == first_spot + pd.Timedelta(days=154)
    assert out.entry.loc[: first_proxy + pd.Timedelta(days=6)].isna().all()


def test_the_rules_read_the_bundled_real_sth_sopr_by_default(panel):
    out = sopr_signal(panel)
    assert out.name == "sth_sopr" and "proxy" not in out.indicator.attrs
    assert out.indicator["sth_sopr"].equals(panel["sth_sopr"].rename("sth_sopr"))
    # Checkonchain's 0.944 of 2025-11-22 (SOURCES.md section 9), known the next day
    assert out.indicator.loc["2025-11-23", "sth_sopr"] == pytest.approx(0.9436, abs=1e-4)
    lth = sopr_signal(panel, SoprParams(series="lth_sopr"))
    assert lth.name == "lth_sopr" and lth.indicator["lth_sopr"].equals(panel["lth_sopr"])


def test_where_the_real_series_is_missing_the_signal_is_unknown_not_the_proxy(panel):
    out = sopr_signal(panel)
    last = panel["sth_sopr"].last_valid_index()  # the bundled series ends 2026-06-21 (lag 1)
    after = slice(last + pd.Timedelta(days=1), None)
    assert panel.loc[after, "close_usd"].notna().any()  # prices go on; the proxy would exist
    assert out.entry.loc[after].isna().all() and out.exit.loc[after].isna().all()
    without = sopr_signal(panel.drop(columns=["sth_sopr"]))
    assert without.name == "sth_sopr" and without.entry.isna().all()


# ------------------------------------------------------------------------------ cached SOPR


def test_cached_sopr_is_moved_by_its_publication_lag(tmp_path):
    cache = Cache(tmp_path)
    frame = pd.DataFrame(  # FIXTURE values, not vendor data
        {"sopr": [1.01, 0.99, 1.02], "sth_sopr": [0.98, 0.97, 1.03]},
        index=pd.DatetimeIndex(pd.date_range("2024-03-01", periods=3), name="date"),
    )
    cache.write(SeriesKey("glassnode", "sopr", "BTC", "1d"), frame, publication_lag_days=1)
    s = load_cached_sopr(cache, "sth_sopr")
    assert s.name == "sth_sopr"
    assert s.index[0] == pd.Timestamp("2024-03-02") and s.iloc[0] == 0.98
    cal = pd.date_range("2024-02-28", "2024-03-06", name="date")
    on_cal = load_cached_sopr(cache, calendar=cal)
    assert on_cal.index.equals(cal) and np.isnan(on_cal.loc["2024-03-01"])


def test_vendor_import_with_its_own_lag_is_read_by_source(tmp_path):
    cache = Cache(tmp_path)
    frame = pd.DataFrame(  # FIXTURE values
        {"sopr": [1.0, 1.1]},
        index=pd.DatetimeIndex(pd.date_range("2024-03-01", periods=2), name="date"),
    )
    cache.write(SeriesKey("cryptoquant", "sopr", "BTC", "1d"), frame, publication_lag_days=2)
    s = load_cached_sopr(cache, source="cryptoquant")
    assert s.index[0] == pd.Timestamp("2024-03-03")


def test_missing_cached_sopr_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="proxy"):
        load_cached_sopr(Cache(tmp_path))


# ------------------------------------------------------------------------------ parameters


def test_parameter_space_declares_defaults_and_ranges():
    names = {p.name: p for p in space(SoprParams)}
    assert names["smooth_days"].default == 7 and names["smooth_days"].kind == "int"
    assert names["require_deep"].kind == "bool"
    assert build(SoprParams, {"deep": "0.9"}).deep == 0.9


@pytest.mark.parametrize(
    "override",
    [{"smooth_days": 0}, {"threshold": 1.5}, {"min_days_below": 0}, {"exit_level": 3.0}],
)
def test_out_of_range_parameters_are_refused(override):
    with pytest.raises(ParamError):
        build(SoprParams, override)


@pytest.mark.parametrize(
    "params", [SoprParams(deep=0.99, threshold=0.98), SoprParams(exit_level=1.0)]
)
def test_inconsistent_levels_are_refused(panel, params):
    with pytest.raises(ParamError):
        sopr_signal(panel, params)


# --------------------------------------------------------------------------- point in time


@PIT
@given(cutoffs=CUTOFFS)
def test_the_default_real_sth_sopr_signal_is_point_in_time(panel, cutoffs):
    assert check_point_in_time(lambda p: sopr_signal(p), panel, cutoffs) == []


@PIT
@given(cutoffs=CUTOFFS)
def test_the_lth_sopr_signal_is_point_in_time(panel, cutoffs):
    lth = SoprParams(series="lth_sopr")
    assert check_point_in_time(lambda p: sopr_signal(p, lth), panel, cutoffs) == []


@PIT
@given(cutoffs=CUTOFFS)
def test_the_proxy_signal_is_point_in_time(panel, cutoffs):
    proxy = SoprParams(series="proxy")
    assert check_point_in_time(lambda p: sopr_signal(p, proxy), panel, cutoffs) == []


@PIT
@given(cutoffs=CUTOFFS)
def test_signal_on_a_given_series_is_point_in_time(panel, cutoffs):
    # FIXTURE series on the panel calendar (a transform of the proxy, so it has real structure)
    given_sopr = (1 + (sopr_proxy(panel) - 1) / 10).rename("sopr")
    params = SoprParams(require_deep=True)
    assert check_point_in_time(lambda p: sopr_signal(p, params, given_sopr), panel, cutoffs) == []


def test_the_check_catches_a_centred_smoothing_window(panel):
    def leaky(p: pd.DataFrame):
        proxy = sopr_proxy(p)
        return proxy.rolling(7, center=True, min_periods=7).mean()

    assert check_point_in_time(leaky, panel, ["2020-03-15", "2024-07-01"]) != []
