"""The point-in-time daily panel: one row per UTC day of everything a strategy may look at.

**Contract.** The panel is indexed by tz-naive UTC calendar dates (``date``). The row for day d
holds only what a trader could know at the close of d, i.e. at 00:00 UTC of d+1. Each source
declares its publication lag in `PANEL_SOURCES`: an observation dated d enters the panel at row
d + lag. Missing days stay missing: nothing is forward-filled unless the source declares a hold
(``hold_days``), and then only from an earlier observation, never backwards.

**Vintage.** A source also declares when it first existed publicly (``first_available``): rows
dated before that hold NaN in its columns, even where the source's history reaches further back.
CBECI, launched on 2 July 2019, publishes estimates back to 2010; a trader in 2018 could not see
them, so no 2018 row may hold them. A source published in real time from its first observation
(exchange candles, blocks, funding, ETF flows, EIA) declares None, with the reason.

Consequence, proved by a property test: truncating every source at any date T (dropping all
observations after T) leaves every panel row <= T unchanged. `load_panel(as_of=T)` builds exactly
that truncated panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from costbt.data import bundle
from costbt.data import bundled_files as bf
from costbt.data.cached_files import FEES_1D
from costbt.data.schema import CsvSchema


@dataclass(frozen=True)
class PanelSource:
    """One source of panel columns and when its values become known.

    Attributes:
        name: short name (``spot``, ``etf_flows``, ...).
        schema: the bundled file it comes from (for a cache-only source, the declared shape of
            its cached frame, `data.cached_files`).
        columns: pairs ``(file column, panel column)``.
        lag_days: an observation dated d is first usable in the panel row d + lag_days.
        hold_days: a value may be carried forward at most this many days after it becomes
            usable (0: never). Declared for slow series (monthly prices), never for daily ones.
        known_when: plain-language basis for the lag and for ``first_available``.
        sets_calendar: whether the source's days define the panel's date range. Slow reference
            series (monthly power prices going back to 2001) join the calendar but do not
            stretch it.
        first_available: the first panel row (UTC day, ``YYYY-MM-DD``) at whose close the
            source existed publicly; rows before it hold NaN in the source's columns, whatever
            history the source later published. None: the data was public as it came (each
            observation at its own date + lag); ``known_when`` says why.
        bundled: False for a source that only the download cache supplies (`data.overlay`):
            `load_sources` skips it and the panel has its columns only when the cache has it.
    """

    name: str
    schema: CsvSchema
    columns: tuple[tuple[str, str], ...]
    lag_days: int
    known_when: str
    hold_days: int = 0
    sets_calendar: bool = True
    first_available: str | None = None
    bundled: bool = True

    def __post_init__(self) -> None:
        if self.first_available is not None:
            day = pd.Timestamp(self.first_available)
            if day != day.normalize() or day.tzinfo is not None:
                raise ValueError(f"{self.name}: first_available must be a UTC day (YYYY-MM-DD)")

    @property
    def first_row(self) -> pd.Timestamp | None:
        """``first_available`` as a Timestamp (None when the source was public as it came)."""
        return None if self.first_available is None else pd.Timestamp(self.first_available)


def _same(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, n) for n in names)


def _prefixed(prefix: str, *names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, f"{prefix}{n}") for n in names)


PANEL_SOURCES: tuple[PanelSource, ...] = (
    PanelSource(
        "spot",
        bf.SPOT_1D,
        _same("open_usd", "high_usd", "low_usd", "close_usd", "volume_btc"),
        lag_days=0,
        known_when=(
            "the day's candle closes at 00:00 UTC of d+1, the moment the row is read; first "
            "available: exchange candles were public as they printed (Coinbase from its 2015-01-26 "
            "launch, Binance from 2017-08-17), so no vintage date"
        ),
    ),
    PanelSource(
        "chain",
        bf.CHAIN_1D,
        _same(
            "hashrate_ths",
            "difficulty",
            "blocks_per_day",
            "block_height",
            "block_subsidy_btc",
            "issuance_btc",
            "supply_btc",
        ),
        lag_days=0,
        known_when=(
            "a chain day is complete at its end; first available: blocks are public as they are "
            "mined, from the genesis block"
        ),
    ),
    PanelSource(
        "funding",
        bf.FUNDING_1D,
        _same("funding_rate_8h_mean"),
        lag_days=0,
        known_when=(
            "the day's settlements are at 00:00, 08:00 and 16:00 UTC; first available: each "
            "settlement is public when it happens"
        ),
    ),
    PanelSource(
        "perp",
        bf.PERP_1D,
        _prefixed("perp_", "open_usd", "high_usd", "low_usd", "close_usd", "volume_btc"),
        lag_days=0,
        known_when=(
            "the perpetual's daily candle closes at 00:00 UTC of d+1; first available: public "
            "as it printed"
        ),
    ),
    PanelSource(
        "etf_flows",
        bf.ETF_FLOWS_1D,
        tuple((c.name, f"etf_flow_{c.name}") for c in bf.ETF_FLOWS_1D.columns),
        lag_days=1,
        known_when=(
            "flows for US trading day d are published after the US close (issuers report late), "
            "so they are usable from d+1; first available: Farside's table started with the "
            "funds (2024-01-11), each day's flow published the next day"
        ),
    ),
    PanelSource(
        "cbeci",
        bf.CBECI_1D,
        tuple((c.name, f"cbeci_{c.name}") for c in bf.CBECI_1D.columns),
        lag_days=1,
        first_available="2019-07-02",
        known_when=(
            "CBECI's daily estimate is published with about a day's delay; first available "
            "2019-07-02: the Cambridge Centre for Alternative Finance launched the Cambridge "
            "Bitcoin Electricity Consumption Index on 2 July 2019, publishing its history back to "
            "2010 that day, so earlier rows hold no CBECI value (the bundled series is a 2023 "
            "snapshot: later values are revised figures, not what was shown on the day)"
        ),
    ),
    PanelSource(
        "futures_basis_3m",
        bf.FUTURES_BASIS_3M_1D,
        _same("basis_3m_binance_pct_pa", "basis_3m_deribit_pct_pa", "basis_3m_pct_pa"),
        lag_days=0,
        sets_calendar=False,
        known_when=(
            "day d's basis uses the futures' 23:00 UTC bar and the spot daily close, both known at "
            "the close of d; first available: computed from exchange prices public as they "
            "printed (no vintage date; the derived series' revisions are unknown)"
        ),
    ),
    PanelSource(
        "sopr",
        bf.SOPR_1D,
        _same("sth_sopr", "lth_sopr", "sth_realised_price_usd", "lth_realised_price_usd"),
        lag_days=1,
        sets_calendar=False,
        known_when=(
            "a chain day's spent outputs are complete at its end and the vendor publishes the next "
            "day at the earliest, so day d's value is usable from d+1; first available: a "
            "deterministic function of the public chain (the age of each spent coin and the price "
            "when it last moved), computable by anyone from the blocks as they were mined, so no "
            "vintage date; the 155-day STH/LTH split was set in 2020 from the history, which is "
            "hindsight in the definition, not in the values"
        ),
    ),
    PanelSource(
        "power_us_industrial",
        bf.POWER_US_INDUSTRIAL,
        (("price_usd_per_kwh", "us_industrial_power_usd_kwh"),),
        lag_days=90,
        hold_days=45,
        sets_calendar=False,
        known_when=(
            "EIA's Electric Power Monthly reports month m about eight weeks after it ends "
            "(dated by the month's first day, so 90 days); held until the next month's figure, "
            "at most 45 days; first available: EIA has published the series monthly throughout"
        ),
    ),
    PanelSource(
        "fees",
        FEES_1D,
        (("fees_btc", "fees_btc"),),
        lag_days=0,
        bundled=False,
        known_when=(
            "cache only (no bundled file): a chain day's fees are complete at its end, like the "
            "chain source; first available: fees are public in every block as it is mined"
        ),
    ),
)

SOURCES_BY_NAME: dict[str, PanelSource] = {s.name: s for s in PANEL_SOURCES}
#: The sources with a bundled file (`load_sources` reads these; the others come from the cache).
BUNDLED_SOURCES: tuple[PanelSource, ...] = tuple(s for s in PANEL_SOURCES if s.bundled)


def column_catalogue(sources: tuple[PanelSource, ...] = PANEL_SOURCES) -> pd.DataFrame:
    """Every panel column with its unit, source file, lag, hold, first-available day and whether
    it is bundled (cache-only columns appear in a panel only when the cache supplies them)."""
    rows = []
    for src in sources:
        for file_col, panel_col in src.columns:
            col = src.schema.column(file_col)
            rows.append(
                {
                    "column": panel_col,
                    "unit": col.unit,
                    "source": src.name,
                    "file": src.schema.file,
                    "lag_days": src.lag_days,
                    "hold_days": src.hold_days,
                    "first_available": src.first_available,
                    "bundled": src.bundled,
                    "description": col.description,
                }
            )
    return pd.DataFrame(rows)


def truncate_sources(
    frames: Mapping[str, pd.DataFrame], as_of: pd.Timestamp | str
) -> dict[str, pd.DataFrame]:
    """Drop every observation dated after ``as_of`` (by the source's own date)."""
    cutoff = pd.Timestamp(as_of)
    return {name: f.loc[f.index.normalize() <= cutoff] for name, f in frames.items()}


def withhold_before_first_available(part: pd.DataFrame, src: PanelSource) -> pd.DataFrame:
    """``part`` (a source's columns on the panel calendar) with NaN in every row dated before
    the source's ``first_available`` day (unchanged when it has none). Pure."""
    first = src.first_row
    if first is None or not len(part):
        return part
    out = part.copy()
    out.loc[out.index < first] = np.nan
    return out


def build_panel(
    frames: Mapping[str, pd.DataFrame], sources: tuple[PanelSource, ...] = PANEL_SOURCES
) -> pd.DataFrame:
    """Join source frames (keyed by `PanelSource.name`) into the point-in-time daily panel.

    Pure: no I/O. Each source's observations are moved to the day they become usable
    (date + lag), reindexed on the daily calendar from the first to the last usable day of any
    calendar-setting source (see `PanelSource.sets_calendar`), carried forward only within the
    declared hold, and withheld (NaN) on rows before the source's ``first_available`` day (a
    held value published before that day may show from that day on: the whole history became
    public then). Rows a source withholds do not stretch the calendar. Sources absent from
    ``frames`` are skipped (their columns are absent). Columns are float64.
    """
    placed: list[tuple[PanelSource, pd.DataFrame]] = []
    for src in sources:
        frame = frames.get(src.name)
        if frame is None:
            continue
        sel = frame[[c for c, _ in src.columns]].rename(columns=dict(src.columns)).astype("float64")
        usable = sel.index.normalize() + pd.Timedelta(days=src.lag_days)
        sel.index = pd.DatetimeIndex(usable, name="date")
        placed.append((src, sel))
    spans = [
        f.index[f.index >= src.first_row] if src.first_row is not None else f.index
        for src, f in placed
        if src.sets_calendar
    ]
    spans = [s for s in spans if len(s)]
    if not spans:
        cols = [pc for src, _ in placed for _, pc in src.columns]
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="date"), dtype="float64")
    start = min(s.min() for s in spans)
    end = max(s.max() for s in spans)
    days = pd.date_range(start, end, freq="D", name="date")
    parts = []
    for src, sel in placed:
        if src.hold_days and len(sel):
            part = sel.reindex(days, method="ffill", tolerance=pd.Timedelta(days=src.hold_days))
        else:
            part = sel.reindex(days)
        parts.append(withhold_before_first_available(part, src))
    panel = pd.concat(parts, axis=1)
    panel.index.name = "date"
    return panel


def load_sources(
    path: str | Path | None = None,
    *,
    max_gap_days: Mapping[str, int | None] | None = None,
    sources: tuple[PanelSource, ...] = PANEL_SOURCES,
) -> dict[str, pd.DataFrame]:
    """Read each panel source's bundled file (validated), keyed by source name.

    Cache-only sources (``bundled=False``) are skipped: `data.overlay` supplies them.
    """
    limits = dict(max_gap_days or {})
    return {
        s.name: bundle.load(s.schema, path, max_gap_days=limits.get(s.schema.file, "default"))
        for s in sources
        if s.bundled
    }


def load_panel(
    path: str | Path | None = None,
    *,
    as_of: pd.Timestamp | str | None = None,
    start: pd.Timestamp | str | None = None,
    max_gap_days: Mapping[str, int | None] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: str | None = None,
    etf_snapshot: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Load the bundled sources (and optionally cached downloads) and build the panel.

    Args:
        path: bundle folder (default: the package's ``data/bundled``).
        as_of: build the panel as a trader would have had it at the close of this day: every
            source truncated at ``as_of``, rows up to ``as_of``.
        start: drop rows before this day (rows themselves are unaffected).
        max_gap_days: per-file override of the gap limit, keyed by file name.
        cache_dir: download cache (default: `costbt.data.user_dirs.cache_dir`).
        use_cache: None (bundled only), ``"extend"`` (cached rows after the bundled span) or
            ``"replace"`` (cached rows wherever present); see `data.overlay`.
        etf_snapshot: with ``use_cache``, the Farside snapshot to use (the latest taken at or
            before this instant or label); default: the latest taken by the end of ``as_of``
            when given, else the latest stored.

    ``panel.attrs["provenance"]`` records, per source, how many rows came from the bundle and
    which cached file (sha256, span) supplied the rest.

    Raises:
        data.errors.DataError: a bundled or cached file is missing or malformed.
    """
    frames = load_sources(path, max_gap_days=max_gap_days)
    provenance: dict = {}
    if use_cache is not None:
        from costbt.data.cache import Cache
        from costbt.data.overlay import apply_overlays

        snapshot = etf_snapshot
        if snapshot is None and as_of is not None:
            snapshot = pd.Timestamp(as_of) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        frames, provenance = apply_overlays(
            frames,
            Cache(cache_dir),
            use_cache,  # type: ignore[arg-type]
            etf_snapshot=snapshot,
        )
    if as_of is not None:
        frames = truncate_sources(frames, as_of)
    panel = build_panel(frames)
    if as_of is not None:
        panel = panel.loc[: pd.Timestamp(as_of)]
    if start is not None:
        panel = panel.loc[pd.Timestamp(start) :]
    panel.attrs["provenance"] = {
        "bundle_manifest_sha256": bundle.manifest_hash(path),
        "cache": provenance,
    }
    return panel
