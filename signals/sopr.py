"""SOPR / STH-SOPR rules on a smoothed series, from user-provided SOPR or a labelled price proxy.

**SOPR** (spent output profit ratio; Glassnode, Renato Shirakashi 2019; models.md section 3):
SOPR = sum(v * P_spent) / sum(v * P_created) over the outputs spent on a day (v in BTC, prices in
USD per BTC, dimensionless). > 1: coins moved at a profit on average; < 1: at a loss. STH-SOPR
restricts the sums to outputs younger than 155 days. `sopr_from_outputs` is the formula itself.

True SOPR needs the UTXO set. By default the rules read the **bundled real series**: Checkonchain's
STH-SOPR (panel column ``sth_sopr``; ``lth_sopr`` with ``series="lth_sopr"``), daily from
2010-08-16 to 2026-06-20, published the day after (lag 1, applied by the panel). Where it is
missing the signal is unknown, never silently replaced by the proxy. A user's own data can be
passed instead: a Glassnode download (``costbt data sopr``) or a vendor export (``costbt data
import``), both cached under ``SeriesKey(<source>, "sopr", "BTC", "1d")`` with columns
``sopr``/``sth_sopr``. A vendor's value dated d describes day d and is published after d ends:
`load_cached_sopr` moves it to the panel row d + publication lag (1 day, read from the cache
manifest), the same rule the panel applies.

**The proxy.** With ``series="proxy"``, `sopr_proxy` is a price-only stand-in, called a proxy wherever
it appears (signal name ``sopr_proxy``, indicator columns ``sopr_proxy_*``):

    sopr_proxy_d = close_d / VWAP155_d,
    VWAP155_d = sum_{j=d-154..d} close_j * volume_j / sum_{j=d-154..d} volume_j

(close in USD per BTC, volume in BTC, panel columns ``close_usd`` and ``volume_btc``; NaN until
155 days of both exist). The VWAP of the last 155 days stands in for the average acquisition price
of short-term holders' coins, so the ratio reads "would a coin bought in the last 155 days be in
profit if spent today". Limits: it uses no UTXO or on-chain data at all; exchange volume of one
venue (Coinbase to 2017-08-16, Binance after; the venue switch shifts the volume weights, and
Binance's early volume is far smaller) is not the coins actually spent; it is closer to a
short-term-holder MVRV than to SOPR and swings far wider than SOPR (roughly 0.5 to 2 against
SOPR's 0.9 to 1.1), so levels tuned on SOPR do not transfer; no vendor publishes its accuracy,
and against the bundled real STH-SOPR the rules on it miss most real entries (measured by
`signals.sopr_fidelity`, ``costbt fidelity``; docs/signals.md). Use it to exercise the pipeline,
not as evidence about SOPR.

**Rules** (defaults from models.md section 3; on the trailing mean s of ``smooth_days`` days):

* zone: s < ``threshold`` (1.0); deep zone: s < ``deep`` (0.95);
* entry: s crosses above ``threshold`` today (s_{d-1} <= threshold < s_d) after at least
  ``min_days_below`` consecutive days with s < threshold (ending yesterday), and, with
  ``require_deep``, that run below touched the deep zone;
* exit: s > ``exit_level`` (default 1.05, a level a 7-day mean of SOPR reaches mostly in strong
  up-trends; this is costbt's choice, not a published default). Exit is a state (True every day
  above), entries are events.

Unknown (<NA>) wherever the smoothed series is NaN (before the data start or inside a gap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError
from costbt.signals.conditions import as_rule, crossed_above, held_for
from costbt.signals.output import SignalOutput
from costbt.signals.params import ParamError, Validated, param

PROXY_NAME = "sopr_proxy"
#: Inputs of `sopr_signal` without a given series: the bundled panel columns (Checkonchain, lag 1
#: day) or the price proxy.
SERIES = ("sth_sopr", "lth_sopr", "proxy")
PROXY_WINDOW_DAYS = 155
DEFAULT_PUBLICATION_LAG_DAYS = 1
PROXY_CONSTRUCTION = (
    "PROXY, not SOPR: close_usd / (155-day trailing volume-weighted average of close_usd, "
    "weighted by volume_btc); no UTXO data; no published accuracy against real SOPR"
)


def sopr_from_outputs(
    values: Sequence[float] | np.ndarray,
    created_prices: Sequence[float] | np.ndarray,
    spent_prices: Sequence[float] | np.ndarray,
) -> float:
    """SOPR of a set of spent outputs: sum(v * P_spent) / sum(v * P_created).

    Args:
        values: output values in BTC (>= 0).
        created_prices: USD per BTC when each output was created (> 0).
        spent_prices: USD per BTC when each output was spent (> 0).

    Returns the dimensionless ratio. Example (models.md): 1 BTC created at $60k and 3 BTC at
    $80k, all spent at $70k -> 280k / 300k = 0.9333.

    Raises:
        ValueError: lengths differ, no outputs, a negative value, a non-positive price, or
            zero total value.
    """
    v = np.asarray(values, dtype="float64")
    pc = np.asarray(created_prices, dtype="float64")
    ps = np.asarray(spent_prices, dtype="float64")
    if not (v.shape == pc.shape == ps.shape) or v.ndim != 1:
        raise ValueError("values, created_prices and spent_prices must be 1-d and equally long")
    if v.size == 0:
        raise ValueError("no outputs")
    if not (np.isfinite(v).all() and np.isfinite(pc).all() and np.isfinite(ps).all()):
        raise ValueError("values and prices must be finite")
    if (v < 0).any():
        raise ValueError("output values must be >= 0 BTC")
    if (pc <= 0).any() or (ps <= 0).any():
        raise ValueError("prices must be > 0 USD per BTC")
    created = float((v * pc).sum())
    if created == 0:
        raise ValueError("total value is zero")
    return float((v * ps).sum()) / created


@dataclass(frozen=True)
class SoprParams(Validated):
    """Parameters of `sopr_signal` (defaults from models.md section 3; exit level costbt's)."""

    smooth_days: int = param(7, low=1, high=60, unit="days", help="trailing mean length")
    threshold: float = param(
        1.0, low=0.8, high=1.2, step=0.005, unit="ratio", help="zone below; entry level"
    )
    deep: float = param(0.95, low=0.5, high=1.0, step=0.005, unit="ratio", help="deep zone below")
    min_days_below: int = param(
        5, low=1, high=120, unit="days", help="days in the zone before the entry crossing"
    )
    exit_level: float = param(
        1.05, low=1.0, high=2.5, step=0.01, unit="ratio", help="exit while the mean is above"
    )
    require_deep: bool = param(False, help="entry only if the run below reached the deep zone")
    series: str = param(
        "sth_sopr",
        choices=SERIES,
        help="input when no series is given: bundled STH-SOPR, LTH-SOPR, or the labelled price proxy",
    )


def check_params(params: SoprParams) -> None:
    """Cross-field checks: deep <= threshold < exit_level (`ParamError` otherwise)."""
    if params.deep > params.threshold:
        raise ParamError(f"deep={params.deep} is above threshold={params.threshold}")
    if params.exit_level <= params.threshold:
        raise ParamError(
            f"exit_level={params.exit_level} is not above threshold={params.threshold}"
        )


def load_cached_sopr(
    cache: Cache | None = None,
    column: str = "sopr",
    *,
    source: str = "glassnode",
    calendar: pd.DatetimeIndex | None = None,
) -> pd.Series:
    """A cached SOPR series moved onto the panel calendar by its publication lag.

    Reads ``SeriesKey(source, "sopr", "BTC", "1d")`` (written by ``costbt data sopr`` for
    ``glassnode``, or ``costbt data import --source NAME``); the value dated d goes to row
    d + ``publication_lag_days`` of the manifest entry (1 when absent). With ``calendar``, the
    result is reindexed onto it (no fill). Name: ``column`` (``sopr``, ``sth_sopr``, ...).

    Raises:
        DataError: nothing cached under that key, or no such column.
    """
    cache = cache if cache is not None else Cache()
    key = SeriesKey(source, "sopr", "BTC", "1d")
    frame = cache.read(key)
    if frame is None:
        raise DataError(
            f"no cached SOPR from '{source}' ({key.filename}): run 'costbt data sopr' or "
            "'costbt data import', or use the price proxy",
            path=cache.path(key),
        )
    if column not in frame.columns:
        raise DataError(
            f"no such column (cached: {', '.join(map(str, frame.columns))})",
            path=cache.path(key),
            column=column,
        )
    entry = cache.entry(key) or {}
    lag = int(entry.get("publication_lag_days", DEFAULT_PUBLICATION_LAG_DAYS))
    series = frame[column].astype("float64").copy()
    idx = pd.DatetimeIndex(series.index).normalize() + pd.Timedelta(days=lag)
    series.index = pd.DatetimeIndex(idx, name="date")
    series.name = column
    if calendar is not None:
        series = series.reindex(calendar)
    return series


def sopr_proxy_vwap(panel: pd.DataFrame, window_days: int = PROXY_WINDOW_DAYS) -> pd.Series:
    """Trailing ``window_days`` volume-weighted average close (USD per BTC); NaN until full."""
    close = panel["close_usd"].astype("float64")
    volume = panel["volume_btc"].astype("float64")
    both = close.notna() & volume.notna()
    pv = (close * volume).where(both).rolling(window_days, min_periods=window_days).sum()
    vol = volume.where(both).rolling(window_days, min_periods=window_days).sum()
    return (pv / vol.where(vol > 0)).rename(f"{PROXY_NAME}_vwap_usd")


def sopr_proxy(panel: pd.DataFrame, window_days: int = PROXY_WINDOW_DAYS) -> pd.Series:
    """PROXY for SOPR: close_usd / trailing ``window_days`` VWAP (dimensionless), ``sopr_proxy``.

    Not SOPR: see the module docstring for construction and limits.
    """
    vwap = sopr_proxy_vwap(panel, window_days)
    out = (panel["close_usd"].astype("float64") / vwap).rename(PROXY_NAME)
    out.attrs["construction"] = PROXY_CONSTRUCTION
    return out


def _days_below(below: pd.Series) -> pd.Series:
    """Consecutive days ending today with ``below`` True (0 if False, NaN if unknown)."""
    b = below.fillna(False).astype(bool)
    run = (~b).cumsum()
    count = b.astype("float64").groupby(run).cumsum()
    return count.mask(below.isna())


def sopr_signal(
    panel: pd.DataFrame,
    params: SoprParams = SoprParams(),
    sopr: pd.Series | None = None,
    *,
    proxy_window_days: int = PROXY_WINDOW_DAYS,
) -> SignalOutput:
    """SOPR zone/re-entry rules on a given SOPR series, or on the labelled price proxy.

    Args:
        panel: the point-in-time panel (its index is the calendar; the proxy reads
            ``close_usd`` and ``volume_btc``).
        params: rule parameters.
        sopr: a SOPR series already on the panel calendar with its publication lag applied
            (`load_cached_sopr`); its name (``sopr``, ``sth_sopr``) names the signal. None: the
            panel's column ``params.series`` (bundled Checkonchain ``sth_sopr`` by default, or
            ``lth_sopr``; unknown where it is missing, never replaced), or with ``series="proxy"``
            `sopr_proxy`, naming everything ``sopr_proxy``.
        proxy_window_days: VWAP window of the proxy (days).

    Indicator columns (prefix = the signal name): the series, ``_smoothed`` (trailing mean),
    ``_below`` and ``_deep`` (zones), ``_days_below`` (consecutive days in the zone), and for the
    proxy ``_vwap_usd``. Rules as in the module docstring.
    """
    check_params(params)
    extra: dict[str, pd.Series] = {}
    if sopr is None and params.series != "proxy":
        # The bundled real series; where it is missing the signal is unknown, never the proxy.
        if params.series in panel.columns:
            sopr = panel[params.series].rename(params.series)
        else:
            sopr = pd.Series(np.nan, index=panel.index, name=params.series)
    if sopr is None:
        name = PROXY_NAME
        series = sopr_proxy(panel, proxy_window_days)
        extra[f"{name}_vwap_usd"] = sopr_proxy_vwap(panel, proxy_window_days)
    else:
        name = str(sopr.name) if sopr.name else "sopr"
        if name == PROXY_NAME:
            raise ValueError("pass sopr=None to use the proxy; a given series is treated as SOPR")
        series = sopr.astype("float64").reindex(panel.index)
    n = params.smooth_days
    smooth = series.rolling(n, min_periods=n).mean()
    known = smooth.notna()
    below = as_rule(smooth < params.threshold, known)
    deep = as_rule(smooth < params.deep, known)
    days_below = _days_below(below)

    stayed = held_for(below, params.min_days_below).shift(1)
    entry = crossed_above(smooth, params.threshold) & stayed.astype("boolean")
    if params.require_deep:
        b = below.fillna(False).astype(bool)
        run = (~b).cumsum()
        run_min = smooth.where(b).groupby(run).cummin()
        # yesterday known and not below: False (no run); yesterday unknown: unknown
        touched = as_rule(run_min.shift(1) < params.deep, below.shift(1).notna())
        entry = entry & touched
    exit_rule = as_rule(smooth > params.exit_level, known)

    indicator = pd.DataFrame(
        {
            name: series,
            f"{name}_smoothed": smooth,
            f"{name}_below": below,
            f"{name}_deep": deep,
            f"{name}_days_below": days_below,
            **extra,
        },
        index=panel.index,
    )
    if name == PROXY_NAME:
        indicator.attrs["proxy"] = True
        indicator.attrs["construction"] = PROXY_CONSTRUCTION
    return SignalOutput(
        name=name, indicator=indicator, entry=entry.astype("boolean"), exit=exit_rule
    )
