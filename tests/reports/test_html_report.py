"""The HTML report: one self-contained file, every section, 365-day quantstats, escaping, tz input.

The input is the hand-built `tests.reports.sample` result on real 2020 closes (test input, not an
engine run). Two reports are rendered (quantstats takes a few seconds each): the sample, written
with `write_report`, and an adversarial one (hostile strings everywhere, tz-aware indexes in
America/New_York). Everything else uses a stubbed tear sheet or no rendering at all.
"""

from __future__ import annotations

import dataclasses
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from costbt.backtest.result import BacktestResult
from costbt.reports import charts
from costbt.reports.html import HEADINGS, TearsheetWarning, render_report, write_report
from costbt.reports.normalise import normalise_result
from costbt.reports.offline import find_external_references
from costbt.reports.tearsheet import (
    TearsheetError,
    embeddable_fragment,
    safe_label,
    scope_css,
)
from tests.reports.sample import build_result

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_VALUE = '<b>&"'
HOSTILE_STRATEGY = "<img src=x onerror=alert(2)>"
HOSTILE_PARAM_NAME = "<i>name</i>"
HOSTILE_STATUS = "<svg onload=alert(3)>"
HOSTILE_BENCHMARK = "<em>dca</em>"
HOSTILE_CONFIG = "</pre><script>alert(4)</script>"
INJECTED_TAGS = {"b", "i", "em", "img"}
CHART_IDS = (charts.PRICE_COST_ID, charts.EQUITY_ID, charts.DRAWDOWN_ID)


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of every <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    parser.close()
    return parser


def _markup(document: str) -> str:
    """The document with every <script> body emptied (the inline plotly.js bundle is code)."""
    return re.sub(r"(<script\b[^>]*>).*?(</script\s*>)", r"\1\2", document, flags=re.S | re.I)


def _quantstats_row(document: str, metric: str) -> list[str]:
    """Cells of one row of quantstats' metrics table (benchmark column first)."""
    tear = document[document.index('<div class="qs-tearsheet">') :]
    match = re.search(rf"<tr><td>{re.escape(metric)}</td>((?:<td>[^<]*</td>)+)</tr>", tear)
    assert match, f"no '{metric}' row in the tear sheet"
    return re.findall(r"<td>([^<]*)</td>", match.group(1))


def _adversarial() -> BacktestResult:
    base = build_result(
        title=HOSTILE_TITLE,
        params={"note": HOSTILE_VALUE, HOSTILE_PARAM_NAME: 1, "entry_ratio": 1.0},
        tz="America/New_York",
    )
    trades = base.trades.assign(status=base.trades["status"] + HOSTILE_STATUS)
    rename = {"weekly_dca": HOSTILE_BENCHMARK}
    return dataclasses.replace(
        base,
        strategy=HOSTILE_STRATEGY,
        trades=trades,
        benchmarks={rename.get(k, k): v for k, v in base.benchmarks.items()},
        benchmark_equity={rename.get(k, k): v for k, v in base.benchmark_equity.items()},
        metrics=base.metrics.rename(columns=rename),
        config={**base.config, "comment": HOSTILE_CONFIG},
    )


@pytest.fixture(scope="module")
def html(sample_report: Path) -> str:
    return sample_report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hostile_html() -> str:
    return render_report(_adversarial())


# ----------------------------------------------------------------- the file


def test_report_is_written_to_new_folders_without_leftovers(sample_report: Path) -> None:
    assert sample_report.is_file()
    assert sample_report.stat().st_size > 1_000_000  # plotly.js alone is ~4.8 MB
    assert [p.name for p in sample_report.parent.iterdir()] == ["sample.html"]


def test_report_is_one_self_contained_file(html: str) -> None:
    markup = _markup(html).lower()
    for forbidden in ('src="http', "src='http", 'href="http', "href='http", "@import", "url(http"):
        assert forbidden not in markup, forbidden
    assert not re.search(r"<link\b[^>]*rel=[\"']?stylesheet", markup)
    assert find_external_references(html) == []
    tags = _parse(html).tags
    assert all("src" not in attrs for tag, attrs in tags if tag == "script")
    assert all(attrs["src"].startswith("data:") for tag, attrs in tags if tag == "img")
    assert all(attrs["href"].startswith(("#", "data:")) for tag, attrs in tags if "href" in attrs)
    # plotly.js inlined exactly once; the browser is told to refuse any fetch.
    assert html.count("* plotly.js v") == 1
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and "default-src 'none'" in csp[0]["content"]
    # The only "href=\"http" text left is inside the plotly.js bundle's code (map attributions
    # and the logo link, unused): outside <script> bodies there is none (checked above).
    bundle = max(_parse(html).scripts, key=len)
    assert html.count('href="http') == bundle.count('href="http')


def test_every_section_and_chart_is_present(html: str) -> None:
    for section_id, heading in HEADINGS.items():
        assert f'<section id="{section_id}">\n<h2>{heading}</h2>' in html
    for chart_id in CHART_IDS:
        assert html.count(f'id="{chart_id}"') == 1
        assert re.search(rf'Plotly\.newPlot\(\s*"{chart_id}"', html)
    assert "cost P10-P90 band" in html and "production cost" in html
    assert "entry (fill): 2" in html and "exit (fill): 1" in html
    # Trades (one open), parameters, metrics of all three, provenance with the manifest hash.
    assert "2 trades (1 closed, 1 open)" in html
    assert "<td>2020-03-13</td><td>2020-06-01</td>" in html
    assert "<td>entry_ratio</td><td>1.0</td>" in html
    assert "<th>below_cost</th><th>buy_and_hold</th><th>weekly_dca</th>" in html
    for key in ("costbt_version", "git_commit", "data_manifest_sha256", "seed"):
        assert f"<td>{key}</td>" in html
    assert "&quot;init_cash&quot;: 10000.0" in html  # the config block
    # quantstats: inline SVG figures and its metrics, scoped so its CSS stays inside.
    tear = html[html.index('<div class="qs-tearsheet">') :]
    assert tear.count("<svg") >= 10
    assert ".qs-tearsheet img,.qs-tearsheet svg{width:100%}" in html


def test_quantstats_annualises_over_365_days(html: str, sample_result: BacktestResult) -> None:
    assert "Periods/Year: 365" in html
    for column, returns in (
        (0, sample_result.benchmarks["buy_and_hold"]),
        (1, sample_result.returns),
    ):
        mean, sd = returns.mean(), returns.std(ddof=1)
        shown = float(_quantstats_row(html, "Sharpe")[column])
        assert shown == pytest.approx(mean / sd * math.sqrt(365), abs=0.006)
        assert shown != pytest.approx(mean / sd * math.sqrt(252), abs=0.006)  # tells them apart
        total = (1 + returns).prod() - 1
        cagr = float(_quantstats_row(html, "CAGR%")[column].rstrip("%"))
        assert cagr == pytest.approx(100 * ((1 + total) ** (365 / len(returns)) - 1), abs=0.006)
    # Flat days before the first entry count (no date matching): costbt's own Sharpe agrees.
    ours = sample_result.metrics.loc["sharpe", "below_cost"]
    assert float(_quantstats_row(html, "Sharpe")[1]) == pytest.approx(ours, abs=0.006)


# ----------------------------------------------------------------- hostile and tz-aware input


def test_user_text_is_escaped_everywhere(hostile_html: str) -> None:
    for raw in (HOSTILE_TITLE, HOSTILE_VALUE, HOSTILE_STRATEGY, HOSTILE_PARAM_NAME):
        assert raw not in hostile_html
    for raw in (HOSTILE_STATUS, HOSTILE_BENCHMARK, HOSTILE_CONFIG):
        assert raw not in hostile_html
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in hostile_html
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in hostile_html
    assert "<td>note</td><td>&lt;b&gt;&amp;&quot;</td>" in hostile_html
    assert "<td>&lt;i&gt;name&lt;/i&gt;</td>" in hostile_html
    assert "Closed&lt;svg onload=alert(3)&gt;" in hostile_html
    parsed = _parse(hostile_html)
    assert not [tag for tag, _ in parsed.tags if tag in INJECTED_TAGS]
    assert not [(t, a) for t, a in parsed.tags if any(k.startswith("on") for k in a)]
    for script in parsed.scripts:
        assert "alert(1)" not in script and "<img" not in script and "</pre>" not in script
    assert find_external_references(hostile_html) == []


def test_tz_aware_input_gives_the_same_report(hostile_html: str, html: str) -> None:
    # Same returns, so the same quantstats numbers; days shown as the same UTC dates.
    for metric in ("Sharpe", "CAGR%", "Max Drawdown", "Volatility (ann.)"):
        assert _quantstats_row(hostile_html, metric) == _quantstats_row(html, metric)
    assert "2020-01-01 to 2020-12-31 (366 days)" in hostile_html
    assert "<td>2020-03-13</td><td>2020-06-01</td>" in hostile_html
    assert "entry (fill): 2" in hostile_html and "exit (fill): 1" in hostile_html


def test_normalise_makes_every_axis_naive_utc(sample_result: BacktestResult) -> None:
    aware = build_result(tz="Asia/Tokyo")
    norm = normalise_result(aware)
    for a, b in (
        (norm.returns, sample_result.returns),
        (norm.price, sample_result.price),
        (norm.cost_band, sample_result.cost_band),
        (norm.benchmark_equity["weekly_dca"], sample_result.benchmark_equity["weekly_dca"]),
    ):
        assert a.index.tz is None
        assert a.index.equals(b.index)
    assert norm.entries.equals(sample_result.entries)
    pd.testing.assert_series_equal(norm.trades["entry_time"], sample_result.trades["entry_time"])


# ----------------------------------------------------------------- fast: stubbed tear sheet


@pytest.fixture()
def stub_tearsheet(monkeypatch):
    monkeypatch.setattr(
        "costbt.reports.html.tearsheet_html", lambda *a, **k: '<div class="qs-tearsheet">stub</div>'
    )


def test_report_without_cost_still_marks_fills(stub_tearsheet, sample_result) -> None:
    page = render_report(dataclasses.replace(sample_result, cost=None, cost_band=None))
    assert "uses no production cost" in page
    assert 'id="chart-price-cost"' in page
    assert "cost P10-P90 band" not in page and "production cost&quot;" not in page
    assert "entry (fill): 2" in page


def test_quantstats_failure_leaves_the_rest_of_the_report(monkeypatch, sample_result) -> None:
    def broken(*args, **kwargs):
        raise TearsheetError("quantstats failed: KeyError: <boom>")

    monkeypatch.setattr("costbt.reports.html.tearsheet_html", broken)
    with pytest.warns(TearsheetWarning, match="tear sheet left out"):
        page = render_report(sample_result)
    assert "could not be rendered: quantstats failed: KeyError: &lt;boom&gt;" in page
    assert all(f'id="{c}"' in page for c in CHART_IDS)


def test_write_report_is_atomic(monkeypatch, tmp_path, sample_result) -> None:
    target = tmp_path / "a" / "b" / "r.html"
    monkeypatch.setattr("costbt.reports.html.render_report", lambda result: "<!DOCTYPE html>ok")
    assert write_report(sample_result, target) == target
    assert target.read_text() == "<!DOCTYPE html>ok"

    def fail(result):
        raise RuntimeError("render failed")

    monkeypatch.setattr("costbt.reports.html.render_report", fail)
    with pytest.raises(RuntimeError):
        write_report(sample_result, target)
    assert target.read_text() == "<!DOCTYPE html>ok"  # the old report is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["r.html"]


# ----------------------------------------------------------------- fast: the pieces


@pytest.mark.parametrize(
    "snippet",
    [
        '<img src="http://example.com/a.png">',
        "<script src='https://cdn.plot.ly/plotly.min.js'></script>",
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Lato">',
        '<link rel="shortcut icon" href="https://qtpylib.io/favicon.ico">',
        "<style>@import url(http://example.com/x.css);</style>",
        '<div style="background: url(//example.com/x.png)"></div>',
        '<a href="http://quantstats.io">QuantStats</a>',
        '<svg><use xlink:href="https://example.com/s.svg#a"/></svg>',
        '<img src="local.png">',
        '<meta http-equiv="refresh" content="0; url=http://example.com">',
        '<base href="http://example.com/">',
    ],
)
def test_outside_references_are_found(snippet: str) -> None:
    assert find_external_references(f"<html><body>{snippet}</body></html>")


def test_inside_references_are_allowed() -> None:
    page = (
        '<a href="#trades">t</a><img src="data:image/png;base64,AAAA">'
        '<svg xmlns="http://www.w3.org/2000/svg"><use xlink:href="#p1"/></svg>'
        '<link rel="icon" href="data:,"><style>.a{background:url(data:image/png;base64,A)}</style>'
        "<script>var u = 'https://cdn.plot.ly/un/';</script>"
    )
    assert find_external_references(page) == []


def test_quantstats_page_is_made_embeddable() -> None:
    page = """<html><head><link rel="shortcut icon" href="https://qtpylib.io/favicon.ico">
    <style>body{margin:30px}img,svg{width:100%}@media print{#left{width:55%}}</style></head>
    <body onload="save()"><div class="container"><h4>by <a href="http://quantstats.io"
    target="quantstats">QuantStats</a></h4><?xml version="1.0"?>
    <!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
    <svg><metadata><rdf:RDF><dc:title>Matplotlib, https://matplotlib.org/</dc:title></rdf:RDF>
    </metadata><defs><style type="text/css">*{stroke-linejoin: round}</style></defs></svg>
    <table><tr><td>CAGR\ufe6a</td></tr></table></div>
    <style>*{white-space:auto !important;}</style></body></html>"""
    fragment = embeddable_fragment(page)
    assert fragment.startswith('<div class="qs-tearsheet">')
    for gone in ("qtpylib", "onload", "save()", "quantstats.io", "<?xml", "DOCTYPE", "metadata"):
        assert gone not in fragment
    assert "by QuantStats" in fragment
    assert ".qs-tearsheet{margin:30px}" in fragment
    assert ".qs-tearsheet img,.qs-tearsheet svg{width:100%}" in fragment
    assert "@media print{.qs-tearsheet #left{width:55%}}" in fragment
    assert ".qs-tearsheet *{stroke-linejoin: round}" in fragment
    assert "<td>CAGR%</td>" in fragment
    assert find_external_references(fragment) == []


def test_scope_css_drops_imports_and_handles_roots() -> None:
    css = "@import url(http://x/y.css); html,body p{color:red} :root{--a:1} @font-face{src:x}"
    assert scope_css(css, ".s") == ".s,.s p{color:red}\n.s{--a:1}"


def test_labels_for_quantstats_lose_markup() -> None:
    assert safe_label("below_cost", "Strategy") == "below_cost"
    assert safe_label(HOSTILE_STRATEGY, "Strategy") == "img srcx onerroralert2"
    assert safe_label("<>&", "Strategy") == "Strategy"


def test_band_outline_never_bridges_unknown_days() -> None:
    idx = pd.date_range("2020-01-01", periods=6, freq="D")
    band = pd.DataFrame(
        {"p10": [1, 1, None, None, 2, 2], "p90": [3, 3, None, None, 4, 4]}, index=idx
    )
    xs, ys = charts.band_outline(band)
    assert xs.count(None) == 1  # two runs, drawn as two closed shapes
    first = xs[: xs.index(None)]
    assert first == [idx[0], idx[1], idx[1], idx[0]]
    assert ys[: xs.index(None)] == [3, 3, 1, 1]


def test_provenance_without_git_says_unknown(monkeypatch) -> None:
    from costbt.backtest import provenance as facts
    from costbt.reports import provenance

    monkeypatch.setattr(facts, "_git", lambda *a, **k: None)
    values = provenance.merged({"data_manifest_hash": "abc", "config": {"x": 1}}, {"seed": 7})
    assert values["git_commit"] == "unknown" and values["git_dirty"] == "unknown"
    assert values["data_manifest_sha256"] == "abc" and "data_manifest_hash" not in values
    assert values["seed"] == 7 and "config" not in values
    assert list(values)[:5] == [
        "costbt_version",
        "git_commit",
        "git_dirty",
        "data_manifest_sha256",
        "seed",
    ]


def test_the_report_says_what_the_run_was_and_flags_buy_and_hold_in_disguise(
    stub_tearsheet, sample_result
) -> None:
    metrics = sample_result.metrics.copy()
    strategy = sample_result.strategy
    metrics.loc["exposure", strategy] = 0.99
    metrics.loc["market_corr", strategy] = 0.999
    metrics.loc["exits_end", strategy] = 1.0
    flagged = dataclasses.replace(
        sample_result,
        metrics=metrics,
        flags={strategy: "buy_and_hold"},
        signal={
            "first": pd.Timestamp("2020-01-05"),
            "last": pd.Timestamp("2020-06-30"),
            "unknown_days": 40,
            "unknown_after": 30,
            "days": 200,
        },
    )
    page = render_report(flagged)
    assert f"WARNING: {strategy} is indistinguishable from buy-and-hold" in page
    assert "its inputs end on 2020-06-30: the last 30 traded day(s) have no signal" in page
    assert "exits by cause" in page and "open at the end" in page
    assert "exits: end of span" in page  # the metrics table labels the exits rows
