"""Futures basis: annualised, constant-maturity and perpetual, and the basis-reset rule.

Source: models.md section 2 (Futures basis). Every basis in this module is an annualised carry
expressed as a FRACTION PER YEAR: 0.1217 means 12.17 % a year. Differences between two bases
(the reset rule's ``drop_points``) are in the same unit, so 0.15 is 15 percentage points a year.

* Dated future F with d days to expiry against spot S:
  ``B = (F/S - 1) * 365 / d``; log variant ``ln(F/S) * 365 / d``.
* Constant maturity T* (default 90 days) from the two contracts with T1 <= T* <= T2:
  ``forward = (B2*T2 - B1*T1) / (T2 - T1)``; ``B* = (B1*T1 + forward*(T* - T1)) / T*``.
* Perpetual analogue from funding: ``mean 8-hour funding rate * 3 * 365`` (the neutral clamp of
  0.01 % per 8 hours is 0.1095, i.e. 10.95 % a year).
* Perpetual premium over spot: ``perp/spot - 1``, NOT annualised (a perpetual has no expiry, so
  there is no d). Its annualised counterpart is the funding it implies under the exchange's
  funding formula (`premium_implied_funding_basis`), which is what the rule uses for
  ``source="premium"``.

Reset rule (models.md default): the basis is below ``level`` (5 %/yr) and at least
``drop_points`` (15 points) below its maximum over the trailing ``max_window_days`` (90 days);
optionally confirmed by a non-positive 7-day mean funding rate.

Point in time: every value on day d uses only panel rows <= d (trailing windows, never centred,
no fits) and, for the constant-maturity basis, only the futures candles of day d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.signals.conditions import as_rule
from costbt.signals.output import SignalOutput
from costbt.signals.params import Validated, param

#: Day count of the annualisation (models.md: ``365 / d``).
DAYS_PER_YEAR = 365
#: Funding settlements per day on Binance USDT-M (00:00, 08:00, 16:00 UTC).
FUNDING_SETTLEMENTS_PER_DAY = 3
#: Binance USDT-M interest component of funding, per 8-hour interval (0.03 % a day).
BINANCE_INTEREST_8H = 0.0001
#: Binance USDT-M clamp on (interest - premium), per 8-hour interval.
BINANCE_CLAMP_8H = 0.0005

SOURCES = ("basis_3m", "funding", "cm_3m", "premium")
#: The bundled 3-month constant-maturity basis (panel column, % per year; lag 0).
BUNDLED_3M_COLUMN = "basis_3m_pct_pa"
CM_TARGET_DAYS = 90


def _arrays(*xs: pd.Series | float) -> tuple[list[np.ndarray], pd.Index | None]:
    """Inputs as float arrays; Series are aligned on the union of their indexes (as pandas
    arithmetic would), scalars broadcast. Returns the arrays and the index (None: all scalars)."""
    series = [x for x in xs if isinstance(x, pd.Series)]
    if not series:
        return [np.asarray(x, dtype="float64") for x in xs], None
    index = series[0].index
    for s in series[1:]:
        if not s.index.equals(index):
            index = index.union(s.index)
    arrays = [
        x.reindex(index).to_numpy(dtype="float64")
        if isinstance(x, pd.Series)
        else np.asarray(x, dtype="float64")
        for x in xs
    ]
    return arrays, index


def _finish(values: np.ndarray, index: pd.Index | None) -> pd.Series | float:
    """A float Series on ``index``, or a plain float when every input was a scalar."""
    if index is None:
        return float(values)
    return pd.Series(values, index=index, dtype="float64")


def annualised_basis(
    future: pd.Series | float,
    spot: pd.Series | float,
    days_to_expiry: pd.Series | float,
    log: bool = False,
) -> pd.Series | float:
    """Annualised basis of a dated future over spot, a fraction per year.

    ``B = (F/S - 1) * 365 / d``, or with ``log=True`` ``B = ln(F/S) * 365 / d``
    (models.md section 2).

    Args:
        future: futures price F (USD).
        spot: spot price S (USD), observed at the same instant as F.
        days_to_expiry: d, days from the observation to expiry (may be fractional).
        log: use the log (continuously compounded) variant.

    Returns:
        Fraction per year (0.1217 = 12.17 %/yr); NaN where d <= 0 (at or after expiry the
        annualisation is undefined), a price is not positive, or an input is NaN. A Series
        (inputs aligned on their index) if any input is one, else a float.
    """
    (f, s, d), index = _arrays(future, spot, days_to_expiry)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((f > 0) & (s > 0), f / s, np.nan)
        premium = np.log(ratio) if log else ratio - 1.0
        out = premium * DAYS_PER_YEAR / np.where(d > 0, d, np.nan)
    return _finish(out, index)


def constant_maturity_basis(
    b1: pd.Series | float,
    t1: pd.Series | float,
    b2: pd.Series | float,
    t2: pd.Series | float,
    target_days: float = CM_TARGET_DAYS,
) -> pd.Series | float:
    """Constant-maturity basis at ``target_days`` from two bracketing contracts.

    ``forward = (B2*T2 - B1*T1) / (T2 - T1)``;
    ``B* = (B1*T1 + forward*(T* - T1)) / T*`` (models.md section 2). Equivalently, the
    unannualised carry ``B*T`` is interpolated linearly in T between the two contracts.

    Args:
        b1, b2: annualised bases (fraction per year) of the nearer and farther contract.
        t1, t2: their days to expiry, with ``0 < t1 <= target_days <= t2``.
        target_days: T*, the constant maturity in days (default 90, a 3-month basis).

    Returns:
        Fraction per year. NaN where the pair does not bracket the target (never extrapolated),
        where t1 <= 0, or an input is NaN. If ``t1 == t2`` (both equal to the target) the
        result is ``b1``.
    """
    (b1a, t1a, b2a, t2a), index = _arrays(b1, t1, b2, t2)
    ts = float(target_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        span = t2a - t1a
        forward = (b2a * t2a - b1a * t1a) / np.where(span > 0, span, np.nan)
        interp = (b1a * t1a + forward * (ts - t1a)) / ts
        out = np.where(span > 0, interp, b1a)
        ok = (t1a > 0) & (t1a <= ts) & (ts <= t2a)
        out = np.where(ok, out, np.nan)
    return _finish(out, index)


def forward_basis(
    b1: pd.Series | float, t1: pd.Series | float, b2: pd.Series | float, t2: pd.Series | float
) -> pd.Series | float:
    """Annualised forward basis between the two expiries: ``(B2*T2 - B1*T1) / (T2 - T1)``.

    Fraction per year; NaN where ``T2 <= T1`` (models.md section 2).
    """
    (b1a, t1a, b2a, t2a), index = _arrays(b1, t1, b2, t2)
    with np.errstate(divide="ignore", invalid="ignore"):
        span = t2a - t1a
        out = (b2a * t2a - b1a * t1a) / np.where(span > 0, span, np.nan)
    return _finish(out, index)


def bracketing_contracts(
    futures: pd.DataFrame,
    spot_close: pd.Series,
    target_days: float = CM_TARGET_DAYS,
    log: bool = False,
) -> pd.DataFrame:
    """Per day, the two contracts bracketing ``target_days`` and the constant-maturity basis.

    Input ``futures`` is the long table of `data.sources.dated_futures.load_dated_futures`
    (``time`` = candle day, ``instrument``, ``close_usd``, ``days_to_expiry``); ``spot_close``
    is the panel's ``close_usd`` (USD, indexed by day). The futures candle of day d closes at
    00:00 UTC of d+1 (or at expiry), as the spot candle does, so both are matched on the day.

    For each day: T1 = the largest days-to-expiry <= target (the nearer side), T2 = the smallest
    >= target (the farther side); each contract's basis is `annualised_basis` with
    d = days_to_expiry; the result is `constant_maturity_basis`. Contracts with d <= 0 (the
    expiry-day candle) or a missing price are ignored. Ties in d are broken by instrument name.

    Returns:
        DataFrame indexed like ``spot_close`` with ``instrument_1``, ``days_1``, ``basis_1``,
        ``instrument_2``, ``days_2``, ``basis_2`` and ``cm_basis`` (fraction per year). Days with
        no bracketing pair, or no spot close, are NaN (unknown, never extrapolated).
    """
    index = spot_close.index
    spot = pd.Series(spot_close.to_numpy(dtype="float64"), index=index)
    t = pd.DataFrame(
        {
            "time": pd.to_datetime(futures["time"]).to_numpy(),
            "instrument": futures["instrument"].astype(str).to_numpy(),
            "close": pd.to_numeric(futures["close_usd"]).to_numpy(dtype="float64"),
            "days": pd.to_numeric(futures["days_to_expiry"]).to_numpy(dtype="float64"),
        }
    )
    t["spot"] = spot.reindex(pd.DatetimeIndex(t["time"])).to_numpy()
    t = t[(t["days"] > 0) & t["close"].notna() & t["spot"].notna()]
    t = t.assign(basis=annualised_basis(t["close"], t["spot"], t["days"], log=log))
    t = t.sort_values(["time", "days", "instrument"], kind="mergesort")
    near = t[t["days"] <= target_days].groupby("time").tail(1).set_index("time")
    far = t[t["days"] >= target_days].groupby("time").head(1).set_index("time")
    out = pd.DataFrame(index=index)
    for side, frame in (("1", near), ("2", far)):
        frame = frame.reindex(index)
        out[f"instrument_{side}"] = frame["instrument"].astype("object")
        out[f"days_{side}"] = frame["days"].astype("float64")
        out[f"basis_{side}"] = frame["basis"].astype("float64")
    out["cm_basis"] = constant_maturity_basis(
        out["basis_1"], out["days_1"], out["basis_2"], out["days_2"], target_days
    )
    return out


def cm_basis_from_contracts(
    futures: pd.DataFrame,
    spot_close: pd.Series,
    target_days: float = CM_TARGET_DAYS,
    log: bool = False,
) -> pd.Series:
    """Constant-maturity basis (default 3 months), a fraction per year, per day.

    See `bracketing_contracts` for the selection: the two contracts nearest to ``target_days``
    on each side (T1 <= T* <= T2) on that day, joined to that day's spot close. NaN on days
    without a bracketing pair (unknown, never extrapolated). The value for day d uses only the
    candles of day d.
    """
    return bracketing_contracts(futures, spot_close, target_days, log=log)["cm_basis"].rename(
        "cm_basis"
    )


def perp_basis_from_funding(funding_rate_8h_mean: pd.Series | float) -> pd.Series | float:
    """Annualised perpetual basis from funding: ``mean 8-hour rate * 3 * 365``.

    Args:
        funding_rate_8h_mean: mean funding rate per 8-hour settlement (fraction, 0.0001 =
            0.01 %), e.g. the panel's ``funding_rate_8h_mean``.

    Returns:
        Fraction per year (0.0001 per 8 h -> 0.1095). Source: models.md section 2.
    """
    return funding_rate_8h_mean * FUNDING_SETTLEMENTS_PER_DAY * DAYS_PER_YEAR


def perp_premium(perp_close: pd.Series | float, spot_close: pd.Series | float) -> pd.Series | float:
    """Premium of the perpetual over spot, ``perp/spot - 1``: a plain fraction, NOT annualised.

    A perpetual has no expiry, so ``(F/S - 1) * 365 / d`` has no d; see
    `premium_implied_funding_basis` for an annualised counterpart.
    """
    return perp_close / spot_close - 1.0


def premium_implied_funding_basis(
    premium: pd.Series | float,
    interest_8h: float = BINANCE_INTEREST_8H,
    clamp_8h: float = BINANCE_CLAMP_8H,
) -> pd.Series | float:
    """The annualised funding a perpetual premium implies, a fraction per year.

    Binance USDT-M funding per 8 hours is ``F = P + clamp(I - P, -c, +c)`` with P the premium
    index, I the interest component (0.01 % per 8 h) and c = 0.05 %; this returns
    ``F * 3 * 365`` with P = ``premium``. Inside the band (-0.04 % <= P <= 0.06 %) it is the
    neutral 10.95 %/yr; outside it moves with the premium.

    An approximation: the exchange averages its premium index (impact bid/ask against a
    multi-venue index) over the 8 hours, whereas a daily close-to-close premium is one snapshot.
    On the bundled data the 7-day mean of this series correlates 0.96 with the 7-day mean of the
    funding basis. (Simply multiplying the raw premium by 1095 is not a carry: Binance's perp
    closes about 0.04 % below spot most days while funding stays at the 0.01 % interest term.)
    """
    if isinstance(premium, pd.Series):
        band = (interest_8h - premium).clip(-clamp_8h, clamp_8h)
    else:
        band = float(np.clip(interest_8h - premium, -clamp_8h, clamp_8h))
    return (premium + band) * FUNDING_SETTLEMENTS_PER_DAY * DAYS_PER_YEAR


@dataclass(frozen=True)
class BasisResetParams(Validated):
    """Parameters of `basis_reset`. Basis levels are fractions per year (0.05 = 5 %/yr);
    ``drop_points`` is a difference of two such fractions (0.15 = 15 percentage points)."""

    source: str = param(
        "basis_3m",
        choices=SOURCES,
        unit="",
        help="basis series: basis_3m (the bundled real 3-month constant-maturity basis), "
        "funding (perpetual: 8-h funding x 3 x 365), cm_3m (90-day constant maturity from "
        "cached dated futures), premium (funding implied by the perp premium)",
    )
    level: float = param(
        0.05,
        low=0.0,
        high=0.15,
        step=0.01,
        unit="fraction per year",
        help="entry needs the (smoothed) basis below this level",
    )
    drop_points: float = param(
        0.15,
        low=0.0,
        high=0.4,
        step=0.01,
        unit="fraction per year (0.15 = 15 percentage points)",
        help="entry needs the basis at least this far below its trailing maximum",
    )
    max_window_days: int = param(
        90, low=20, high=365, step=10, unit="days", help="trailing window of the maximum"
    )
    funding_confirm: bool = param(
        False, unit="", help="also require the trailing mean funding rate to be <= 0"
    )
    funding_window_days: int = param(
        7, low=1, high=30, unit="days", help="window of the funding confirmation mean"
    )
    smooth_days: int = param(
        7, low=1, high=30, unit="days", help="trailing mean of the basis series (1 = none)"
    )
    exit_level: float = param(
        0.15,
        low=0.05,
        high=0.5,
        step=0.01,
        unit="fraction per year",
        help="exit when the (smoothed) basis rises above this level",
    )


def _require(panel: pd.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in panel.columns]
    if missing:
        raise ValueError(f"basis_reset: the panel has no column {', '.join(missing)}")


def source_basis(
    panel: pd.DataFrame, source: str = "basis_3m", futures: pd.DataFrame | None = None
) -> pd.Series:
    """The unsmoothed basis series the rule reads, a fraction per year, indexed like the panel.

    * ``basis_3m`` (default): the bundled 3-month constant-maturity annualised basis
      (``basis_3m_pct_pa`` / 100; Binance COIN-M and Deribit quarterlies interpolated to 90 days,
      their mean; 2020-06-09 on). Unknown where it is missing, never replaced by another source.
    * ``funding``: `perp_basis_from_funding` of ``funding_rate_8h_mean``.
    * ``premium``: `premium_implied_funding_basis` of `perp_premium` (``perp_close_usd`` over
      ``close_usd``).
    * ``cm_3m``: `cm_basis_from_contracts` of ``futures`` (the `load_dated_futures` table;
      required) against ``close_usd``.
    """
    if source == "basis_3m":
        _require(panel, BUNDLED_3M_COLUMN)
        out = panel[BUNDLED_3M_COLUMN].astype("float64") / 100.0
    elif source == "funding":
        _require(panel, "funding_rate_8h_mean")
        out = perp_basis_from_funding(panel["funding_rate_8h_mean"].astype("float64"))
    elif source == "premium":
        _require(panel, "perp_close_usd", "close_usd")
        out = premium_implied_funding_basis(
            perp_premium(panel["perp_close_usd"], panel["close_usd"]).astype("float64")
        )
    elif source == "cm_3m":
        _require(panel, "close_usd")
        if futures is None:
            raise ValueError(
                "basis_reset: source='cm_3m' needs the dated-futures table "
                "(load_dated_futures(cache) after `costbt data futures`)"
            )
        out = cm_basis_from_contracts(futures, panel["close_usd"], CM_TARGET_DAYS)
    else:
        raise ValueError(f"basis_reset: unknown source {source!r} (one of {', '.join(SOURCES)})")
    return pd.Series(out, index=panel.index, dtype="float64", name=f"basis_{source}")


def basis_reset(
    panel: pd.DataFrame,
    params: BasisResetParams = BasisResetParams(),  # noqa: B008 - frozen, immutable default
    futures: pd.DataFrame | None = None,
) -> SignalOutput:
    """Basis reset: the basis has collapsed below a low level from a recent high.

    With ``b`` the basis of ``params.source`` (fraction per year) smoothed by a trailing mean of
    ``smooth_days`` days, and ``m`` its maximum over the trailing ``max_window_days`` days
    (today included):

    * entry: ``b < level`` and ``m - b >= drop_points``
      [and the trailing ``funding_window_days``-day mean of ``funding_rate_8h_mean`` <= 0 when
      ``funding_confirm``];
    * exit: ``b > exit_level`` (the carry trade is rich again).

    Unknown (<NA>), never False, where the inputs do not cover the day:

    * the smoothed basis needs every day of its window known (``min_periods = smooth_days``),
      so it is NaN where the source is missing and for ``smooth_days - 1`` days after;
    * the maximum is taken over the known days of the window; while the window is incomplete
      (fewer than ``max_window_days`` known days, e.g. in the first 90 days of funding history)
      it is a lower bound of the true maximum. Entry is then True if even this lower bound
      proves the drop, False if ``b >= level``, and otherwise unknown. Once the window is
      complete the rule is fully decided;
    * the funding confirmation needs every day of its window known; the conjunction is
      three-valued (False and unknown is False, True and unknown is unknown).

    All windows are trailing calendar-day windows (the panel has one row per UTC day), so the
    value on day d depends only on rows <= d.

    Args:
        panel: the point-in-time panel (`data.load_panel()`).
        params: `BasisResetParams`.
        futures: the `load_dated_futures` table, needed for ``source="cm_3m"``.

    Returns:
        `SignalOutput` named ``basis_reset``; indicator columns ``basis_raw``, ``basis`` (the
        smoothed series the rule reads), ``rolling_max``, ``drop`` (``rolling_max - basis``),
        ``window_days_known``, ``funding_mean`` (fractions per year except the day count and
        ``funding_mean``, the trailing mean 8-hour funding rate).
    """
    raw = source_basis(panel, params.source, futures)
    if params.smooth_days > 1:
        # A calendar window counts known observations, so a gap inside the window leaves fewer
        # than smooth_days: the mean needs the whole window.
        smooth = raw.rolling(pd.Timedelta(days=params.smooth_days), min_periods=params.smooth_days)
        basis = smooth.mean()
    else:
        basis = raw.copy()
    window = pd.Timedelta(days=params.max_window_days)
    rolling_max = basis.rolling(window, min_periods=1).max()
    known_days = basis.notna().astype("float64").rolling(window, min_periods=1).sum()
    drop = rolling_max - basis
    complete = known_days >= params.max_window_days

    known = basis.notna()
    low = basis < params.level
    dropped = drop >= params.drop_points
    entry = pd.Series(pd.NA, index=panel.index, dtype="boolean")
    entry[(known & ~low).to_numpy()] = False
    entry[(known & low & ~dropped & complete).to_numpy()] = False
    entry[(known & low & dropped).to_numpy()] = True

    if "funding_rate_8h_mean" in panel.columns:
        funding = panel["funding_rate_8h_mean"].astype("float64")
        funding_mean = funding.rolling(
            pd.Timedelta(days=params.funding_window_days), min_periods=params.funding_window_days
        ).mean()
    else:
        funding_mean = pd.Series(np.nan, index=panel.index, dtype="float64")
    if params.funding_confirm:
        _require(panel, "funding_rate_8h_mean")
        entry = entry & as_rule(funding_mean <= 0, funding_mean.notna())

    exit_ = as_rule(basis > params.exit_level, known)
    indicator = pd.DataFrame(
        {
            "basis_raw": raw,
            "basis": basis,
            "rolling_max": rolling_max,
            "drop": drop,
            "window_days_known": known_days,
            "funding_mean": funding_mean,
        },
        index=panel.index,
    )
    indicator.attrs["source"] = params.source
    return SignalOutput("basis_reset", indicator, entry.astype("boolean"), exit_)
