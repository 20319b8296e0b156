"""Episodes of a signal state, their outcomes, and the unconditional forward-return table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from costbt.backtest import episodes as ep
from costbt.backtest.cli.commands import episodes_cmd

NA = pd.NA

# ------------------------------------------------------------------ hand-made fixture
#
#  day (2020-01-)   01    02    03    04    05    06    07    08    09    10    11    12
#  state             F     T     T     F    <NA>   T     F     F     T     T     T     T
#  price           100   100    90    80   NaN   110   120   100    90    85    88    70
#  depth            0   -.10  -.30   .10   NaN  -.05   .20   .10  -.02  -.40  -.10   NaN
#
#  A: 01-02..01-03 (2 days, next day False), depth -.30; from 100 the close falls to 80 and first
#     regains 100 on 01-06 (110): drawdown -20 %, 4 days; fwd 2 d = 80/100-1, 5 d = 120/100-1.
#  B: 01-06 (after an unknown day, next day False), 1 day, depth -.05; recovers the next day.
#  C: 01-09..01-12, still True on the last row: ongoing (end NaT), 4 days, depth -.40; from 90
#     never regains 90: drawdown 70/90-1, no recovery; fwd 2 d = 88/90-1, 5 d beyond the data.

DAYS = pd.date_range("2020-01-01", periods=12, freq="D")
STATE = pd.Series([False, True, True, False, NA, True, False, False, True, True, True, True],
                  index=DAYS, dtype="boolean")  # fmt: skip
PRICE = pd.Series(
    [100, 100, 90, 80, np.nan, 110, 120, 100, 90, 85, 88, 70], index=DAYS, dtype=float
)
DEPTH = pd.Series(
    [0, -0.1, -0.3, 0.1, np.nan, -0.05, 0.2, 0.1, -0.02, -0.4, -0.1, np.nan], index=DAYS
)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ep.episodes(STATE, PRICE, DEPTH, horizons=(2, 5))


def test_episodes_are_found_with_their_start_end_days_and_depth(table):
    assert list(table["start"]) == [
        pd.Timestamp(d) for d in ("2020-01-02", "2020-01-06", "2020-01-09")
    ]
    assert list(table["end"][:2]) == [pd.Timestamp("2020-01-03"), pd.Timestamp("2020-01-06")]
    assert pd.isna(table["end"].iloc[2])  # still in the state on the last row: ongoing
    assert list(table["days"]) == [2, 1, 4]
    assert table["depth"].tolist() == pytest.approx([-0.3, -0.05, -0.4])


def test_forward_returns_from_the_start_close_and_nan_beyond_the_data(table):
    assert table["fwd_2d"].tolist() == pytest.approx([80 / 100 - 1, 100 / 110 - 1, 88 / 90 - 1])
    assert table["fwd_5d"].iloc[:2].tolist() == pytest.approx([120 / 100 - 1, 88 / 110 - 1])
    assert np.isnan(table["fwd_5d"].iloc[2])  # 01-14 is not in the data: no peeking, no guessing
    full = ep.episodes(STATE, PRICE, DEPTH)  # default horizons 30..365 all beyond 12 days
    assert full[[f"fwd_{h}d" for h in ep.HORIZONS]].isna().all().all()


def test_drawdown_before_recovery_skips_missing_closes(table):
    assert table["drawdown"].tolist() == pytest.approx([-0.2, 0.0, 70 / 90 - 1])
    assert table["recovery"].iloc[0] == pd.Timestamp("2020-01-06")
    assert table["days_to_recovery"].iloc[0] == 4
    assert table["days_to_recovery"].iloc[1] == 1
    assert pd.isna(table["recovery"].iloc[2]) and np.isnan(table["days_to_recovery"].iloc[2])


def test_nearby_episodes_merge_only_within_the_gap():
    assert len(ep.episodes(STATE, PRICE, DEPTH, (2,), merge_gap_days=1)) == 3
    merged = ep.episodes(STATE, PRICE, DEPTH, (2,), merge_gap_days=2)  # gaps A-B, B-C: 2 days
    assert len(merged) == 1
    one = merged.iloc[0]
    assert one["start"] == pd.Timestamp("2020-01-02") and pd.isna(one["end"])
    assert one["days"] == 7 and one["depth"] == pytest.approx(-0.4)


def test_no_episode_gives_an_empty_table_with_the_columns():
    t = ep.episodes(pd.Series(False, index=DAYS, dtype="boolean"), PRICE, DEPTH, (2,))
    assert t.empty and {"start", "end", "days", "depth", "fwd_2d", "cycle"} <= set(t.columns)


def test_cycle_labels_switch_on_the_halving_days():
    days = ["2012-11-27", "2012-11-28", "2016-07-08", "2016-07-09", "2020-05-11", "2024-04-19",
            "2024-04-20", "2030-01-01"]  # fmt: skip
    labels = ep.halving_cycle(pd.to_datetime(days)).tolist()
    assert labels == [
        "<2012-11-28",
        "2012-11-28..2016-07-08",
        "2012-11-28..2016-07-08",
        "2016-07-09..2020-05-10",
        "2020-05-11..2024-04-19",
        "2020-05-11..2024-04-19",
        "2024-04-20..",
        "2024-04-20..",
    ]
    assert (
        ep.episodes(STATE, PRICE, DEPTH, (2,))["cycle"].tolist() == ["2016-07-09..2020-05-10"] * 3
    )


def test_bootstrap_intervals_contain_the_mean_and_are_reproducible():
    rng = np.random.default_rng(1)
    idx = pd.date_range("2015-01-01", "2019-12-31", freq="D")
    price = pd.Series(100 * np.exp(np.cumsum(rng.normal(0.001, 0.03, len(idx)))), index=idx)
    a = ep.unconditional_forward_returns(price, (5, 30), reps=200, seed=3)
    b = ep.unconditional_forward_returns(price, (5, 30), reps=200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert a["cycle"].iloc[0] == "all" and set(a["cycle"]) == {
        "all",
        "2012-11-28..2016-07-08",
        "2016-07-09..2020-05-10",
    }
    ok = a.dropna(subset=["lo"])
    assert len(ok) == len(a)
    assert ((ok["lo"] <= ok["mean"]) & (ok["mean"] <= ok["hi"])).all()
    fwd = ep.forward_returns(price, 30).dropna()
    assert a.set_index(["cycle", "horizon"]).loc[("all", 30), "mean"] == pytest.approx(fwd.mean())
    assert a.set_index(["cycle", "horizon"]).loc[("all", 30), "n"] == len(idx) - 30


# ------------------------------------------------------------------ bundled panel


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


@pytest.fixture(scope="module")
def study(panel):
    return ep.episode_study(panel, "below_cost", "electricity", reps=200)


def test_below_cost_fired_a_handful_of_times_each_below_cost(panel, study):
    from costbt.signals import production_cost as pc

    e = study.episodes
    assert 0 < len(e) < 40  # 28 on the bundled data (8 with --merge-days 30)
    ratio = pc.below_cost(panel).indicator["price_to_cost"]
    assert (ratio.loc[e["start"]] < 1).all()
    ended = e.dropna(subset=["end"])
    assert (ratio.loc[ended["end"] + pd.Timedelta(days=1)] >= 1).all()
    assert (e["depth"] < 0).all()
    assert len(study.unconditional) > 4 and study.unconditional["n"].gt(0).all()


def test_start_and_depth_are_point_in_time(panel, study):
    """Truncating the panel at any day T after an episode ended leaves its start, end, days and
    depth unchanged (forward returns are outcomes that need later prices, so not compared)."""
    full = study.episodes.dropna(subset=["end"])
    keys = ["start", "end", "days", "depth"]
    cutoffs = [full["end"].iloc[k] + pd.Timedelta(days=d) for k, d in ((0, 1), (3, 40), (-2, 1))]
    for t in cutoffs:
        state, depth = ep.signal_state(panel.loc[:t])
        cut = ep.episodes(state, panel["close_usd"].loc[:t], depth, horizons=())
        want = full[full["end"] < t][keys].reset_index(drop=True)
        got = cut[cut["end"].notna() & (cut["end"] < t)][keys].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


# ------------------------------------------------------------------ command


def _app() -> typer.Typer:
    app = typer.Typer()
    episodes_cmd.register(app)
    episodes_cmd.register(app)  # a second registration is harmless

    @app.command("noop")
    def _noop() -> None:  # keeps typer in multi-command mode
        pass

    return app


def test_the_command_prints_both_tables():
    r = CliRunner().invoke(_app(), ["episodes", "--signal", "below_cost", "--reps", "100"])
    assert r.exit_code == 0, r.output
    assert "Episodes of below_cost (electricity" in r.output
    assert "unconditional" in r.output and "2020-05-11..2024-04-19" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--signal", "magic"], "--signal: unknown signal 'magic'"),
        (["--model", "nope"], "--model: unknown model 'nope'"),
        (["--entry-ratio", "9"], "--entry-ratio"),
    ],
)
def test_bad_signal_or_model_exits_2(args, message):
    r = CliRunner().invoke(_app(), ["episodes", *args])
    assert r.exit_code == 2
    assert message in r.output
