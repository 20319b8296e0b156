"""Fixtures for the report tests: the hand-built result (test input) and its written report.

Rendering runs quantstats (a few seconds), so each report is rendered once per worker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from costbt.backtest.result import BacktestResult
from tests.reports.sample import build_result


@pytest.fixture(scope="session")
def sample_result() -> BacktestResult:
    return build_result()


@pytest.fixture(scope="session")
def sample_report(sample_result, tmp_path_factory) -> Path:
    """The sample result written with `write_report` into a fresh nested folder."""
    from costbt.reports.html import write_report

    return write_report(sample_result, tmp_path_factory.mktemp("report") / "out" / "sample.html")
