"""The report in a real browser: headless Chromium renders it offline, error-free, charts drawn.

Chromium is driven over the DevTools pipe (`tests/browser.py`): no WebDriver, no extra package.
How "no network request" is proven: every request the page makes is recorded from CDP
``Network.requestWillBeSent`` (fired before anything is sent, whether the network is reachable
or not, and even for a fetch the Content-Security-Policy then blocks), and the test requires
exactly one request, the report's own ``file://`` URL. On top, the report's policy makes the
browser refuse any fetch and log a console error, and the test requires no console error at all.
A control test shows both detectors fire on pages that do fetch, with and without the policy.

Chromium comes from Debian (``/usr/bin/chromium``); ``.ci/run`` installs it when missing. Without
it the tests skip and say so. A full-page screenshot is saved to
``reports/out/screenshots/report.png`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from costbt.reports import charts
from costbt.reports.html import HEADINGS
from costbt.reports.offline import CONTENT_SECURITY_POLICY
from tests.browser import Chromium, chromium_binary, inspect_page

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "reports" / "out" / "screenshots" / "report.png"
CHART_IDS = [charts.PRICE_COST_ID, charts.EQUITY_ID, charts.DRAWDOWN_ID]

pytestmark = pytest.mark.skipif(
    chromium_binary() is None,
    reason="browser test skipped: Chromium is not installed (/usr/bin/chromium missing; "
    ".ci/run installs it with 'apt-get install chromium' when run as root)",
)

# Every plotly div has been drawn (plotly adds .js-plotly-plot and an svg.main-svg).
READY = """[...document.querySelectorAll('.plotly-graph-div')].length > 0 &&
[...document.querySelectorAll('.plotly-graph-div')].every(
  d => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg'))"""
PROBE = """(() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const box = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const qs = [...document.querySelectorAll('.qs-tearsheet svg')];
  return {
    plotly: typeof window.Plotly === 'object' && typeof window.Plotly.newPlot === 'function',
    plots: plots.map(p => ({id: p.id, traces: (p._fullData || []).length,
                            points: p.querySelectorAll('.scatterlayer .trace').length,
                            size: box(p)})),
    quantstats: qs.length,
    quantstatsDrawn: qs.filter(s => box(s)[0] > 200 && box(s)[1] > 80).length,
    headings: [...document.querySelectorAll('main > section > h2')].map(h => h.textContent),
    title: document.title,
  };
})()"""


@pytest.fixture(scope="module")
def run(sample_report: Path):
    return inspect_page(
        sample_report, ready=READY, probe=PROBE, screenshot=SCREENSHOT, full_page=True
    )


def test_report_renders_with_no_console_error(run) -> None:
    assert run.console_errors == []


def test_report_makes_no_network_request(run, sample_report: Path) -> None:
    assert run.requests == [sample_report.resolve().as_uri()]
    assert run.outside_requests() == []


def test_charts_and_tear_sheet_are_drawn(run) -> None:
    page = run.result
    assert page["plotly"], "plotly.js did not load from the inline bundle"
    assert [p["id"] for p in page["plots"]] == CHART_IDS
    for plot in page["plots"]:
        assert plot["traces"] >= 3 and plot["points"] >= 3, plot
        width, height = plot["size"]
        assert width > 600 and height > 300, plot
    assert page["quantstats"] >= 10
    assert page["quantstatsDrawn"] == page["quantstats"]
    assert page["headings"] == list(HEADINGS.values())
    assert page["title"] == "below_cost on 2020 (hand-built test input)"


def test_screenshot_is_saved(run) -> None:
    header = SCREENSHOT.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert width == 1280 and height > 3000  # the whole page, not just the first screen


def test_detectors_catch_a_page_that_fetches(tmp_path: Path) -> None:
    """Control: the same harness sees requests, console errors and CSP refusals."""
    fetching = tmp_path / "fetching.html"
    fetching.write_text(
        '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/pixel.png">'
        "<script>console.error('boom'); notDefined();</script></body></html>"
    )
    guarded = tmp_path / "guarded.html"
    guarded.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        f'content="{CONTENT_SECURITY_POLICY}"></head>'
        '<body><img src="http://127.0.0.1:9/pixel.png"></body></html>'
    )
    with Chromium() as browser:
        session = browser.open(fetching.as_uri())
        seen = browser.page_run(fetching.as_uri(), session)
        session = browser.open(guarded.as_uri())
        browser.wait_until("document.readyState === 'complete'", session)
        refused = browser.page_run(guarded.as_uri(), session)
    assert seen.outside_requests() == ["http://127.0.0.1:9/pixel.png"]
    assert any("boom" in e for e in seen.console_errors)
    assert any("notDefined" in e for e in seen.console_errors)
    # Under the report's policy the attempt is still recorded, then refused and logged.
    assert refused.outside_requests() == ["http://127.0.0.1:9/pixel.png"]
    assert refused.failed == {"http://127.0.0.1:9/pixel.png": "csp"}
    assert any("Content Security Policy" in e for e in refused.console_errors)
