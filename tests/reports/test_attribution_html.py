"""The attribution page and the confluence backtest report's "What each member adds" section.

Input: a hand-built `backtest.attribution.Attribution` (test input, not an engine run), so the
page is checked without simulating; `tests/backtest/test_attribution.py` runs the real thing.
"""

from __future__ import annotations

import pandas as pd
import pytest

from costbt.backtest.attribution import BENCHMARK, COLUMNS, Attribution, variants
from costbt.reports.attribution_html import render_attribution_report
from costbt.reports.html import render_report
from costbt.reports.offline import find_external_references
from costbt.strategies.confluence import ConfluenceStrategyParams


@pytest.fixture(scope="module")
def attribution() -> Attribution:
    params = ConfluenceStrategyParams()
    days = pd.date_range("2024-01-01", periods=5, freq="D")
    labels = [v.label for v in variants(params)] + [BENCHMARK]
    rows = {}
    for i, label in enumerate(labels):
        rows[label] = {
            "members": "-" if label == BENCHMARK else "cost+basis",
            "k": float("nan") if label == BENCHMARK else 1,
            "total_return": 0.1 * i,
            "cagr": 0.01 * i,
            "sharpe": 0.1 * i,
            "max_drawdown": -0.2,
            "exposure": 0.5,
            "trades": 2.0,
            "entry_share": 0.1,
            "signal_coverage": 1.0,
            "first_known": days[0],
            "flag": "never_in" if label == "basis alone" else None,
            "entry_days": 3 if label == "basis alone" else 0,
            "entry_days_exit_on": 3 if label == "basis alone" else 0,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")[list(COLUMNS)]
    adds = pd.DataFrame(
        {"sharpe_added": [0.1, 0.0, -0.2, 0.3], "return_added": [0.1, 0.0, -0.2, 0.3]},
        index=["cost", "basis", "etf", "sopr"],
    )
    equity = pd.DataFrame(
        {label: [1.0, 1.1 + 0.01 * i, 1.2, 1.1, 1.3] for i, label in enumerate(labels)}, index=days
    )
    equity["without basis"] = equity["all"]  # removing the basis changes no day
    return Attribution(params, days[0], days[-1], table, adds, equity, len(labels) - 1)


def test_the_page_opens_with_the_verdict_against_buy_and_hold(attribution):
    page = render_attribution_report(attribution, ledger_trials=9)
    lead = page.index("Verdict:")
    assert lead < page.index('id="variants"')
    assert "buy-and-hold" in page[lead : lead + 400]


def test_the_page_shows_every_variant_and_what_each_member_adds(attribution):
    page = render_attribution_report(attribution, ledger_trials=9)
    for label in ("without cost", "sopr alone", "buy_and_hold", "never in (0 trades)"):
        assert label in page
    assert "etf costs 0.20 Sharpe" in page
    assert "basis changes nothing: without it the equity is the same every day" in page
    assert "basis alone: all 3 of its entry days" in page
    assert find_external_references(page) == []


def test_the_confluence_backtest_report_has_the_section(monkeypatch, sample_result, attribution):
    monkeypatch.setattr(
        "costbt.reports.html.tearsheet_html", lambda *a, **k: '<div class="qs-tearsheet">stub</div>'
    )
    page = render_report(sample_result, attribution=attribution)
    assert 'id="attribution"' in page and "What each member adds" in page
    assert page.index('id="trades"') < page.index('id="attribution"')
    assert 'id="attribution"' not in render_report(sample_result)
