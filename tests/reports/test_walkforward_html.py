"""The walk-forward report (``costbt walkforward --report``): verdict, windows, OOS, offline, escaped.

The input is a `backtest.walkforward.WalkForwardResult` BUILT BY HAND from CONSTRUCTED data
(`tests.reports.constructed.constructed_walkforward`: three windows, hand-made studies, seeded
noise returns; no market data, no engine). One test opens the page in headless Chromium.
"""

from __future__ import annotations

import inspect
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from costbt.backtest import metrics, validation
from costbt.reports import charts
from costbt.reports import walkforward_html as wf_html
from costbt.reports.offline import CONTENT_SECURITY_POLICY, find_external_references
from costbt.reports.tables import esc
from tests.browser import chromium_binary, inspect_page
from tests.reports.constructed import ConstructedEvaluator, constructed_walkforward

LEDGER = 4321
HOSTILE = "<script>alert(1)</script>"
HOSTILE_NOTE = "</pre><img src=x onerror=alert(2)>"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def _figure_data(document: str, div_id: str) -> list[dict]:
    match = re.search(r"Plotly\.newPlot\(\s*" + re.escape(json.dumps(div_id)) + r",\s*", document)
    assert match, f"no figure {div_id}"
    data, _ = json.JSONDecoder().raw_decode(document, match.end())
    return data


@pytest.fixture(scope="module")
def evaluator() -> ConstructedEvaluator:
    return ConstructedEvaluator()


@pytest.fixture(scope="module")
def result(evaluator):
    return constructed_walkforward(evaluator)


@pytest.fixture(scope="module")
def page(result) -> str:
    return wf_html.render_walkforward_report(
        result, ledger_trials=LEDGER, provenance={"seed": 0, "command": "costbt walkforward"}
    )


def test_walkforward_report_is_one_self_contained_file(page: str) -> None:
    assert find_external_references(page) == []
    assert page.count("* plotly.js v") == 1
    assert f'content="{esc(CONTENT_SECURITY_POLICY)}"' in page


def test_walkforward_verdict_comes_first_and_every_section_follows(page: str) -> None:
    assert page.index('<p class="verdict') < page.index("<section")
    assert re.findall(r"<h2>(.*?)</h2>", page) == list(wf_html.HEADINGS.values())
    assert "<td>ledger_trials</td><td>4321</td>" in page
    assert "<td>trials</td><td>36</td>" in page
    assert "&quot;train&quot;: &quot;2y&quot;" in page  # the settings block


def test_walkforward_table_shows_in_and_out_of_sample_per_window(page: str, result) -> None:
    table = page[page.index('<section id="windows">') : page.index('<section id="equity">')]
    for w in result.windows:
        assert f"{w.window.test_start.date()}..{w.window.test_end.date()}" in table
        assert f"{w.params['x']:.6g}" in table
        assert (
            f"{w.is_metrics['sharpe']:.3f}" in table and f"{w.oos_metrics['sharpe']:.3f}" in table
        )


def test_walkforward_charts_cover_the_oos_days_and_every_window(page: str, result) -> None:
    equity = _figure_data(page, charts.EQUITY_ID)
    assert [t["name"] for t in equity] == ["walk-forward (OOS)", "buy_and_hold"]
    assert len(equity[0]["x"]) == len(equity[1]["x"]) == len(result.oos_returns)
    bars = _figure_data(page, wf_html.SHARPE_ID)
    assert [len(b["y"]) for b in bars] == [3, 3, 3]
    assert bars[1]["y"] == pytest.approx([w.oos_metrics["sharpe"] for w in result.windows])
    history = _figure_data(page, wf_html.HISTORY_ID)
    assert len(history) == 3 * len(result.windows)  # feasible, infeasible, best: per window


def test_walkforward_pbo_is_not_shown_without_candidate_returns(page: str) -> None:
    assert "PBO n/a" in page
    assert "CSCV needs the daily returns of the candidate configurations" in page


def test_walkforward_pbo_uses_the_last_windows_candidates_given_an_evaluator(
    result, evaluator
) -> None:
    a = wf_html.assess(result, LEDGER, evaluator)
    last = result.windows[-1].study
    n = len([t for t in last.trials if t.constraints.get("min_trades", 1) <= 0])
    assert a.pbo is not None and 0.0 <= a.pbo <= 1.0
    assert a.pbo_note.startswith(
        f"last tuned window's training span, all {n} feasible trials with distinct parameters; "
        "CSCV over"
    )


def test_walkforward_record_is_deflated_by_the_walkforward_runs_not_the_ledger(result) -> None:
    a = wf_html.assess(result, LEDGER)
    assert a.n_trials == 1 and a.expected_max_sharpe == 0.0
    assert a.dsr == pytest.approx(a.psr) and a.dsr_vs_bh == pytest.approx(a.psr_vs_bh)
    assert a.dsr_note.startswith("N = 1 walk-forward configuration run on this data")
    assert "nothing is deflated (DSR = PSR)" in a.dsr_note
    assert a.verdict.endswith("(N = 1 walk-forward configuration run on this data)")


def test_walkforward_v_is_the_spread_of_the_runs_out_of_sample_sharpes(result) -> None:
    earlier = [0.4, 0.9, 1.3]
    a = wf_html.assess(result, LEDGER, walkforward_runs=4, walkforward_sharpes=earlier)
    sharpe = metrics.sharpe(result.oos_returns)
    per_day = np.array([*earlier, sharpe]) / np.sqrt(365)
    assert a.n_trials == 4 and a.sr_variance == pytest.approx(float(np.var(per_day, ddof=1)))
    sr, n_obs, skew, kurt = validation.sharpe_moments(result.oos_returns)
    sr_bh = validation.sharpe_moments(result.benchmark_returns)[0]
    sr0 = validation.expected_max_sharpe(a.sr_variance, 4)
    assert a.dsr_vs_bh == pytest.approx(
        validation.probabilistic_sharpe_ratio(sr, sr_bh + sr0, n_obs, skew, kurt)
    )
    assert "N = 4 walk-forward configurations run on this data" in a.dsr_note
    assert "of 4 of them" in a.dsr_note


def test_walkforward_runs_without_known_sharpes_are_not_deflated_and_say_so(result) -> None:
    a = wf_html.assess(result, LEDGER, walkforward_runs=5)
    assert a.n_trials == 5 and a.dsr_vs_bh == pytest.approx(a.psr_vs_bh)
    assert "V is unknown" in a.dsr_note and "DSR = PSR" in a.dsr_note


def test_walkforward_page_says_what_the_record_was_and_was_not_selected_among(result) -> None:
    document = wf_html.render_walkforward_report(
        result, ledger_trials=LEDGER, walkforward_runs=3, walkforward_sharpes=[0.5, 1.0]
    )
    assert (
        "stitched out-of-sample record was not selected among the 36 trials of its windows; it "
        "is deflated by the 3 walk-forward configurations run on this data"
    ) in document
    bh = metrics.sharpe(result.benchmark_returns)
    assert f"buy-and-hold on the same days: Sharpe {metrics.sharpe(result.oos_returns):.2f} " in (
        document
    )
    assert f"against {bh:.2f}" in document
    assert "(N = 3 walk-forward configurations run on this data)" in document


def test_walkforward_user_text_is_escaped(evaluator) -> None:
    hostile = constructed_walkforward(evaluator, strategy=HOSTILE)
    document = wf_html.render_walkforward_report(
        hostile, ledger_trials=1, provenance={"command": HOSTILE_NOTE}
    )
    assert HOSTILE not in document and HOSTILE_NOTE not in document
    assert "<h1>costbt walkforward: &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in document

    tags = _Tags()
    tags.feed(document)
    assert not [t for t, a in tags.found if t == "img" or any(k.startswith("on") for k in a)]


def test_write_walkforward_report_has_the_signature_the_command_calls(tmp_path, result) -> None:
    params = inspect.signature(wf_html.write_walkforward_report).parameters
    assert params["ledger_trials"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["provenance"].default is None
    path = wf_html.write_walkforward_report(
        result, tmp_path / "new" / "wf.html", ledger_trials=3, provenance=None
    )
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["wf.html"]


READY = """[...document.querySelectorAll('.plotly-graph-div')].length > 0 &&
[...document.querySelectorAll('.plotly-graph-div')].every(
  d => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg'))"""
PROBE = """(() => ({
  plots: [...document.querySelectorAll('.js-plotly-plot')].map(
    p => ({id: p.id, traces: (p._fullData || []).length, width: p.getBoundingClientRect().width})),
  verdict: document.querySelector('p.verdict').textContent,
}))()"""


@pytest.mark.skipif(
    chromium_binary() is None,
    reason="browser test skipped: Chromium is not installed (/usr/bin/chromium missing; "
    ".ci/run installs it with 'apt-get install chromium' when run as root)",
)
def test_walkforward_report_renders_in_chromium_offline_without_errors(
    tmp_path: Path, page: str
) -> None:
    path = tmp_path / "wf.html"
    path.write_text(page, encoding="utf-8")
    run = inspect_page(path, ready=READY, probe=PROBE)
    assert run.console_errors == []
    assert run.requests == [path.resolve().as_uri()] and run.failed == {}
    plots = run.result["plots"]
    assert [p["id"] for p in plots] == [charts.EQUITY_ID, wf_html.SHARPE_ID, wf_html.HISTORY_ID]
    assert all(p["traces"] >= 3 and p["width"] > 600 for p in plots[1:]), plots
    assert run.result["verdict"].startswith("Verdict: ")
