"""Production-cost models: published test vectors, point in time, and the below-cost rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from costbt.signals import production_cost as pc
from costbt.signals.fleet_efficiency import (
    EfficiencyTimeline,
    cbeci_consumption_twh,
    cbeci_implied_efficiency,
    fleet_efficiency,
    frontier_efficiency,
)
from costbt.signals.lookahead import check_point_in_time
from costbt.signals.params import ParamError, build, space

FIRST, LAST = pd.Timestamp("2015-01-26"), pd.Timestamp("2026-08-13")
CUTOFFS = st.integers(0, (LAST - FIRST).days).map(lambda k: FIRST + pd.Timedelta(days=k))
PIT = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


# ----------------------------------------------------------------------------- models.md vectors


def test_network_electricity_cost_vector():
    """628 EH/s, 16 J/TH, $0.05/kWh, 450 BTC/day, PUE 1 -> $26,795 per BTC (models.md §1a)."""
    assert pc.electricity_cost_per_btc(6.28e8, 16, 0.05, 450, pue=1.0) == pytest.approx(
        26_795, abs=0.5
    )


def test_the_joule_conversion_bug_gives_the_published_wrong_answer():
    """Dividing joules by 1e6 instead of 3.6e6 gives $96,460: our formula is not that one."""
    wrong = 6.28e8 * 16 * 86400 / 1e6 * 0.05 / 450
    assert wrong == pytest.approx(96_460, abs=1)
    assert pc.electricity_cost_per_btc(6.28e8, 16, 0.05, 450) != pytest.approx(wrong, rel=0.1)


def test_hayes_marginal_cost_vector():
    """D = 60,883,825,480, p = 0.135, eps = 750 J/TH, R = 12.5 -> $588.36 (models.md §1b)."""
    assert pc.hayes_cost_per_btc(60_883_825_480, 750, 0.135, 12.5) == pytest.approx(
        588.36, abs=0.005
    )


def test_difficulty_regression_published_constants_sanity_check():
    """A = 10.2560, B = 0.5250, D = 36.8T, supply 19.21M -> about $19.6k (models.md §1d)."""
    price = np.exp(10.2560 + 0.5250 * np.log(36.8e12)) / 19.21e6
    assert price == pytest.approx(19_600, rel=0.01)


def test_electricity_cost_is_linear_in_power_price_for_a_given_fleet(panel):
    a = pc.CostAssumptions()
    eff = pc.fleet_efficiency_for(panel, a)
    base = pc.electricity_model(panel, a, eff).loc["2025-11-20"]
    higher = pc.electricity_model(panel, dataclasses.replace(a, power_price=0.06), eff).loc[
        "2025-11-20"
    ]
    assert higher - base == pytest.approx(base / 5, rel=1e-9)  # one cent more on five cents: +20 %


def test_a_higher_power_price_also_implies_a_leaner_cbeci_fleet(panel):
    """CBECI assumes fewer inefficient machines are profitable at a higher power price, so the
    full model rises less than linearly (JPMorgan's published sensitivity is linear)."""
    a = pc.CostAssumptions()
    base = pc.electricity_model(panel, a).loc["2025-11-20"]
    higher = pc.electricity_model(panel, dataclasses.replace(a, power_price=0.06)).loc["2025-11-20"]
    assert 0 < higher - base < base / 5


def test_network_cost_equals_hayes_with_the_days_mean_difficulty(panel):
    """H = blocks * D * 2^32 / 86400 and issuance = blocks * R, so block-count noise cancels."""
    a = dataclasses.replace(pc.CostAssumptions(), smooth_days=1)
    day = panel.loc["2024-01-01":"2024-03-31"]
    elec = pc.electricity_model(panel, a).loc[day.index]
    hayes = pc.hayes_model(panel, a).loc[day.index]
    assert np.allclose(elec, hayes, rtol=1e-9)


def test_hashprice_equals_hashcost_at_the_breakeven_power_price(panel):
    a = pc.CostAssumptions()
    f = pc.hashprice_frame(panel, a).loc["2025-11-20"]
    eff = pc.fleet_efficiency_for(panel, a).loc["2025-11-20"]
    at_breakeven = pc.hashcost_usd_per_th_day(eff, f["breakeven_power_usd_kwh"], a.pue)
    assert at_breakeven == pytest.approx(f["hashprice_usd_per_th_day"])


# ----------------------------------------------------------------------------- fleet efficiency


def test_cbeci_implied_efficiency_is_consumption_over_hashrate(panel):
    day = "2023-05-01"
    h7 = panel["hashrate_ths"].loc[:day].iloc[-7:].mean()
    expected = panel.loc[day, "cbeci_twh_yr_at_0_05_usd_kwh"] * 1e12 / 8766 / h7
    assert cbeci_implied_efficiency(panel, 0.05).loc[day] == pytest.approx(expected)


def test_cbeci_consumption_interpolates_between_price_columns(panel):
    mid = cbeci_consumption_twh(panel, 0.055).loc["2023-05-01"]
    lo, hi = panel.loc[
        "2023-05-01", ["cbeci_twh_yr_at_0_05_usd_kwh", "cbeci_twh_yr_at_0_06_usd_kwh"]
    ]
    assert mid == pytest.approx((lo + hi) / 2)


def test_the_extension_follows_the_lagged_frontier_from_the_last_cbeci_value(panel):
    eff = fleet_efficiency(panel)
    anchor_day = pd.Timestamp("2023-09-03")  # the panel's last CBECI row (lagged one day)
    assert eff.loc[anchor_day] == pytest.approx(cbeci_implied_efficiency(panel).loc[anchor_day])
    lagged = frontier_efficiency(
        pd.DatetimeIndex([anchor_day, pd.Timestamp("2025-11-20")]) - pd.Timedelta(days=1095)
    )
    assert eff.loc["2025-11-20"] == pytest.approx(
        eff.loc[anchor_day] * lagged.iloc[1] / lagged.iloc[0]
    )
    assert eff.loc["2023-09-03":].is_monotonic_decreasing


def test_the_timeline_is_a_parameter(panel):
    flat = fleet_efficiency(panel, timeline=EfficiencyTimeline(constant_j_per_th=30.0))
    assert (flat == 30.0).all()


# ----------------------------------------------------------------------------- on the bundled data


def test_every_model_has_a_value_on_2025_11_20(panel):
    costs = pc.cost_models(panel).loc["2025-11-20"]
    assert costs.notna().all(), costs
    assert costs["external"] == 94_000


def test_the_difficulty_regression_is_refit_on_each_prefix_only(panel):
    mcap = panel["close_usd"] * panel["supply_btc"]
    a, b = pc.expanding_loglog_fit(mcap, panel["difficulty"])
    for day in ("2019-06-30", "2022-09-14", "2026-02-05"):
        x = np.log(panel["difficulty"].loc[:day])
        y = np.log(mcap.loc[:day])
        ok = x.notna() & y.notna()
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        assert b.loc[day] == pytest.approx(slope, rel=1e-6) and a.loc[day] == pytest.approx(
            intercept, rel=1e-6
        )


def test_an_external_estimate_is_held_from_its_date_to_the_next(panel):
    ext = pc.external_model(panel)
    assert pd.isna(ext.loc["2025-11-19"])
    assert (ext.loc["2025-11-20":"2026-02-04"] == 94_000).all()
    assert (ext.loc["2026-02-05":"2026-05-06"] == 87_000).all()  # up to 90 days old


def test_an_external_estimate_expires_after_its_maximum_age(panel):
    ext = pc.external_model(panel)
    assert ext.loc["2026-05-07":].isna().all()  # Checkonchain's 2026-02-05 estimate, 91 days on
    longer = pc.cost_models(panel, pc.CostAssumptions(estimate_max_age_days=180), ("external",))
    assert longer.loc["2026-06-01", "external"] == 87_000
    assert pd.isna(longer.loc["2026-08-05", "external"])  # 181 days


def test_an_external_estimate_carries_its_source_publication_day_and_age(panel):
    info = pc.external_estimates(panel.index).loc["2026-02-04"]
    assert info["source"] == "JPMorgan" and info["published"] == pd.Timestamp("2025-11-20")
    assert info["age_days"] == 76 and info["cost_usd_per_btc"] == 94_000 and not info["expired"]
    later = pc.external_estimates(panel.index).loc["2026-06-01"]
    assert later["source"] == "Checkonchain" and later["age_days"] == 116 and later["expired"]
    assert pd.isna(later["cost_usd_per_btc"]) and later["latest_usd_per_btc"] == 87_000


def test_the_cost_band_is_ordered_and_reproducible(panel):
    band = pc.cost_band(panel.loc[:"2025-11-20"], "electricity", draws=60, seed=3)
    day = band.loc["2025-11-20"]
    assert day["p10"] < day["p50"] < day["p90"]
    again = pc.cost_band(panel.loc[:"2025-11-20"], "electricity", draws=60, seed=3)
    pd.testing.assert_frame_equal(band, again)


def test_a_band_needs_an_assumption_driven_model(panel):
    with pytest.raises(ValueError, match="assumption-driven"):
        pc.cost_band(panel, "difficulty_regression")


# ----------------------------------------------------------------------------- rules


def test_below_cost_enters_only_where_price_to_cost_is_below_the_ratio(panel):
    params = build(pc.BelowCostParams, {"entry_ratio": "1.0", "confirm_days": "3"})
    out = pc.below_cost(panel, params)
    ratio = out.indicator["price_to_cost"]
    for day in out.entry[out.entry.fillna(False)].index:
        assert (ratio.loc[:day].iloc[-3:] < 1.0).all()
    assert out.entry.fillna(False).sum() > 0
    assert (
        out.exit[out.exit.fillna(False)].index.map(lambda d: ratio.loc[d] > params.exit_ratio).all()
    )


@pytest.mark.parametrize("model", pc.CHAIN_MODELS)
def test_chain_model_costs_end_with_the_bundled_chain_and_are_not_carried_forward(panel, model):
    cost = pc.cost_models(panel, models=(model,))[model]
    assert cost.loc["2026-02-06":"2026-02-12"].notna().all()  # known to the chain's last day
    after = cost.loc["2026-02-13":"2026-08-13"]
    assert len(after) == 182 and after.isna().all()  # prices run on; the cost is unknown


def test_below_cost_is_unknown_where_the_model_has_no_data(panel):
    out = pc.below_cost(panel)
    assert out.entry.loc[:"2015-01-25"].isna().all()  # no price yet
    assert out.entry.loc["2026-02-13":].isna().all()  # the chain data ends on 2026-02-12


def test_hash_ribbon_buys_follow_a_recovery_and_a_price_cross(panel):
    r = pc.hash_ribbons(panel)
    buys = r.entry[r.entry.fillna(False)].index
    assert len(buys) > 5
    ind = r.indicator
    for day in buys:
        assert not bool(ind.loc[day, "capitulation"])


def test_ribbon_confirmation_only_removes_entries(panel):
    plain = pc.below_cost(panel, pc.BelowCostParams(entry_ratio=1.2))
    confirmed = pc.below_cost(panel, pc.BelowCostParams(entry_ratio=1.2, ribbon_confirm_days=60))
    assert (confirmed.entry.fillna(False) <= plain.entry.fillna(False)).all()


def test_parameters_declare_defaults_and_ranges_and_reject_bad_values():
    names = {p.name: p for p in space(pc.BelowCostParams)}
    assert names["power_price"].default == 0.05 and names["power_price"].unit == "USD per kWh"
    assert names["entry_ratio"].low == 0.5 and names["entry_ratio"].high == 1.5
    assert names["model"].choices == pc.MODELS
    with pytest.raises(ParamError, match="entry_ratio"):
        build(pc.BelowCostParams, {"entry_ratio": "3"})
    with pytest.raises(ParamError, match="unknown parameter 'entry'"):
        build(pc.BelowCostParams, {"entry": "1"})


# ----------------------------------------------------------------------------- point in time


@PIT
@given(t=CUTOFFS)
def test_every_cost_model_is_point_in_time(panel, t):
    assert check_point_in_time(lambda p: pc.cost_models(p), panel, [t]) == []


@PIT
@given(t=CUTOFFS)
def test_the_below_cost_rule_with_ribbons_is_point_in_time(panel, t):
    params = pc.BelowCostParams(
        model="difficulty_regression", confirm_days=3, ribbon_confirm_days=30
    )
    assert check_point_in_time(lambda p: pc.below_cost(p, params), panel, [t]) == []


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(t=CUTOFFS)
def test_the_cost_band_and_hashprice_are_point_in_time(panel, t):
    def fn(p):
        return {
            "band": pc.cost_band(p, "all_in", draws=8),
            "hp": pc.hashprice_frame(p, pc.CostAssumptions()),
        }

    assert check_point_in_time(fn, panel, [t]) == []


def test_the_checker_catches_a_full_sample_fit(panel):
    """A regression fitted once on all data leaks the future: the property test can fail."""

    def leaky(p):
        mcap = p["close_usd"] * p["supply_btc"]
        ok = mcap.notna() & p["difficulty"].notna()
        b, a = np.polyfit(np.log(p["difficulty"][ok]), np.log(mcap[ok]), 1)
        return np.exp(a + b * np.log(p["difficulty"])) / p["supply_btc"]

    assert check_point_in_time(leaky, panel, ["2020-01-01", "2024-01-01"]) != []


# ----------------------------------------------------------------------------- CLI


def test_costbt_cost_at_2025_11_20_prints_every_model():
    result = CliRunner().invoke(
        __import__("costbt.backtest.cli", fromlist=["app"]).app,
        ["cost", "--at", "2025-11-20", "--draws", "20"],
    )
    assert result.exit_code == 0, result.output
    for model in pc.MODELS:
        assert model in result.output
    assert (
        "86,637.23" in result.output and "94,000" in result.output and "JPMorgan" in result.output
    )


def test_costbt_cost_dates_and_ages_the_external_estimate():
    from costbt.backtest.cli import app

    result = CliRunner().invoke(app, ["cost", "--at", "2026-02-04", "--draws", "0"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the line may wrap
    assert "external (JPMorgan 2025-11-20)" in text  # the table row carries its date
    assert "external: 94,000 USD/BTC, JPMorgan 2025-11-20, 76 days old" in text
    assert "not a reading of 2026-02-04" in text


def test_costbt_cost_says_an_expired_estimate_is_not_current():
    from costbt.backtest.cli import app

    result = CliRunner().invoke(
        app, ["cost", "--at", "2026-06-01", "--model", "external", "--draws", "0"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the line may wrap
    assert (
        "external: no current estimate (latest: Checkonchain 2026-02-05, 116 days old > 90)" in text
    )
    assert "87,000" not in result.output


def _cost_text(*args: str) -> tuple[int, str]:
    from costbt.backtest.cli import app

    result = CliRunner().invoke(app, ["cost", "--draws", "0", *args])
    return result.exit_code, " ".join(result.output.split())  # lines wrap at the width


def test_costbt_cost_after_the_chain_ends_says_the_cost_is_unknown_and_how_to_extend_it(tmp_path):
    code, text = _cost_text("--at", "2026-03-01", "--cache-dir", str(tmp_path))
    assert code == 0
    assert (
        "chain inputs (hash rate, difficulty, subsidy) end on 2026-02-12, so the cost on "
        "2026-03-01 is unknown for electricity, hayes, all_in, difficulty_regression "
        "(not carried forward)" in text
    )
    assert "costbt data chain --provider blockchain_com" in text and "coinmetrics" in text


def test_costbt_cost_within_the_chain_says_nothing_about_its_end(tmp_path):
    code, text = _cost_text("--at", "2026-02-12", "--cache-dir", str(tmp_path))
    assert code == 0 and "chain inputs" not in text


def test_costbt_cost_uses_chain_data_from_the_download_cache(tmp_path):
    from tests.data.cached_chain import chain_days, write_coinmetrics

    write_coinmetrics(tmp_path, chain_days("2026-02-13", "2026-03-31"))
    code, text = _cost_text(
        "--at", "2026-03-01", "--model", "electricity", "--cache-dir", str(tmp_path)
    )
    assert code == 0
    row = text.split("│ electricity │")[1].split("│")[0].strip()
    assert row != "-" and float(row.replace(",", "")) > 10_000  # a cost in USD/BTC
    assert "end on 2026-02-12" not in text
    assert "chain inputs: the download cache for 2026-02-13 .. 2026-03-31" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "estimate_max_age_days=0"], "estimate_max_age_days"),
        (["--param", "power_price=0.5"], "power_price"),
        (["--param", "nope=1"], "unknown parameter 'nope'"),
        (["--param", "power_price"], "NAME=VALUE"),
        (["--model", "magic"], "--model"),
        (["--at", "someday"], "--at"),
    ],
)
def test_costbt_cost_rejects_bad_input_with_exit_2(args, message):
    from costbt.backtest.cli import app

    result = CliRunner().invoke(app, ["cost", *args])
    assert result.exit_code == 2 and message in result.stderr
