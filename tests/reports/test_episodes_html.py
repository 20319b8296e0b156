"""The backtest report's "Episodes of the entry signal": shown for below_cost, not for the others.

The report-side tests render the hand-built sample result (`tests.reports.sample`, test input)
with a stubbed tear sheet and an episode study on CONSTRUCTED data (a seeded random-walk "price"
and a state switched on for two hand-picked runs of days). The command-side tests run
`costbt backtest --report` with the engine and the report writer replaced, to see which study the
command hands to the report; `run_episode_study` runs on the bundled panel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest import episodes as ep
from costbt.reports.html import EPISODES_SECTION, HEADINGS, render_report

DAYS = pd.date_range("2020-01-01", periods=500, freq="D")
RUNS = (("2020-02-20", "2020-02-29"), ("2020-07-19", "2020-07-23"))


@pytest.fixture(scope="module")
def constructed_study() -> ep.EpisodeStudy:
    """Episodes of a made-up state on a made-up price (test input, not market data)."""
    steps = np.random.default_rng(0).normal(0.002, 0.03, len(DAYS))
    price = pd.Series(8_000.0 * np.cumprod(1.0 + steps), index=DAYS)
    state = pd.Series(False, index=DAYS)
    for a, b in RUNS:
        state.loc[a:b] = True
    depth = pd.Series(np.where(state, -0.1, 0.2), index=DAYS)
    return ep.EpisodeStudy(
        signal="below_cost",
        model="electricity",
        episodes=ep.episodes(state, price, depth),
        unconditional=ep.unconditional_forward_returns(price, reps=100),
        horizons=ep.HORIZONS,
        size=0.90,
    )


@pytest.fixture()
def stub_tearsheet(monkeypatch):
    monkeypatch.setattr(
        "costbt.reports.html.tearsheet_html", lambda *a, **k: '<div class="qs-tearsheet">stub</div>'
    )


def test_episode_section_follows_the_trades_when_a_study_is_given(
    stub_tearsheet, sample_result, constructed_study
) -> None:
    page = render_report(sample_result, constructed_study)
    sid, heading = EPISODES_SECTION
    assert f'<section id="{sid}">\n<h2>{heading}</h2>' in page
    assert page.index('id="trades"') < page.index(f'id="{sid}"') < page.index('id="parameters"')
    assert f'<a href="#{sid}">{heading}</a>' in page
    section = page[page.index(f'id="{sid}"') : page.index('id="parameters"')]
    assert "2 episodes, 15 days in the state" in section
    for start, end in RUNS:
        assert f"<td>{start}</td><td>{end}</td>" in section
    assert "<th>drawdown before recovery</th>" in section and "<th>365 d</th>" in section
    assert "Unconditional: forward returns over all days, by halving cycle" in section
    assert '<td>all</td><td class="num">30 d</td>' in section


def test_no_episode_section_without_a_study(stub_tearsheet, sample_result) -> None:
    page = render_report(sample_result)
    assert f'id="{EPISODES_SECTION[0]}"' not in page
    assert EPISODES_SECTION[1] not in page
    assert [h for h in HEADINGS.values() if f"<h2>{h}</h2>" in page] == list(HEADINGS.values())


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.loc["2019-06-01":"2021-06-30"].copy()


def test_run_episode_study_uses_the_runs_cost_signal_and_parameters(panel) -> None:
    from costbt.strategies import STRATEGIES

    params = STRATEGIES["below_cost"].params(entry_ratio=1.1, confirm_days=2)
    study = ep.run_episode_study(panel, "below_cost", params, reps=100)
    same = ep.episode_study(
        panel,
        "below_cost",
        "electricity",
        overrides={"entry_ratio": 1.1, "confirm_days": 2},
        reps=100,
    )
    assert study.model == "electricity"
    pd.testing.assert_frame_equal(study.episodes, same.episodes)
    assert len(study.episodes) > 0


def test_episodes_begin_at_the_runs_first_day_when_the_panel_holds_earlier_history(
    panel,
) -> None:
    from costbt.strategies import STRATEGIES

    params = STRATEGIES["below_cost"].params()
    whole = ep.run_episode_study(panel, "below_cost", params, reps=100)
    # 2020-03-15 falls inside the March 2020 episode (2020-03-12 .. 2020-03-22 on this panel).
    study = ep.run_episode_study(panel, "below_cost", params, reps=100, start="2020-03-15")
    march = whole.episodes[whole.episodes["start"] == "2020-03-12"].iloc[0]
    assert study.episodes["start"].iloc[0] == pd.Timestamp("2020-03-15")
    assert study.episodes["end"].iloc[0] == march["end"]
    assert (study.episodes["start"] >= "2020-03-15").all()
    later = whole.episodes[whole.episodes["start"] > "2020-03-15"].reset_index(drop=True)
    pd.testing.assert_frame_equal(study.episodes.iloc[1:].reset_index(drop=True), later)
    days = panel.loc["2020-03-15":, "close_usd"]
    expected = int(ep.forward_returns(days, 30).notna().sum())
    first = study.unconditional.iloc[0]
    assert (first["cycle"], first["horizon"], first["n"]) == ("all", 30, expected)


def test_run_episode_study_is_none_for_a_strategy_without_a_cost_signal(panel) -> None:
    from costbt.strategies import STRATEGIES

    params = STRATEGIES["buy_and_hold"].params()
    assert ep.run_episode_study(panel, "buy_and_hold", params) is None


@pytest.mark.parametrize(
    ("strategy", "has_episodes"), [("below_cost", True), ("buy_and_hold", False)]
)
def test_backtest_command_gives_the_report_episodes_only_for_below_cost(
    monkeypatch, tmp_path, sample_result, strategy, has_episodes
) -> None:
    from costbt.backtest.cli import app

    written = {}

    def capture(result, path, episodes=None, attribution=None):
        written["episodes"] = episodes
        written["attribution"] = attribution
        return path

    # The engine is replaced by the hand-built sample result (no vectorbt): only the command's
    # choice of episode study is under test here.
    monkeypatch.setattr("costbt.backtest.engine.backtest", lambda *a, **k: sample_result)
    monkeypatch.setattr("costbt.reports.html.write_report", capture)
    args = ["backtest", "--strategy", strategy, "--start", "2020-01-01", "--end", "2020-12-31"]
    result = CliRunner().invoke(app, [*args, "--report", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert isinstance(written["episodes"], ep.EpisodeStudy) is has_episodes
    assert written["attribution"] is None  # only confluence has members to attribute
