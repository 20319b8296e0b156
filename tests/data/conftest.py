"""Shared fixtures for the data tests: the bundled files, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from costbt.data import bundle
from costbt.data.panel import build_panel, load_sources

REPO = Path(__file__).resolve().parents[2]
RAW = REPO.parent / "shared" / "data" / "raw"


@pytest.fixture(scope="session")
def chain() -> pd.DataFrame:
    return bundle.load_chain()


@pytest.fixture(scope="session")
def spot() -> pd.DataFrame:
    return bundle.load_spot_ohlcv()


@pytest.fixture(scope="session")
def etf() -> pd.DataFrame:
    return bundle.load_etf_flows()


@pytest.fixture(scope="session")
def manifest() -> dict:
    return bundle.read_manifest()


@pytest.fixture(scope="session")
def sources() -> dict[str, pd.DataFrame]:
    return load_sources()


@pytest.fixture(scope="session")
def panel(sources) -> pd.DataFrame:
    return build_panel(sources)


def manifest_entry(manifest: dict, file: str) -> dict:
    return next(e for e in manifest["files"] if e["file"] == file)
