"""Transaction fees as a declared input: cached fee data, ``include_fees``, the stated bias.

Fixture: Coin Metrics' daily ``FeeTotNtv`` (BTC) for 2024-04-10 .. 2024-05-10, the halving
month (Runes launched with the halving block on 2024-04-20: 1,206 BTC of fees that day), copied
from Coin Metrics' community data (github.com/coinmetrics/data, csv/btc.csv at commit
cb3f32cc6c5045d5574e730a7c9784d58965629e; CC BY-NC 4.0, "Coin Metrics, Inc"), written into a
temporary download cache exactly as ``costbt data chain --provider coinmetrics --metric
FeeTotNtv`` stores it.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.data.cache import Cache, SeriesKey
from costbt.data.panel import load_panel
from costbt.signals import production_cost as pc
from costbt.signals.lookahead import check_point_in_time

FEE_TOT_NTV_BTC = {
    "2024-04-10": 71.20955424,
    "2024-04-11": 109.2683687,
    "2024-04-12": 153.45642058,
    "2024-04-13": 107.18489341,
    "2024-04-14": 72.98308634,
    "2024-04-15": 157.47266193,
    "2024-04-16": 92.75445493,
    "2024-04-17": 121.85088432,
    "2024-04-18": 107.17008007,
    "2024-04-19": 179.87658691,
    "2024-04-20": 1206.4665844,
    "2024-04-21": 335.52917373,
    "2024-04-22": 254.1083329,
    "2024-04-23": 445.20827332,
    "2024-04-24": 250.0755658,
    "2024-04-25": 109.88507376,
    "2024-04-26": 90.92221995,
    "2024-04-27": 62.41209597,
    "2024-04-28": 52.6358838,
    "2024-04-29": 45.31174055,
    "2024-04-30": 45.06205756,
    "2024-05-01": 37.91687325,
    "2024-05-02": 34.86927785,
    "2024-05-03": 34.64122185,
    "2024-05-04": 46.6176148,
    "2024-05-05": 123.39594228,
    "2024-05-06": 40.57671837,
    "2024-05-07": 35.91638629,
    "2024-05-08": 29.99070924,
    "2024-05-09": 30.3355985,
    "2024-05-10": 31.61827711,
}
CM_KEY = SeriesKey("coinmetrics", "asset_metrics", "btc", "1d")
BC_KEY = SeriesKey("blockchain_com", "chart", "transaction-fees-usd", "1d")
DAY = "2024-04-30"  # below the electricity cost without fees


def _days(values) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(values, name="time").as_unit("ns")


def coinmetrics_frame(column: str = "fees_btc") -> pd.DataFrame:
    return pd.DataFrame(
        {column: list(FEE_TOT_NTV_BTC.values())}, index=_days(list(FEE_TOT_NTV_BTC))
    )


@pytest.fixture(scope="module")
def fee_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("fee_cache")
    Cache(root).write(CM_KEY, coinmetrics_frame(), client="test fixture", provider="Coin Metrics")
    return root


@pytest.fixture(scope="module")
def panel(fee_cache) -> pd.DataFrame:
    return load_panel(cache_dir=fee_cache, use_cache="extend")


# ----------------------------------------------------------------------------- the source


def test_cached_fees_become_the_panel_column_fees_btc_with_lag_zero(panel):
    assert panel.loc[DAY, "fees_btc"] == pytest.approx(45.06205756)  # row d: day d's fees
    assert panel.loc["2024-04-20", "fees_btc"] == pytest.approx(1206.4665844)
    assert panel["fees_btc"].notna().sum() == len(FEE_TOT_NTV_BTC)
    prov = panel.attrs["provenance"]["cache"]["fees"]
    assert prov["mode"] == "cache only" and prov["cache_rows"] == len(FEE_TOT_NTV_BTC)


def test_without_cached_fees_the_panel_has_no_fee_column(bundled_panel, tmp_path):
    assert "fees_btc" not in bundled_panel.columns
    assert "fees_btc" not in load_panel(cache_dir=tmp_path, use_cache="extend").columns


def test_a_cache_written_before_the_metric_was_named_is_read_too(tmp_path):
    Cache(tmp_path).write(CM_KEY, coinmetrics_frame("fee_tot_ntv"), client="test fixture")
    p = load_panel(cache_dir=tmp_path, use_cache="replace")
    assert p.loc[DAY, "fees_btc"] == pytest.approx(45.06205756)


def test_blockchain_com_usd_fees_are_converted_at_the_days_close_and_coin_metrics_wins(
    tmp_path, bundled_panel
):
    close = bundled_panel["close_usd"]
    usd = pd.DataFrame(
        {"fees_usd": [2_000_000.0, 3_000_000.0]}, index=_days(["2024-04-30", "2024-05-20"])
    )
    cache = Cache(tmp_path)
    cache.write(BC_KEY, usd, client="test fixture")
    only_bc = load_panel(cache_dir=tmp_path, use_cache="extend")
    assert only_bc.loc["2024-05-20", "fees_btc"] == pytest.approx(3e6 / close.loc["2024-05-20"])
    cache.write(CM_KEY, coinmetrics_frame(), client="test fixture")
    both = load_panel(cache_dir=tmp_path, use_cache="extend")
    assert both.loc[DAY, "fees_btc"] == pytest.approx(45.06205756)  # native BTC wins
    assert both.loc["2024-05-20", "fees_btc"] == pytest.approx(3e6 / close.loc["2024-05-20"])
    files = both.attrs["provenance"]["cache"]["fees"]["cache_file"]
    assert BC_KEY.filename in files and CM_KEY.filename in files


# ----------------------------------------------------------------------------- the costs


def test_a_day_below_cost_without_fees_is_not_below_with_fees(panel):
    plain = pc.below_cost(panel, pc.BelowCostParams())
    with_fees = pc.below_cost(panel, pc.BelowCostParams(include_fees=True))
    assert bool(plain.entry.loc[DAY]) and plain.indicator.loc[DAY, "price_to_cost"] < 1.0
    assert not bool(with_fees.entry.loc[DAY])
    assert with_fees.indicator.loc[DAY, "price_to_cost"] > 1.0


def test_fees_lower_every_assumption_models_cost(panel):
    plain = pc.cost_models(panel, pc.CostAssumptions(), pc.ASSUMPTION_MODELS).loc[DAY]
    fees = pc.cost_models(panel, pc.CostAssumptions(include_fees=True), pc.ASSUMPTION_MODELS).loc[
        DAY
    ]
    assert (fees < plain).all()


def test_the_electricity_cost_divides_by_subsidy_plus_fees(panel):
    a = pc.CostAssumptions(include_fees=True, smooth_days=1)
    eff = pc.fleet_efficiency_for(panel, a).loc[DAY]
    row = panel.loc[DAY]
    want = pc.electricity_cost_per_btc(
        row["hashrate_ths"], eff, a.power_price, row["issuance_btc"] + row["fees_btc"], a.pue
    )
    assert pc.electricity_model(panel, a).loc[DAY] == pytest.approx(want)


def test_hayes_reward_is_subsidy_plus_fees_per_block(panel):
    a = pc.CostAssumptions(include_fees=True)
    row = panel.loc[DAY]
    reward = row["block_subsidy_btc"] + row["fees_btc"] / row["blocks_per_day"]
    eff = pc.fleet_efficiency_for(panel, a).loc[DAY]
    want = pc.hayes_cost_per_btc(row["difficulty"], eff, a.power_price, reward, a.pue)
    assert pc.hayes_model(panel, a).loc[DAY] == pytest.approx(want)


def test_with_fees_requested_a_day_without_fee_data_has_no_cost(panel, bundled_panel):
    a = pc.CostAssumptions(include_fees=True)
    costs = pc.cost_models(panel, a, pc.ASSUMPTION_MODELS)
    assert costs.loc["2024-06-01":"2024-06-30"].isna().all().all()  # fees not cached there
    assert costs.loc["2024-05-10"].notna().all()
    # No fee column at all: unknown everywhere, never silently subsidy-only.
    assert pc.cost_models(bundled_panel, a, pc.ASSUMPTION_MODELS).isna().all().all()


def test_costs_with_fees_are_point_in_time(panel):
    params = pc.BelowCostParams(include_fees=True, confirm_days=2)
    cutoffs = ["2024-04-20", "2024-04-30", "2024-05-05", "2024-05-10"]
    assert check_point_in_time(lambda p: pc.below_cost(p, params), panel, cutoffs) == []


def test_the_fee_bias_is_stated():
    note = pc.FEES_BIAS_NOTE
    assert "subsidy only" in note and "overstated" in note and "over-counted" in note


# ----------------------------------------------------------------------------- CLI and report


def _cost(*args: str):
    from costbt.backtest.cli import app

    return CliRunner().invoke(app, ["cost", "--draws", "0", *args])


def test_costbt_cost_states_the_fee_bias_by_default():
    result = _cost("--at", DAY, "--model", "electricity")
    assert result.exit_code == 0, result.output
    assert "over-counted" in result.output and "include_fees" in result.output


def test_costbt_cost_includes_cached_fees_when_asked(fee_cache):
    result = _cost(
        "--at", DAY, "--model", "electricity", "--param", "include_fees=true",
        "--cache-dir", str(fee_cache),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "fees included: 45.06 BTC" in result.output and "subsidy + fees" in result.output
    assert "50,454" in result.output  # the electricity cost with fees (61,233 without)


def test_costbt_cost_asking_for_fees_without_fee_data_exits_2_naming_the_parameter(tmp_path):
    result = _cost("--at", DAY, "--param", "include_fees=true", "--cache-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "--param include_fees" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 3  # one message (may wrap)


def test_the_report_states_the_fee_bias_in_its_cost_section():
    from costbt.reports.html import price_cost_section
    from tests.reports.sample import PARAMS, build_result

    shown = price_cost_section(build_result())
    assert "Fees:" in shown and "over-counted" in shown
    with_fees = price_cost_section(build_result(params={**PARAMS, "include_fees": True}))
    assert "over-counted" not in with_fees
    regression = price_cost_section(build_result(params={**PARAMS, "model": "external"}))
    assert "over-counted" not in regression
