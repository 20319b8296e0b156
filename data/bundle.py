"""The bundled dataset on disk: where it is, its manifest, and one loader per file.

The bundle lives in ``data/bundled/`` inside the package (override with the ``COSTBT_BUNDLE_DIR``
environment variable or an explicit ``bundle_dir``). Every loader goes through
`data.schema.read_csv_checked`, so bad files fail with one `DataError` naming file, column and row.
Loaders only read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from costbt.data import bundled_files as bf
from costbt.data.errors import DataError
from costbt.data.schema import CsvSchema, read_csv_checked

ENV_BUNDLE_DIR = "COSTBT_BUNDLE_DIR"
PACKAGE_BUNDLE_DIR = Path(__file__).resolve().parent / "bundled"
MANIFEST = "manifest.json"


def bundle_dir(path: str | Path | None = None) -> Path:
    """The bundle folder: ``path`` if given, else ``$COSTBT_BUNDLE_DIR``, else ``data/bundled``."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_BUNDLE_DIR)
    return Path(env) if env else PACKAGE_BUNDLE_DIR


def read_manifest(path: str | Path | None = None) -> dict:
    """Parse ``manifest.json`` of the bundle; a `DataError` if missing or malformed."""
    mpath = bundle_dir(path) / MANIFEST
    if not mpath.exists():
        raise DataError("manifest not found", path=mpath)
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"is not valid JSON ({exc})", path=mpath) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DataError("has no 'files' list", path=mpath)
    for i, entry in enumerate(manifest["files"]):
        if not isinstance(entry, dict) or not {"file", "sha256"} <= entry.keys():
            raise DataError(f"entry {i} lacks 'file' or 'sha256'", path=mpath)
    return manifest


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_hash(path: str | Path | None = None) -> str:
    """sha256 of the manifest file itself: one value that pins every bundled file's content."""
    return sha256_file(bundle_dir(path) / MANIFEST)


@dataclass(frozen=True)
class FileCheck:
    """Whether a bundled file matches its manifest entry."""

    file: str
    expected_sha256: str
    actual_sha256: str | None

    @property
    def ok(self) -> bool:
        return self.actual_sha256 == self.expected_sha256


def verify(path: str | Path | None = None) -> list[FileCheck]:
    """Hash every file the manifest lists and compare with the recorded sha256."""
    root = bundle_dir(path)
    out = []
    for entry in read_manifest(root)["files"]:
        f = root / entry["file"]
        out.append(
            FileCheck(entry["file"], entry["sha256"], sha256_file(f) if f.exists() else None)
        )
    return out


def load(
    schema: CsvSchema,
    path: str | Path | None = None,
    *,
    max_gap_days: int | None | str = "default",
) -> pd.DataFrame:
    """Load one bundled file by its schema (see `data.bundled_files`)."""
    return read_csv_checked(bundle_dir(path) / schema.file, schema, max_gap_days=max_gap_days)


def load_spot_ohlcv(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """BTC spot daily OHLCV (USD per BTC, volume in BTC), one row per UTC day."""
    return load(bf.SPOT_1D, path, **kw)


def load_perp_ohlcv(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """Binance BTCUSDT perpetual daily OHLCV (USDT per BTC)."""
    return load(bf.PERP_1D, path, **kw)


def load_chain(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """Hashrate, difficulty, blocks, height, subsidy, issuance and supply per UTC day."""
    return load(bf.CHAIN_1D, path, **kw)


def load_funding_8h(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """Each 8-hourly BTCUSDT perpetual funding rate (fraction per 8 h), by settlement time."""
    return load(bf.FUNDING_8H, path, **kw)


def load_funding_1d(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """Daily mean of the 8-hourly funding rates (fraction per 8 h)."""
    return load(bf.FUNDING_1D, path, **kw)


def load_etf_flows(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """Spot-ETF net flows per fund and total, US$ millions, US trading days (blank = missing)."""
    return load(bf.ETF_FLOWS_1D, path, **kw)


def load_cbeci(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """CBECI annualised consumption (TWh/yr) at each assumed power price ($0.01..0.19/kWh)."""
    return load(bf.CBECI_1D, path, **kw)


def load_asic_models(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """ASIC models by release month with nameplate TH/s, W and J/TH."""
    return load(bf.ASIC_MODELS, path, **kw)


def load_asic_chip_efficiency(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """Monthly efficiency (J/TH) of newly released ASIC chips by manufacturer series."""
    return load(bf.ASIC_CHIP_EFFICIENCY, path, **kw)


def load_power_us_industrial(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """EIA US industrial electricity price, monthly, USD per kWh."""
    return load(bf.POWER_US_INDUSTRIAL, path, **kw)


def load_power_annual(path: str | Path | None = None, **kw) -> pd.DataFrame:
    """Annual electricity price references (USA, China, Russia), USD per kWh."""
    return load(bf.POWER_ANNUAL, path, **kw)


def load_all(
    path: str | Path | None = None, max_gap_days: Mapping[str, int | None] | None = None
) -> dict[str, pd.DataFrame]:
    """Every bundled file, keyed by file name; ``max_gap_days`` overrides limits per file."""
    limits = dict(max_gap_days or {})
    return {s.file: load(s, path, max_gap_days=limits.get(s.file, "default")) for s in bf.ALL}
