"""Futures basis and the basis-reset signal (signals/basis.py), against models.md section 2.

Bases are fractions per year (0.1217 = 12.17 %/yr). Tests marked FORMAT FIXTURE use hand-made or
synthetic dated-futures tables: the repository bundles no real dated-futures history, so those
tables exercise the selection and the table format, never market facts.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costbt.data.cache import Cache, SeriesKey
from costbt.data.sources.dated_futures import (
    deribit_instrument,
    load_dated_futures,
    quarterly_expiries,
)
from costbt.data.sources.ohlcv import OHLCV_COLUMNS
from costbt.signals.basis import (
    BasisResetParams,
    annualised_basis,
    basis_reset,
    bracketing_contracts,
    cm_basis_from_contracts,
    constant_maturity_basis,
    forward_basis,
    perp_basis_from_funding,
    perp_premium,
    premium_implied_funding_basis,
)
from costbt.signals.conditions import as_rule
from costbt.signals.lookahead import check_point_in_time
from costbt.signals.output import SignalOutput
from costbt.signals.params import ParamError, build, space

FUNDING_START = pd.Timestamp("2019-09-10")  # first day of the bundled funding history
FUNDING_END = pd.Timestamp("2026-07-31")  # last day of the bundled funding history


FUNDING = BasisResetParams(source="funding")


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


@pytest.fixture(scope="module")
def reset(panel) -> SignalOutput:
    return basis_reset(panel, FUNDING)  # the perpetual-funding alternative


def pct(x: float, places: int = 3) -> float:
    return round(100 * x, places)


# --- models.md section 2: the published test vector -------------------------------------------

VEC_S, VEC_F1, VEC_T1, VEC_F2, VEC_T2 = 100.0, 101.0, 30.0, 105.0, 120.0


def test_annualised_basis_of_the_near_contract_is_12_167_percent():
    assert pct(annualised_basis(VEC_F1, VEC_S, VEC_T1)) == 12.167


def test_annualised_basis_of_the_far_contract_is_15_208_percent():
    assert pct(annualised_basis(VEC_F2, VEC_S, VEC_T2)) == 15.208


def test_forward_basis_between_the_two_expiries_is_16_222_percent():
    b1 = annualised_basis(VEC_F1, VEC_S, VEC_T1)
    b2 = annualised_basis(VEC_F2, VEC_S, VEC_T2)
    assert pct(forward_basis(b1, VEC_T1, b2, VEC_T2)) == 16.222


def test_constant_maturity_basis_at_90_days_is_14_870_percent():
    b1 = annualised_basis(VEC_F1, VEC_S, VEC_T1)
    b2 = annualised_basis(VEC_F2, VEC_S, VEC_T2)
    assert pct(constant_maturity_basis(b1, VEC_T1, b2, VEC_T2, target_days=90)) == 14.870


def test_log_variant_of_the_near_contract_is_12_106_percent():
    assert pct(annualised_basis(VEC_F1, VEC_S, VEC_T1, log=True)) == 12.106


def test_neutral_funding_clamp_of_0_01_percent_per_8h_is_10_95_percent_a_year():
    assert perp_basis_from_funding(0.0001) == pytest.approx(0.1095, abs=1e-12)


# --- the formulas' edges ------------------------------------------------------------------------


def test_constant_maturity_basis_equals_each_contract_at_its_own_maturity():
    b1, b2 = 0.12, 0.15
    assert constant_maturity_basis(b1, 30, b2, 120, target_days=30) == pytest.approx(b1)
    assert constant_maturity_basis(b1, 30, b2, 120, target_days=120) == pytest.approx(b2)
    assert constant_maturity_basis(b1, 90, b1, 90, target_days=90) == pytest.approx(b1)


def test_constant_maturity_basis_is_never_extrapolated():
    assert math.isnan(constant_maturity_basis(0.12, 30, 0.15, 60, target_days=90))
    assert math.isnan(constant_maturity_basis(0.12, 100, 0.15, 120, target_days=90))


def test_annualised_basis_is_undefined_at_and_after_expiry():
    assert math.isnan(annualised_basis(101.0, 100.0, 0.0))
    assert math.isnan(annualised_basis(101.0, 100.0, -1.0))


def test_annualised_basis_works_on_aligned_series():
    idx = pd.date_range("2024-01-01", periods=2)
    out = annualised_basis(
        pd.Series([101.0, 105.0], idx),
        pd.Series([100.0, 100.0], idx),
        pd.Series([30.0, 120.0], idx),
    )
    assert isinstance(out, pd.Series) and out.index.equals(idx)
    assert [pct(v) for v in out] == [12.167, 15.208]


def test_perp_premium_is_a_plain_fraction_not_annualised():
    assert perp_premium(100.5, 100.0) == pytest.approx(0.005)


def test_premium_implied_funding_is_the_neutral_rate_inside_binances_band():
    # Binance: F = P + clamp(0.01 % - P, -0.05 %, +0.05 %) per 8 h.
    for premium in (-0.0004, 0.0, 0.0006):
        assert premium_implied_funding_basis(premium) == pytest.approx(0.1095)


def test_premium_implied_funding_follows_the_premium_outside_the_band():
    assert premium_implied_funding_basis(0.001) == pytest.approx((0.001 - 0.0005) * 1095)
    assert premium_implied_funding_basis(-0.001) == pytest.approx((-0.001 + 0.0005) * 1095)


# --- contract selection: FORMAT FIXTURE (hand-made load_dated_futures table) --------------------


def hand_made_table() -> tuple[pd.DataFrame, pd.Series]:
    """FORMAT FIXTURE, not market data: the long table of `load_dated_futures`, four days."""
    rows = [
        # day 1: four contracts; 80 and 120 days bracket 90.
        ("2024-01-01", "A", 30.0, 101.0),
        ("2024-01-01", "B", 80.0, 102.0),
        ("2024-01-01", "C", 120.0, 104.0),
        ("2024-01-01", "D", 200.0, 108.0),
        # day 2: nothing at or beyond 90 days -> no pair.
        ("2024-01-02", "A", 29.0, 101.0),
        ("2024-01-02", "B", 79.0, 102.0),
        # day 3: a contract exactly at 90 days, plus an expiry-day candle (d = 0, ignored).
        ("2024-01-03", "E", 0.0, 100.0),
        ("2024-01-03", "F", 90.0, 103.0),
        ("2024-01-03", "G", 180.0, 106.0),
        # day 4: a bracketing pair but no spot close -> unknown.
        ("2024-01-04", "B", 77.0, 102.0),
        ("2024-01-04", "C", 117.0, 104.0),
    ]
    table = pd.DataFrame(rows, columns=["time", "instrument", "days_to_expiry", "close_usd"])
    table["time"] = pd.to_datetime(table["time"])
    table["expiry"] = table["time"] + pd.to_timedelta(table["days_to_expiry"], unit="D")
    table = table[["time", "instrument", "expiry", "close_usd", "days_to_expiry"]]
    days = pd.date_range("2024-01-01", "2024-01-05", name="date")
    spot = pd.Series([100.0, 100.0, 100.0, np.nan, 100.0], index=days, name="close_usd")
    return table, spot


def test_the_nearest_contract_on_each_side_of_90_days_is_chosen():
    table, spot = hand_made_table()
    day = bracketing_contracts(table, spot).loc["2024-01-01"]
    assert (day["instrument_1"], day["days_1"]) == ("B", 80.0)
    assert (day["instrument_2"], day["days_2"]) == ("C", 120.0)
    b1, b2 = 0.02 * 365 / 80, 0.04 * 365 / 120
    assert day["cm_basis"] == pytest.approx(constant_maturity_basis(b1, 80, b2, 120))


def test_no_bracketing_pair_is_unknown_not_extrapolated():
    table, spot = hand_made_table()
    cm = cm_basis_from_contracts(table, spot)
    assert math.isnan(cm.loc["2024-01-02"])


def test_a_contract_at_exactly_90_days_is_the_3_month_basis():
    table, spot = hand_made_table()
    day = bracketing_contracts(table, spot).loc["2024-01-03"]
    assert day["instrument_1"] == day["instrument_2"] == "F"
    assert day["cm_basis"] == pytest.approx(0.03 * 365 / 90)


def test_a_day_without_spot_or_without_contracts_is_unknown():
    table, spot = hand_made_table()
    cm = cm_basis_from_contracts(table, spot)
    assert math.isnan(cm.loc["2024-01-04"]) and math.isnan(cm.loc["2024-01-05"])
    assert cm.index.equals(spot.index)


def test_an_empty_futures_table_gives_an_all_unknown_basis(tmp_path, panel):
    empty = load_dated_futures(Cache(tmp_path))
    assert cm_basis_from_contracts(empty, panel["close_usd"]).isna().all()


# --- constant maturity through the real cache and loader: FORMAT FIXTURE ------------------------


def assumed_basis(days: pd.DatetimeIndex) -> np.ndarray:
    """FORMAT FIXTURE: an invented annualised basis path, -2 % .. 22 %, not market data."""
    t = (days - pd.Timestamp("2022-01-01")).days.to_numpy(dtype=float)
    return 0.10 + 0.12 * np.sin(2 * np.pi * t / 200)


@pytest.fixture(scope="module")
def synthetic_futures(tmp_path_factory, panel) -> pd.DataFrame:
    """FORMAT FIXTURE: Deribit quarterlies priced off the bundled spot with `assumed_basis`
    (a flat term structure each day), written to a cache and read back by load_dated_futures."""
    cache = Cache(tmp_path_factory.mktemp("futures_cache"))
    spot = panel["close_usd"]
    for expiry in quarterly_expiries("2023-01-01", "2024-12-31"):
        days = pd.date_range(expiry.normalize() - pd.Timedelta(days=270), expiry.normalize())
        nxt = days + pd.Timedelta(days=1)
        close_at = nxt.where(nxt < expiry, expiry)
        d = ((expiry - close_at) / pd.Timedelta(days=1)).to_numpy(dtype=float)
        close = spot.reindex(days).to_numpy() * (1 + assumed_basis(days) * d / 365)
        frame = pd.DataFrame(
            {c: close for c in OHLCV_COLUMNS[:4]} | {"volume_base": 1.0},
            index=pd.DatetimeIndex(days, name="time"),
        )
        key = SeriesKey("deribit", "ohlcv", deribit_instrument(expiry), "1d")
        cache.write(key, frame, exchange="deribit", market_type="future", expiry=expiry.isoformat())
    return load_dated_futures(cache)


def test_a_flat_term_structure_is_returned_unchanged(synthetic_futures, panel):
    cm = cm_basis_from_contracts(synthetic_futures, panel["close_usd"])
    known = cm.dropna()
    assert len(known) > 400
    np.testing.assert_allclose(known, assumed_basis(known.index), rtol=1e-9)


def test_days_before_two_contracts_bracket_90_days_are_unknown(synthetic_futures, panel):
    cm = cm_basis_from_contracts(synthetic_futures, panel["close_usd"])
    first_listed = synthetic_futures["time"].min()
    first_known = cm.first_valid_index()
    assert first_known > first_listed + pd.Timedelta(days=90)
    assert cm.loc[first_listed:first_known].iloc[:-1].isna().all()


def test_cm_3m_source_needs_the_futures_table(panel):
    with pytest.raises(ValueError, match="dated-futures"):
        basis_reset(panel, BasisResetParams(source="cm_3m"))


# --- parameters ---------------------------------------------------------------------------------


def test_parameters_declare_defaults_and_ranges_side_by_side():
    declared = {p.name: p for p in space(BasisResetParams)}
    assert {n: p.default for n, p in declared.items()} == {
        "source": "basis_3m",
        "level": 0.05,
        "drop_points": 0.15,
        "max_window_days": 90,
        "funding_confirm": False,
        "funding_window_days": 7,
        "smooth_days": 7,
        "exit_level": 0.15,
    }
    assert declared["source"].kind == "choice"
    assert declared["source"].choices == ("basis_3m", "funding", "cm_3m", "premium")
    assert (declared["level"].low, declared["level"].high) == (0.0, 0.15)
    assert (declared["drop_points"].low, declared["drop_points"].high) == (0.0, 0.4)
    assert (declared["max_window_days"].low, declared["max_window_days"].high) == (20, 365)
    assert declared["max_window_days"].kind == "int"
    assert declared["funding_confirm"].kind == "bool"
    for p in declared.values():
        if p.kind in ("int", "float"):
            assert p.low <= p.default <= p.high, p.name


def test_build_converts_overrides_from_text():
    params = build(
        BasisResetParams, {"level": "0.04", "max_window_days": "120", "source": "premium"}
    )
    assert (params.level, params.max_window_days, params.source) == (0.04, 120, "premium")


@pytest.mark.parametrize(
    "override",
    [
        {"level": 0.2},
        {"drop_points": -0.01},
        {"max_window_days": 10},
        {"smooth_days": 0},
        {"exit_level": 0.9},
        {"source": "dated"},
        {"funding_confirm": "maybe"},
        {"threshold": 0.1},
    ],
)
def test_build_rejects_out_of_range_or_unknown_values(override):
    with pytest.raises(ParamError):
        build(BasisResetParams, override)


# --- the rule on the bundled data -----------------------------------------------------------------


def episodes(entry: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    on = entry.fillna(False).astype(bool)
    starts = on.index[on & ~on.shift(1, fill_value=False)]
    ends = on.index[on & ~on.shift(-1, fill_value=False)]
    return list(zip(starts, ends, strict=True))


def independent_rule(panel: pd.DataFrame) -> pd.DataFrame:
    """The default rule recomputed from its definition with plain row windows (daily panel)."""
    basis = (panel["funding_rate_8h_mean"] * 3 * 365).rolling(7, min_periods=7).mean()
    peak = basis.rolling(90, min_periods=90).max()
    return pd.DataFrame({"basis": basis, "peak": peak})


def test_rule_outputs_are_nullable_booleans_indexed_like_the_panel(reset, panel):
    assert reset.name == "basis_reset"
    for rule in (reset.entry, reset.exit):
        assert rule.dtype == "boolean" and rule.index.equals(panel.index)


def test_the_funding_basis_reset_fires_on_the_bundled_data(reset, panel):
    found = episodes(reset.entry)
    print(f"\n{len(found)} funding-basis reset episodes (default parameters):")
    for start, end in found:
        row = reset.indicator.loc[start]
        print(
            f"  {start:%Y-%m-%d} .. {end:%Y-%m-%d}  basis {row['basis']:+.1%}"
            f"  90-day max {row['rolling_max']:.1%}  close ${panel.loc[start, 'close_usd']:,.0f}"
        )
    assert len(found) >= 1


def test_every_reset_day_satisfies_the_rules_definition(reset, panel):
    ref = independent_rule(panel)
    days = reset.entry.index[reset.entry.fillna(False).astype(bool)]
    assert len(days) > 0
    b = ref.loc[days, "basis"]
    assert (b < 0.05).all()
    # Where 90 days of smoothed basis exist the trailing max is exact; earlier, the maximum of
    # the days available is a lower bound, and the drop must already hold against it.
    lower_bound = ref["basis"].rolling(90, min_periods=1).max().loc[days]
    assert (lower_bound - b >= 0.15 - 1e-12).all()


def test_every_decided_non_reset_day_violates_the_rules_definition(reset, panel):
    ref = independent_rule(panel)
    off = reset.entry.index[(reset.entry == False).fillna(False).astype(bool)]  # noqa: E712
    b, peak = ref.loc[off, "basis"], ref.loc[off, "peak"]
    assert ((b >= 0.05) | (peak - b < 0.15)).all()


def test_resets_include_the_march_2020_crash_and_the_ftx_collapse(reset):
    # Verified on the bundled funding: smoothed basis -1.1 %/yr after a 100 %/yr 90-day high on
    # 2020-03-13; -10.3 %/yr after 9.3 %/yr on 2022-11-10.
    assert reset.entry.loc[["2020-03-13", "2022-11-10"]].tolist() == [True, True]


def test_exit_is_the_basis_above_the_exit_level(reset):
    basis = reset.indicator["basis"]
    known = basis.notna()
    assert reset.exit[~known].isna().all()
    assert (reset.exit[known] == (basis[known] > 0.15)).all()


def test_funding_confirmation_only_removes_entries(panel, reset):
    confirmed = basis_reset(panel, BasisResetParams(source="funding", funding_confirm=True))
    on = confirmed.entry.fillna(False).astype(bool)
    assert on.any()
    assert reset.entry[on].all()
    assert (confirmed.indicator.loc[on, "funding_mean"] <= 0).all()


# --- unknown is not false -----------------------------------------------------------------------


def test_before_funding_exists_the_rule_is_unknown_not_false(reset):
    before = reset.entry.loc[: FUNDING_START - pd.Timedelta(days=1)]
    assert len(before) > 3000 and before.isna().all()
    assert reset.exit.loc[: FUNDING_START - pd.Timedelta(days=1)].isna().all()


def test_after_funding_ends_the_rule_is_unknown_not_false(reset):
    after = reset.entry.loc[FUNDING_END + pd.Timedelta(days=1) :]
    assert len(after) > 0 and after.isna().all()


def test_the_first_week_of_funding_is_unknown_while_the_smoothing_window_fills(reset):
    first = reset.entry.loc[FUNDING_START : FUNDING_START + pd.Timedelta(days=5)]
    assert first.isna().all()
    assert reset.entry.loc[FUNDING_START + pd.Timedelta(days=6) :].notna().any()


def test_an_unproven_drop_with_a_short_history_is_unknown(reset):
    # In the first 90 days of smoothed basis the trailing max is only a lower bound: a low basis
    # whose drop is not yet proven must be <NA>, never False.
    ind = reset.indicator
    early = ind.index[(ind["window_days_known"] < 90) & ind["basis"].notna()]
    unproven = early[(ind.loc[early, "basis"] < 0.05) & (ind.loc[early, "drop"] < 0.15)]
    assert len(unproven) > 0
    assert reset.entry.loc[unproven].isna().all()


def test_the_premium_source_is_unknown_before_perpetual_candles_exist(panel):
    out = basis_reset(panel, BasisResetParams(source="premium"))
    assert out.entry.loc[:"2020-12-31"].isna().all()
    assert out.entry.loc["2021-01-07":"2026-07-31"].notna().any()


# --- the point-in-time property -------------------------------------------------------------------

cutoff_days = st.lists(
    st.dates(min_value=date(2019, 8, 1), max_value=date(2026, 8, 13)), min_size=1, max_size=4
)
drawn_params = st.builds(
    BasisResetParams,
    source=st.sampled_from(["basis_3m", "funding", "premium"]),
    level=st.floats(0.0, 0.15),
    drop_points=st.floats(0.0, 0.4),
    max_window_days=st.integers(20, 365),
    funding_confirm=st.booleans(),
    funding_window_days=st.integers(1, 30),
    smooth_days=st.integers(1, 30),
    exit_level=st.floats(0.05, 0.5),
)


@settings(max_examples=25, deadline=None)
@given(cutoffs=cutoff_days, params=drawn_params)
def test_truncating_the_panel_at_any_day_leaves_earlier_outputs_unchanged(panel, cutoffs, params):
    assert check_point_in_time(lambda p: basis_reset(p, params), panel, cutoffs) == []


@settings(max_examples=10, deadline=None)
@given(cutoffs=st.lists(st.dates(date(2022, 6, 1), date(2025, 1, 31)), min_size=1, max_size=3))
def test_the_cm_3m_rule_is_point_in_time_with_futures_truncated_too(
    panel, synthetic_futures, cutoffs
):
    params = BasisResetParams(source="cm_3m")

    def signal(p: pd.DataFrame) -> SignalOutput:
        visible = synthetic_futures[synthetic_futures["time"] <= p.index.max()]
        return basis_reset(p, params, futures=visible)

    assert check_point_in_time(signal, panel, cutoffs) == []


def centred_reset(p: pd.DataFrame) -> SignalOutput:
    """A deliberately leaky variant: the maximum of a centred window looks 45 days ahead."""
    out = basis_reset(p, FUNDING)
    b = out.indicator["basis"]
    peak = b.rolling(91, center=True, min_periods=1).max()
    entry = as_rule((b < 0.05) & (peak - b >= 0.15), b.notna())
    return dataclasses.replace(out, indicator=out.indicator.assign(rolling_max=peak), entry=entry)


def test_the_point_in_time_check_catches_a_centred_rolling_maximum(panel):
    # Cutoffs a few weeks before the basis rose to new highs (Feb 2020, Feb 2021, Mar 2024).
    cutoffs = ["2020-02-01", "2021-01-20", "2024-02-15"]
    assert check_point_in_time(centred_reset, panel, cutoffs) == [pd.Timestamp(c) for c in cutoffs]


def test_the_point_in_time_check_catches_the_leak_in_the_entry_rule_alone(panel):
    def entry_only(p: pd.DataFrame) -> SignalOutput:
        return dataclasses.replace(basis_reset(p, FUNDING), entry=centred_reset(p).entry)

    monthly = pd.date_range("2019-10-01", "2026-07-01", freq="MS")
    assert len(check_point_in_time(entry_only, panel, monthly)) > 0


# --- the bundled real 3-month basis (the default source) ----------------------------------------


def test_the_default_reads_the_bundled_3m_basis_as_a_fraction_per_year(panel):
    out = basis_reset(panel)
    assert out.indicator.attrs["source"] == "basis_3m"
    raw = out.indicator["basis_raw"]
    assert raw.equals((panel["basis_3m_pct_pa"] / 100.0).rename("basis_basis_3m"))
    # The seed article's "just 4 %" (late November 2025): 4.02 % and 3.65 % a year.
    assert pct(raw.loc["2025-11-21"]) == pytest.approx(4.019, abs=1e-3)
    assert pct(raw.loc["2025-11-22"]) == pytest.approx(3.647, abs=1e-3)


def test_where_the_3m_basis_is_missing_the_rule_is_unknown_never_funding(panel):
    out = basis_reset(panel)
    before = out.entry.loc[: pd.Timestamp("2020-06-14")]  # the series starts 2020-06-09
    assert panel.loc[before.index, "funding_rate_8h_mean"].notna().any()  # funding existed
    assert before.isna().all()
    without = panel.drop(columns=["basis_3m_pct_pa"])
    with pytest.raises(ValueError, match="basis_3m_pct_pa"):
        basis_reset(without)


def test_the_default_rule_on_the_real_basis_fires_far_less_than_on_funding(panel, reset):
    # Measured: the 90-day high-to-low drop of 15 points under 5 %/yr happens once on the 3-month
    # basis (from 2021-06-20) but in 26 episodes on funding: the perpetual is far noisier.
    real = basis_reset(panel).entry.fillna(False).astype(bool)
    starts = real & ~real.shift(1, fill_value=False)
    assert list(starts[starts].index) == [pd.Timestamp("2021-06-20")]
    assert int(reset.entry.fillna(False).astype(bool).sum()) > 5 * int(real.sum())
