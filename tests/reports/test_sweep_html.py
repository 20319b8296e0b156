"""The sweep report: pure helpers checked exactly, one self-contained file, escaping, a browser run.

The input is a small hand-built grid (test input, not an engine run): strategy parameters ``a``
and ``b``, cost assumptions ``power_price`` and ``pue``, and ``sharpe`` a known function of them
(``a + b / 10 - 10 * power_price - pue``), with one combination's sharpe set to NaN so every
aggregation must skip it. Expected values are computed here with plain loops and
`statistics.median`, not with the module's pandas code.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from costbt.reports.offline import CONTENT_SECURITY_POLICY, find_external_references
from costbt.reports.sweep_html import (
    HEADINGS,
    HEATMAP_ID,
    MAX_PAIRS,
    SENSITIVITY_ID,
    heatmap_matrix,
    render_sweep_report,
    sensitivity,
    snap_fixed,
    top_combinations,
    write_sweep_report,
)
from tests.browser import chromium_binary, inspect_page

A = [1, 2, 3]
B = [10, 20]
POWER = [0.03, 0.05, 0.07]
PUE = [1.1, 1.3]
SWEPT = ["a", "b", "power_price", "pue"]
ASSUMPTIONS = ["power_price", "pue"]
NAN_AT = (3, 20, 0.03, 1.1)  # the best combination loses its value
PROVENANCE = {"costbt_version": "0.0-test", "git_commit": "abc123", "seed": 7}

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_PARAM = "<i>variant</i>"
HOSTILE_VALUE = "<b>x</b>"
HOSTILE_PROVENANCE = "</td><img src=x onerror=alert(2)>"


def _sharpe(a, b, p, u) -> float:
    if (a, b, p, u) == NAN_AT:
        return float("nan")
    return a + b / 10 - 10 * p - u


def _grid() -> pd.DataFrame:
    rows = []
    for a, b, p, u in itertools.product(A, B, POWER, PUE):
        s = _sharpe(a, b, p, u)
        rows.append(
            {
                "a": a,
                "b": b,
                "power_price": p,
                "pue": u,
                "total_return": s / 10,
                "cagr": s / 20,
                "sharpe": s,
                "max_drawdown": -0.5 + s / 100,
                "exposure": 0.4,
                "trades": float(a * 2),
                "final_equity": 10_000 * (1 + s / 10),
            }
        )
    # Shuffled, so nothing relies on the input being sorted.
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)


def _median_skipping_nan(values) -> float:
    kept = [v for v in values if not np.isnan(v)]
    return statistics.median(kept) if kept else float("nan")


def _render(results: pd.DataFrame | None = None, **kwargs) -> str:
    args = {
        "swept": SWEPT,
        "assumptions": ASSUMPTIONS,
        "metric": "sharpe",
        "top": 5,
        "title": "Sweep of below_cost (hand-built grid)",
        "provenance": PROVENANCE,
    } | kwargs
    return render_sweep_report(_grid() if results is None else results, **args)


class _Tags(HTMLParser):
    """Start tags with attributes, the text of each <script>, and the text outside scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.markup_text: list[str] = []
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
        else:
            self.markup_text.append(data)


def _parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    parser.close()
    return parser


def _figure_data(document: str, div_id: str) -> list[dict]:
    """The trace list passed to ``Plotly.newPlot`` for ``div_id``, read back from the page."""
    match = re.search(r"Plotly\.newPlot\(\s*" + re.escape(json.dumps(div_id)) + r",\s*", document)
    assert match, f"no figure {div_id}"
    data, _ = json.JSONDecoder().raw_decode(document, match.end())
    return data


@pytest.fixture(scope="module")
def page() -> str:
    return _render()


# --------------------------------------------------------------------------- pure helpers


def test_heatmap_matrix_is_the_median_over_other_parameters() -> None:
    results = _grid()
    matrix = heatmap_matrix(results, "a", "power_price", "sharpe")
    assert list(matrix.columns) == A and list(matrix.index) == POWER
    for a, p in itertools.product(A, POWER):
        expected = _median_skipping_nan(_sharpe(a, b, p, u) for b in B for u in PUE)
        assert matrix.loc[p, a] == pytest.approx(expected, abs=1e-12), (a, p)
    # The NaN is skipped, not propagated: its cell is the median of the other three.
    assert matrix.loc[0.03, 3] == pytest.approx(
        statistics.median([_sharpe(3, 10, 0.03, 1.1), _sharpe(3, 10, 0.03, 1.3), 3 + 2 - 0.3 - 1.3])
    )


def test_heatmap_matrix_holds_fixed_parameters_at_the_nearest_grid_value() -> None:
    results = _grid()
    matrix = heatmap_matrix(results, "b", "a", "sharpe", fixed={"power_price": 0.049, "pue": 1.3})
    for a, b in itertools.product(A, B):
        assert matrix.loc[a, b] == pytest.approx(_sharpe(a, b, 0.05, 1.3), abs=1e-12)
    # Fixing one and aggregating the other.
    partial = heatmap_matrix(results, "a", "b", "sharpe", fixed={"pue": 1.0})
    for a, b in itertools.product(A, B):
        expected = _median_skipping_nan(_sharpe(a, b, p, 1.1) for p in POWER)
        assert partial.loc[b, a] == pytest.approx(expected, abs=1e-12)
    # A cell with no value at all is NaN, and still on the grid.
    only_nan = heatmap_matrix(results, "a", "b", "sharpe", fixed={"power_price": 0.03, "pue": 1.1})
    assert np.isnan(only_nan.loc[20, 3]) and only_nan.shape == (2, 3)
    assert snap_fixed(results, {"power_price": 0.06, "pue": 5}) == {"power_price": 0.05, "pue": 1.3}
    with pytest.raises(ValueError, match="not a column"):
        snap_fixed(results, {"nope": 1})


def test_sensitivity_is_best_and_median_over_everything_else() -> None:
    results = _grid()
    for param, values in (("power_price", POWER), ("pue", PUE)):
        table = sensitivity(results, param, "sharpe")
        assert list(table.columns) == ["best", "median"]
        assert list(table.index) == values
        for v in values:
            others = [
                _sharpe(a, b, p, u)
                for a, b, p, u in itertools.product(A, B, POWER, PUE)
                if {"power_price": p, "pue": u}[param] == v
            ]
            kept = [s for s in others if not np.isnan(s)]
            assert table.loc[v, "best"] == pytest.approx(max(kept), abs=1e-12)
            assert table.loc[v, "median"] == pytest.approx(statistics.median(kept), abs=1e-12)
    # The best at the cheapest power is not the NaN combination's (it is skipped).
    assert sensitivity(results, "power_price", "sharpe").loc[0.03, "best"] == pytest.approx(
        _sharpe(3, 20, 0.03, 1.3)
    )


def test_top_combinations_are_descending_with_nan_last() -> None:
    results = _grid()
    everything = top_combinations(results, "sharpe", len(results))
    values = everything["sharpe"].to_numpy()
    assert np.isnan(values[-1]) and not np.isnan(values[:-1]).any()
    assert (np.diff(values[:-1]) <= 0).all()
    best = top_combinations(results, "sharpe", 3)
    expected = sorted(
        (s for s in (_sharpe(*c) for c in itertools.product(A, B, POWER, PUE)) if not np.isnan(s)),
        reverse=True,
    )[:3]
    assert best["sharpe"].tolist() == pytest.approx(expected)
    assert tuple(best.iloc[0][SWEPT]) == (3, 20, 0.03, 1.3)


# --------------------------------------------------------------------------- the page


def test_report_is_written_atomically_to_new_folders(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "out" / "sweep.html"
    written = write_sweep_report(
        _grid(),
        swept=SWEPT,
        assumptions=ASSUMPTIONS,
        metric="sharpe",
        top=5,
        path=target,
        title="t",
        provenance=PROVENANCE,
    )
    assert written == target and target.stat().st_size > 4_000_000  # plotly.js inlined
    assert [p.name for p in target.parent.iterdir()] == ["sweep.html"]  # no temp file left


def test_report_is_one_self_contained_file(page: str) -> None:
    assert find_external_references(page) == []
    parsed = _parse(page)
    assert all("src" not in attrs for tag, attrs in parsed.tags if tag == "script")
    assert not [t for t, _ in parsed.tags if t in ("link", "img", "iframe") and t != "link"]
    metas = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert metas == [{"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}]
    bundles = [s for s in parsed.scripts if len(s) > 1_000_000]
    assert len(bundles) == 1  # plotly.js exactly once


def test_heatmaps_pairs_and_embedded_values(page: str) -> None:
    heatmaps = re.findall(r'<div id="(sweep-heatmap-\d+)"', page)
    assert heatmaps == [HEATMAP_ID.format(i) for i in range(6)]  # 4 params: all 6 pairs
    # The first pair is (a, b); its embedded z-values are the medians computed here.
    (trace,) = _figure_data(page, HEATMAP_ID.format(0))
    assert trace["type"] == "heatmap"
    assert trace["x"] == ["1", "2", "3"] and trace["y"] == ["10", "20"]
    for j, b in enumerate(B):
        for i, a in enumerate(A):
            expected = _median_skipping_nan(_sharpe(a, b, p, u) for p in POWER for u in PUE)
            assert trace["z"][j][i] == pytest.approx(expected, abs=1e-12)
    assert page.count("aggregated by median over its") >= 6
    sensitivities = re.findall(r'<div id="(sweep-sensitivity-\d+)"', page)
    assert sensitivities == [SENSITIVITY_ID.format(i) for i in range(len(ASSUMPTIONS))]
    best, median = _figure_data(page, SENSITIVITY_ID.format(1))  # pue
    table = sensitivity(_grid(), "pue", "sharpe")
    assert best["x"] == PUE and best["y"] == pytest.approx(table["best"].tolist())
    assert median["y"] == pytest.approx(table["median"].tolist())


def test_pairs_are_capped_fixed_values_are_named_and_choosable() -> None:
    results = _grid().assign(extra=lambda d: d["a"] * 0 + 1.0)
    capped = _render(results, swept=[*SWEPT, "extra"])  # 5 params, 10 pairs
    assert len(re.findall(r'<div id="sweep-heatmap-\d+"', capped)) == MAX_PAIRS
    assert "Showing 6 of 10 possible pairs." in capped
    fixed = _render(fixed={"pue": 1.25}, pairs=[("a", "power_price")])
    assert len(re.findall(r'<div id="sweep-heatmap-\d+"', fixed)) == 1
    assert (
        "a &times; power_price: Other parameters: b aggregated by median over its 2 values; "
        "pue fixed at 1.3 (nearest grid value to 1.25)." in fixed
    )
    (trace,) = _figure_data(fixed, HEATMAP_ID.format(0))
    # Row power_price 0.03, column a 3: pue held at 1.3, so the median over b of two values.
    assert trace["z"][0][2] == pytest.approx(
        statistics.median([_sharpe(3, 10, 0.03, 1.3), _sharpe(3, 20, 0.03, 1.3)])
    )
    with pytest.raises(ValueError, match="not pairs"):
        _render(pairs=[("a", "a")])
    with pytest.raises(ValueError, match="not swept"):
        _render(fixed={"nope": 1})


def test_top_table_order_and_summary(page: str) -> None:
    table = page.split('<table class="sweep-top">')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
    header, body = rows[0], rows[1:]
    assert re.findall(r"<th>(.*?)</th>", header)[:5] == ["#", "a", "b", "power_price", "pue"]
    assert "Sharpe (365)" in header and "max drawdown" in header and "final_equity" in header
    assert len(body) == 5
    firsts = [re.findall(r"<td[^>]*>(.*?)</td>", r)[1:5] for r in body]
    expected = top_combinations(_grid(), "sharpe", 5)
    assert firsts == [
        [str(int(r.a)), str(int(r.b)), repr(r.power_price), repr(r.pue)]
        for r in expected.itertuples()
    ]
    assert firsts[0] == ["3", "20", "0.03", "1.3"]
    assert "<td>combinations evaluated</td><td>36</td>" in page
    assert "<td>combinations with a sharpe value</td><td>35</td>" in page
    assert "<td>git_commit</td><td>abc123</td>" in page and "<td>seed</td><td>7</td>" in page
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == list(HEADINGS.values())


def test_user_text_is_escaped_everywhere() -> None:
    results = _grid()
    results[HOSTILE_PARAM] = np.where(results["a"] > 1, HOSTILE_VALUE, "plain")
    page = _render(
        results,
        swept=[*SWEPT, HOSTILE_PARAM],
        assumptions=[*ASSUMPTIONS, HOSTILE_PARAM],
        title=HOSTILE_TITLE,
        provenance={**PROVENANCE, "note": HOSTILE_PROVENANCE, HOSTILE_PARAM: 1},
        pairs=[("a", HOSTILE_PARAM)],
    )
    for raw in (HOSTILE_TITLE, HOSTILE_PARAM, HOSTILE_VALUE, HOSTILE_PROVENANCE):
        assert raw not in page
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in page
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in page  # the value in the top table
    assert "<th>&lt;i&gt;variant&lt;/i&gt;</th>" in page
    assert "<td>&lt;/td&gt;&lt;img src=x onerror=alert(2)&gt;</td>" in page
    parsed = _parse(page)
    assert {t for t, _ in parsed.tags} & {"i", "b", "img"} == set()
    (trace,) = _figure_data(page, HEATMAP_ID.format(0))
    assert trace["y"] == ["&lt;b&gt;x&lt;/b&gt;", "plain"]  # shown as text by plotly
    for script in parsed.scripts:
        assert "alert(1)" not in script and "<b>" not in script and "<img" not in script
    assert find_external_references(page) == []


# --------------------------------------------------------------------------- browser

READY = """[...document.querySelectorAll('.plotly-graph-div')].length > 0 &&
[...document.querySelectorAll('.plotly-graph-div')].every(
  d => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg'))"""
PROBE = """(() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return {
    plots: plots.map(p => ({id: p.id, traces: (p._fullData || []).length,
                            heat: p.querySelectorAll('.heatmaplayer image, .hm image').length,
                            width: p.getBoundingClientRect().width})),
    headings: [...document.querySelectorAll('main > section > h2')].map(h => h.textContent),
    title: document.title,
  };
})()"""


@pytest.mark.skipif(
    chromium_binary() is None,
    reason="browser test skipped: Chromium is not installed (/usr/bin/chromium missing; "
    ".ci/run installs it with 'apt-get install chromium' when run as root)",
)
def test_report_renders_in_chromium_offline_without_errors(tmp_path: Path) -> None:
    path = tmp_path / "sweep.html"
    path.write_text(_render(title=HOSTILE_TITLE), encoding="utf-8")
    run = inspect_page(path, ready=READY, probe=PROBE)
    assert run.console_errors == []
    # The only request is the file itself; plotly draws each heatmap as a data: PNG made in
    # the page (no fetch, allowed by the policy's img-src data:).
    assert [u for u in run.requests if not u.startswith("data:image/png;base64,")] == [
        path.resolve().as_uri()
    ]
    assert run.outside_requests() == [] and run.failed == {}
    result = run.result
    ids = [p["id"] for p in result["plots"]]
    assert ids == [HEATMAP_ID.format(i) for i in range(6)] + [
        SENSITIVITY_ID.format(i) for i in range(2)
    ]
    for plot in result["plots"]:
        assert plot["traces"] >= 1 and plot["width"] > 600, plot
    assert all(p["heat"] >= 1 for p in result["plots"][:6])
    assert result["headings"] == list(HEADINGS.values())
    assert result["title"] == HOSTILE_TITLE
