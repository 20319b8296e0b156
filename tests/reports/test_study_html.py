"""The study report (``costbt tune --report``): verdict first, every section, offline, escaped.

Inputs are CONSTRUCTED (`tests.reports.constructed`): a hand-made in-memory Optuna study and a
stand-in evaluator whose returns are seeded noise with a parameter-dependent mean. One command
test runs the real `costbt tune --report` (real evaluator, bundled data) end to end.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import optuna
import pytest
import typer
from typer.testing import CliRunner

from costbt.backtest import metrics, tuning
from costbt.reports import charts
from costbt.reports.offline import find_external_references
from costbt.reports.study_html import (
    HEADINGS,
    HISTORY_ID,
    candidate_trials,
    distinct_feasible_trials,
    history_points,
    param_importances,
    redact,
    render_study_report,
    span_buy_and_hold,
)
from tests.reports.constructed import ConstructedEvaluator, constructed_study, settings

LEDGER = 1234
STORAGE = "postgresql+psycopg2://costbt:s3cret@db.example:5432/optuna?sslmode=require"
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_PARAM = "<i>x</i>"
HOSTILE_SETTING = "</pre><img src=x onerror=alert(2)>"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _figure_data(document: str, div_id: str) -> list[dict]:
    match = re.search(r"Plotly\.newPlot\(\s*" + re.escape(json.dumps(div_id)) + r",\s*", document)
    assert match, f"no figure {div_id}"
    data, _ = json.JSONDecoder().raw_decode(document, match.end())
    return data


@pytest.fixture(scope="module")
def evaluator() -> ConstructedEvaluator:
    return ConstructedEvaluator()


@pytest.fixture(scope="module")
def study(evaluator) -> optuna.Study:
    return constructed_study(evaluator)


@pytest.fixture(scope="module")
def page(study, evaluator) -> str:
    return render_study_report(
        study,
        evaluator=evaluator,
        ledger_trials=LEDGER,
        settings=settings(),
        storage=STORAGE,
        provenance={"seed": 7},
    )


def test_study_report_is_one_self_contained_file(page: str) -> None:
    assert find_external_references(page) == []
    assert page.count("* plotly.js v") == 1
    tags = _Tags()
    tags.feed(page)
    assert all("src" not in a for t, a in tags.tags if t == "script")
    csp = [
        a for t, a in tags.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert len(csp) == 1 and "default-src 'none'" in csp[0]["content"]


def test_the_verdict_comes_first_and_every_section_follows(page: str) -> None:
    verdict = page.index('<p class="verdict')
    assert verdict < page.index("<section")
    assert re.search(r'<p class="verdict \w+"><strong>Verdict:</strong> \w', page)
    assert re.findall(r"<h2>(.*?)</h2>", page) == list(HEADINGS.values())


def test_dsr_takes_n_from_the_ledger_and_pbo_every_distinct_feasible_trial(
    page: str, study
) -> None:
    feasible = len(candidate_trials(study))
    assert feasible == sum(1 for t in study.trials if t.constraints.get("min_trades", 1) <= 0)
    assert f"N = {LEDGER:,} trials in the ledger" in page
    assert f"CSCV over {feasible} candidates with distinct returns, 16 blocks" in page
    assert "per-block Sharpe ratio (0 when flat), as the search maximised (sharpe)" in page
    assert f"PBO and SPA over all {feasible} feasible trials with distinct parameters" in page
    assert "every completed trial of the study" in page  # where V comes from


def test_the_best_trial_is_compared_with_buy_and_hold_on_the_same_days(page, study, evaluator):
    best = tuning.best_trial(study)
    returns = evaluator.returns(best.params, "2019-01-01", "2021-12-31")
    bench = span_buy_and_hold(evaluator, {}, returns.index)  # with the engine's default costs
    assert (1 + bench).prod() == pytest.approx(
        evaluator.panel["close_usd"][returns.index[-1]]
        / evaluator.panel["open_usd"][returns.index[0]]
        / (1.0005 * 1.001)
    )
    assert f"against buy-and-hold&#x27;s {metrics.sharpe(bench):.2f}" in page
    assert "<td>DSR vs buy-and-hold (deflated Sharpe ratio)</td>" in page
    assert "<td>DSR vs 0 (secondary)</td>" in page
    assert "scaled to buy-and-hold&#x27;s volatility" in page  # the SPA's Sharpe-consistent loss
    assert '<td>Cost assumptions searched</td><td class="num">none</td>' in page


def test_above_the_cap_the_candidates_are_every_kth_trial_from_the_best(study) -> None:
    every = distinct_feasible_trials(study)
    sample = candidate_trials(study, cap=4)
    step = -(-len(every) // 4)
    assert [t.number for t in sample] == [t.number for t in every[::step]]
    assert sample[0].number == tuning.best_trial(study).number


def test_a_capped_page_says_how_the_candidates_were_sampled(study, evaluator) -> None:
    document = render_study_report(
        study, evaluator=evaluator, ledger_trials=LEDGER, settings=settings(), max_candidates=4
    )
    n = len(distinct_feasible_trials(study))
    used = len(candidate_trials(study, cap=4))
    assert f"PBO and SPA over {used} of the {n} feasible trials with distinct parameters" in (
        document
    )


def test_searched_cost_assumptions_are_named_in_the_verdict(evaluator) -> None:
    study = constructed_study(evaluator, param="power_price", n=12)
    document = render_study_report(
        study,
        evaluator=_IgnoringFixed(evaluator, "power_price"),
        ledger_trials=LEDGER,
        settings=settings(name_value="power_price"),
    )
    verdict = document[
        document.index('<p class="verdict') : document.index(
            "</p>", document.index('<p class="verdict')
        )
    ]
    assert "cost assumptions were fitted too (power_price): the thesis was not held fixed" in (
        verdict
    )


def test_provenance_names_the_study_storage_seed_and_ledger_count(page: str) -> None:
    assert "<td>study</td><td>constructed-study</td>" in page
    assert f"<td>ledger_trials</td><td>{LEDGER}</td>" in page
    assert "<td>seed</td><td>7</td>" in page
    assert "postgresql+psycopg2://costbt:***@db.example:5432/optuna?sslmode=require" in page
    assert "s3cret" not in page
    assert "&quot;min_trades&quot;: 3" in page  # the settings block


def test_storage_passwords_are_redacted() -> None:
    assert redact("mysql://u:pw@h/db") == "mysql://u:***@h/db"
    assert redact("postgresql://h/db?user=u&password=pw") == "postgresql://h/db?user=u&password=***"
    assert redact("/cache/optuna/s.log") == "/cache/optuna/s.log"
    assert redact(None) == "not recorded"


def test_history_marks_feasible_and_infeasible_trials_and_the_best_so_far(page, study) -> None:
    feasible, infeasible, best = _figure_data(page, HISTORY_ID)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    n_ok = sum(t.constraints["min_trades"] <= 0 for t in done)
    assert feasible["name"] == f"feasible trial: {n_ok}"
    assert infeasible["name"] == f"infeasible trial: {len(done) - n_ok}"
    points = history_points(study)
    expected = points["value"].where(points["feasible"]).cummax().ffill()
    shown = np.array([np.nan if v is None else v for v in best["y"]], dtype=float)
    np.testing.assert_allclose(shown, expected.to_numpy(), equal_nan=True)
    assert np.all(np.diff(shown[~np.isnan(shown)]) >= 0)


def test_importances_are_seeded_and_cover_every_parameter(study) -> None:
    first, note = param_importances(study)
    assert first == param_importances(study)[0]
    assert set(first) == {"x", "y"} and sum(first.values()) == pytest.approx(1.0)
    assert "fANOVA" in note and "seed 0" in note


def test_importances_need_two_trials_and_a_varying_objective(evaluator) -> None:
    one = optuna.create_study(direction="maximize")
    one.add_trials(constructed_study(evaluator, n=1).trials)
    assert param_importances(one)[0] is None and "at least two" in param_importances(one)[1]
    flat = optuna.create_study(direction="maximize")
    for t in constructed_study(evaluator, n=4).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,)
    ):
        flat.add_trial(
            optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=1.0)
        )
    values, note = param_importances(flat)
    assert values is None and "same in every trial" in note


def test_top_trials_are_feasible_and_best_first(page: str, study) -> None:
    top = tuning.top_trials(study, 20)
    table = page[page.index('<section id="top">') : page.index('<section id="equity">')]
    numbers = [int(n) for n in re.findall(r"<tr><td class=\"num\">(\d+)</td>", table)]
    assert numbers == [t.number for t in top]


def test_best_configuration_is_drawn_against_buy_and_hold(page: str, study) -> None:
    traces = _figure_data(page, charts.EQUITY_ID)
    best = tuning.best_trial(study)
    assert [t["name"] for t in traces] == [f"best trial #{best.number}", "buy_and_hold"]


def test_user_text_is_escaped(evaluator) -> None:
    study = constructed_study(evaluator, name=HOSTILE_NAME, param=HOSTILE_PARAM, n=8)
    hostile = settings() | {"fixed": {"note": HOSTILE_SETTING}}
    document = render_study_report(
        study,
        evaluator=_IgnoringFixed(evaluator, HOSTILE_PARAM),
        ledger_trials=10,
        settings=hostile,
        provenance={"command": HOSTILE_SETTING},
    )
    for raw in (HOSTILE_NAME, HOSTILE_PARAM, HOSTILE_SETTING):
        assert raw not in document
    assert "<h1>costbt tune: &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in document
    assert "<th>&lt;i&gt;x&lt;/i&gt;</th>" in document
    tags = _Tags()
    tags.feed(document)
    assert not [t for t, _ in tags.tags if t in ("i", "img")]
    assert not [(t, a) for t, a in tags.tags if any(k.startswith("on") for k in a)]
    assert find_external_references(document) == []


class _IgnoringFixed:
    """The constructed evaluator, reading the hostile parameter name as ``x``."""

    def __init__(self, inner: ConstructedEvaluator, name: str) -> None:
        self.inner, self.name, self.panel = inner, name, inner.panel

    def returns(self, params, start=None, end=None):
        return self.inner.returns({"x": params[self.name], "y": params["y"]}, start, end)

    def row(self, params):
        return self.inner.row(params)


def test_a_study_without_a_feasible_trial_says_why(evaluator) -> None:
    study = constructed_study(evaluator, n=5, all_infeasible=True)
    document = render_study_report(study, evaluator=evaluator, ledger_trials=5, settings=settings())
    assert (
        "No verdict: the study has no feasible completed trial (none with at least 3 trades)."
        in (document)
    )
    assert find_external_references(document) == []


# --------------------------------------------------------------------------- the command


def _app() -> typer.Typer:
    from costbt.backtest.cli.commands.tune_cmd import register

    app = typer.Typer()
    register(app)

    @app.command("noop", hidden=True)
    def _noop() -> None:  # a second command keeps "tune" a subcommand
        pass

    return app


def test_tune_command_writes_the_report_after_the_run(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "study.html"
    args = ["tune", "--n-trials", "6", "--study", "cli-report", "--cache-dir", str(tmp_path)]
    args += ["--start", "2019-01-01", "--end", "2021-12-31", "--report", str(target)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output
    document = target.read_text(encoding="utf-8")
    assert "<td>study</td><td>cli-report</td>" in document
    assert "<td>ledger_trials</td><td>6</td>" in document
    assert "<strong>Verdict:</strong>" in document
    assert find_external_references(document) == []


def test_tune_command_exits_2_when_the_report_folder_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ["tune", "--n-trials", "3", "--cache-dir", str(tmp_path)]
    result = CliRunner().invoke(_app(), [*args, "--report", str(blocker / "r.html")])
    assert result.exit_code == 2
    assert f"--report: {blocker} is a file, not a folder" in result.output
    assert not (tmp_path / "optuna").exists()  # nothing was run


def test_the_top_trials_table_names_degenerate_trials() -> None:
    from costbt.reports.study_html import trial_table

    trial = optuna.trial.create_trial(
        params={"x": 0.5},
        distributions={"x": optuna.distributions.FloatDistribution(0.0, 1.0)},
        value=1.0,
        user_attrs={
            "trial": {
                "run": "r",
                "flag": "buy_and_hold",
                "metrics": {"exposure": 0.99, "exits_signal": 0.0, "exits_end": 1.0},
            }
        },
    )
    table = trial_table([trial], "sharpe")
    assert "indistinguishable from buy-and-hold" in table
    assert "<th>exits by cause</th>" in table and "<td>1 end</td>" in table
    assert "entry rule on" in table


def test_buy_and_hold_is_charged_the_best_trials_own_costs(evaluator, monkeypatch) -> None:
    # fees_bps searched: the benchmark pays the fees the best trial paid, not the defaults
    import costbt.reports.study_html as study_html

    searched = constructed_study(evaluator, name="fees-searched", param="fees_bps")
    seen: list[dict] = []
    real = study_html.span_buy_and_hold

    def recording(ev, params, days):
        seen.append(dict(params))
        return real(ev, params, days)

    monkeypatch.setattr(study_html, "span_buy_and_hold", recording)
    render_study_report(
        searched,
        evaluator=evaluator,
        ledger_trials=LEDGER,
        settings=settings(name_value="fees_bps"),
    )
    best = distinct_feasible_trials(searched)[0]
    assert seen and seen[0]["fees_bps"] == best.params["fees_bps"]
