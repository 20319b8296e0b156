"""Replaying an article's dated claims (`backtest.claims`, `costbt claims`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest import claims as cl
from costbt.backtest.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "claims"
NOVEMBER = EXAMPLES / "2025-11-below-cost.toml"
FEBRUARY = EXAMPLES / "2026-02-checkonchain.toml"


def write(tmp_path: Path, body: str, head: str = "") -> Path:
    path = tmp_path / "claims.toml"
    path.write_text(head + body)
    return path


def one(tmp_path: Path, body: str, head: str = "") -> cl.ClaimCheck:
    (check,) = cl.check_claims(cl.read_claims(write(tmp_path, body, head)))
    return check


@pytest.fixture(scope="module")
def november():
    return {c.claim.id: c for c in cl.check_claims(cl.read_claims(NOVEMBER))}


@pytest.fixture(scope="module")
def february():
    return {c.claim.id: c for c in cl.check_claims(cl.read_claims(FEBRUARY))}


def test_jpmorgans_cost_differs_from_the_electricity_model_and_names_the_closest(november):
    c = november["jpm-cost"]
    assert c.verdict == cl.DIFFERS
    assert c.project == pytest.approx(74742, rel=0.01)
    assert "closest model: difficulty_regression" in c.note


def test_the_etf_flow_of_a_day_is_read_where_it_was_published(november):
    # Farside's IBIT -523.2 of 2025-11-18 is known on 2025-11-19 (lag one day).
    c = november["ibit-outflow"]
    assert c.verdict == cl.REPRODUCED and c.project == pytest.approx(-523.2)


def test_the_bundled_farside_total_for_2025_11_25_differs_from_the_claimed_207m(november):
    c = november["etf-inflows-25"]
    assert c.verdict == cl.DIFFERS and c.project == pytest.approx(128.7)


def test_the_basis_of_4_percent_holds_and_lowest_since_ftx_does_not(november):
    assert november["basis-now"].verdict == cl.REPRODUCED
    low = november["basis-lowest-since-ftx"]
    assert low.verdict == cl.DIFFERS and low.project < 0
    assert "min on 2023-03-11" in low.note


def test_checkonchains_cost_is_reproduced_by_the_difficulty_regression(february):
    assert february["checkonchain-cost"].verdict == cl.REPRODUCED
    assert february["gap"].verdict == cl.REPRODUCED


def test_a_value_not_yet_published_on_the_as_of_day_cannot_be_checked(tmp_path):
    c = one(
        tmp_path,
        '[[claims]]\nid="x"\nwhat="column"\ncolumn="etf_flow_ibit_usd_m"\ndate=2025-11-18\n'
        "value=-523\nas_of=2025-11-18\n",
    )
    assert c.verdict == cl.UNCHECKABLE and "published on 2025-11-19" in c.note


def test_a_cost_after_the_chain_inputs_end_cannot_be_checked(tmp_path):
    c = one(tmp_path, '[[claims]]\nid="x"\nwhat="cost"\ndate=2026-04-01\nvalue=80000\n')
    assert c.verdict == cl.UNCHECKABLE
    assert "chain inputs end 2026-02-12" in c.note


def test_a_column_before_its_source_began_cannot_be_checked(tmp_path):
    c = one(
        tmp_path,
        '[[claims]]\nid="x"\nwhat="column"\ncolumn="etf_flow_total_usd_m"\ndate=2020-01-06\n'
        "value=1\n",
    )
    assert c.verdict == cl.UNCHECKABLE and "no value" in c.note


def test_a_range_claim_has_no_difference_inside_the_range(tmp_path):
    c = one(
        tmp_path,
        '[[claims]]\nid="x"\nwhat="column"\ncolumn="close_usd"\ndate=2025-11-19\n'
        "value=[90000, 92000]\ntolerance=0\n",
    )
    assert c.verdict == cl.REPRODUCED and c.difference == 0


def test_an_absolute_tolerance_is_in_the_values_unit(tmp_path):
    body = '[[claims]]\nid="x"\nwhat="column"\ncolumn="basis_3m_pct_pa"\ndate=2025-11-21\n'
    assert one(tmp_path, body + "value=3.9\ntolerance_abs=0.15\n").verdict == cl.REPRODUCED
    assert one(tmp_path, body + "value=3.9\ntolerance_abs=0.1\n").verdict == cl.DIFFERS


def test_a_date_with_a_time_zone_is_its_utc_day(tmp_path):
    c = one(
        tmp_path,
        '[[claims]]\nid="x"\nwhat="column"\ncolumn="close_usd"\n'
        "date=2025-11-20T23:30:00-02:00\nvalue=85129.43\ntolerance=0.0001\n",
        head="published=2025-11-26T10:00:00+02:00\n",
    )
    assert c.claim.date == pd.Timestamp("2025-11-21") and c.verdict == cl.REPRODUCED


def test_a_deficit_is_price_over_cost_minus_one_as_costbt_cost_prints_it(february):
    gap = february["gap"]
    assert gap.project == pytest.approx(70580.26 / 87035.775289 - 1, rel=1e-6)
    assert gap.project < 0


def test_every_table_says_the_values_are_the_bundled_vintage():
    r = runner.invoke(app, ["claims", str(NOVEMBER)])
    assert r.exit_code == 0, r.output
    assert "bundled vintage" in r.output and "revision" in r.output


def test_a_signal_claim_reads_the_indicator_as_known_that_day(tmp_path):
    c = one(
        tmp_path,
        '[[claims]]\nid="x"\nwhat="signal"\nname="sth_sopr"\nindicator="sth_sopr"\n'
        "date=2025-11-23\nvalue=0.9436\ntolerance_abs=0.001\n",
    )
    assert c.verdict == cl.REPRODUCED


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('[[claims]]\nid="a"\nwhat="guess"\ndate=2025-01-01\nvalue=1\n', "claim 'a': what="),
        ('[[claims]]\nid="a"\nwhat="cost"\nvalue=1\n', "'date' is missing"),
        ('[[claims]]\nid="a"\nwhat="cost"\ndate="soon"\nvalue=1\n', "date: 'soon'"),
        ('[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=[2, 1]\n', "low 2 is above"),
        ('[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue="x"\n', "not a finite number"),
        (
            '[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=1\ntolerance=0.1\n'
            "tolerance_abs=1\n",
            "not both",
        ),
        ('[[claims]]\nid="a"\nwhat="column"\ncolumn="price"\ndate=2025-01-01\nvalue=1\n', "price"),
        ('[[claims]]\nid="a"\nwhat="cost"\nmodel="magic"\ndate=2025-01-01\nvalue=1\n', "magic"),
        ('[[claims]]\nid="a"\nwhat="cost"\nmodel="external"\ndate=2025-01-01\nvalue=1\n', "model="),
        ('[[claims]]\nid="a"\nwhat="deficit"\ndate=2025-01-01\nvalue=1\n', "needs 'model'"),
        (
            '[[claims]]\nid="a"\nwhat="column"\ncolumn="close_usd"\nstat="max"\ndate=2025-01-01\n'
            "value=1\n",
            "needs 'from'",
        ),
        ('[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=1\ncolour=1\n', "'colour'"),
        (
            '[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=1\nparams={power_price=9}\n',
            "power_price",
        ),
        ('[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=1\n' * 2, "used twice"),
        ('title="x"\n', "no [[claims]]"),
        ('[[claims]]\nid=5\nwhat="cost"\ndate=2025-01-01\nvalue=1\n', "id 5 is not a non-empty"),
        (
            '[[claims]]\nid="a"\nwhat="column"\ncolumn=["close_usd"]\ndate=2025-01-01\nvalue=1\n',
            "column ['close_usd'] is not a string",
        ),
        (
            '[[claims]]\nid="a"\nwhat="signal"\nname="sth_sopr"\nindicator=[1, 2]\n'
            "date=2025-01-01\nvalue=1\n",
            "indicator [1, 2] is not a string",
        ),
        ('[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=1\ntolerance=1e300\n', "outside"),
        (
            '[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=1\ntolerance_abs=1e308\n',
            "outside",
        ),
        (
            '[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=1\nstat="max"\n',
            "'stat' does not apply to what=\"cost\"",
        ),
        (
            '[[claims]]\nid="a"\nwhat="cost"\ndate=2025-01-01\nvalue=1\n'
            "params={include_fees=true}\n",
            "include_fees needs fee data",
        ),
        ("[[claims]\n", "not valid TOML"),
    ],
)
def test_a_malformed_claim_is_refused_naming_the_file_and_key(tmp_path, body, words):
    path = write(tmp_path, body)
    with pytest.raises(cl.ClaimsError) as info:
        cl.read_claims(path)
    assert str(path) in str(info.value) and words in str(info.value)


def test_the_command_replays_an_article_with_verdicts_and_writes_a_page(tmp_path):
    page = tmp_path / "out" / "claims.html"
    r = runner.invoke(app, ["claims", str(FEBRUARY), "--report", str(page)])
    assert r.exit_code == 0, r.output
    assert "reproduced" in r.output and "verdicts: 3 reproduced, 1 differ" in r.output
    html = page.read_text()
    assert "Claims:" in html and "checkonchain-cost" in html


def test_a_report_path_that_is_a_folder_is_refused_before_any_work(tmp_path):
    r = runner.invoke(app, ["claims", str(FEBRUARY), "--report", str(tmp_path)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --report:") and "is a folder" in lines[0]


@pytest.mark.parametrize("make", ["missing", "folder", "garbage"])
def test_a_bad_claims_file_is_one_line_and_exit_2(tmp_path, make):
    path = tmp_path / "c.toml"
    if make == "folder":
        path.mkdir()
    elif make == "garbage":
        path.write_bytes(b"\x00\xff[[[")
    r = runner.invoke(app, ["claims", str(path)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in r.output
