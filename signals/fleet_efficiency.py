"""Fleet-average mining efficiency (J/TH) over time: a timeline, point in time, and a parameter.

The network electricity cost needs the FLEET-AVERAGE efficiency, not the newest machine's
(models.md §1a). Two pieces:

1. **CBECI-implied** where CBECI covers (2010-07 .. 2023-09 in the bundle):
   eps(d) [J/TH] = E(d) [TWh/yr] * 1e12 / 8766 [h/yr] / H7(d) [TH/s],
   with E the CBECI best-guess consumption at the assumed power price (interpolated between CBECI's
   $0.01 grid columns) and H7 the trailing 7-day mean hashrate (CBECI smooths hashrate over a week).
   The panel lags CBECI by a day, so eps(d) uses only what was published by d's close.
2. **Extension** after the last CBECI value: the fleet improves as the frontier did ``fleet_lag_days``
   earlier, anchored at the last CBECI-implied value t0:
   eps(d) = eps(t0) * F(d - lag) / F(t0 - lag),
   where F is the best nameplate efficiency of machines released by then (`FRONTIER`, from
   models.md's efficiency references). Default lag 3 years: Coin Metrics put the fleet at ~33 J/TH in
   May 2023, what the frontier offered about three years earlier (S19 Pro, 29.5 J/TH, 2020).

Everything uses data up to each day only; the timeline is a parameter (`EfficiencyTimeline`), so
a user can substitute their own (e.g. a constant) and sweeps can scale it (``efficiency_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data import bundled_files as bf

HOURS_PER_YEAR = 8766.0

#: Frontier nameplate efficiency (J/TH) by approximate release date (models.md, "Efficiency
#: references"; release months are approximate). Earlier machines from the bundled ASIC list.
FRONTIER: tuple[tuple[str, float, str], ...] = (
    ("2016-07-01", 98.0, "Antminer S9"),
    ("2019-04-01", 45.0, "Antminer S17"),
    ("2020-05-01", 29.5, "Antminer S19 Pro"),
    ("2022-07-01", 20.8, "Antminer S19 XP Hyd"),
    ("2023-10-01", 17.5, "Antminer S21"),
    ("2024-07-01", 15.0, "Antminer S21 Pro"),
    ("2024-10-01", 13.5, "Antminer S21 XP"),
)


@dataclass(frozen=True)
class EfficiencyTimeline:
    """How fleet efficiency is estimated.

    Attributes:
        fleet_lag_days: how far the fleet trails the frontier in the extension.
        hashrate_smooth_days: trailing window of the hashrate in the CBECI ratio.
        frontier: (release date, J/TH, model) steps of the best available machine.
        constant_j_per_th: if set, a flat efficiency instead of the timeline (for comparisons).
    """

    fleet_lag_days: int = 1095
    hashrate_smooth_days: int = 7
    frontier: tuple[tuple[str, float, str], ...] = FRONTIER
    constant_j_per_th: float | None = None


def cbeci_consumption_twh(panel: pd.DataFrame, power_price_usd_kwh: float) -> pd.Series:
    """CBECI consumption (TWh/yr) at ``power_price_usd_kwh``, linear between its $0.01 columns."""
    p = float(np.clip(power_price_usd_kwh, bf.CBECI_PRICES[0], bf.CBECI_PRICES[-1]))
    lo = max(k for k in bf.CBECI_PRICES if k <= p + 1e-12)
    hi = min(k for k in bf.CBECI_PRICES if k >= p - 1e-12)
    e_lo = panel[f"cbeci_{bf.cbeci_column(lo)}"]
    if hi == lo:
        return e_lo
    e_hi = panel[f"cbeci_{bf.cbeci_column(hi)}"]
    w = (p - lo) / (hi - lo)
    return e_lo * (1 - w) + e_hi * w


def cbeci_implied_efficiency(
    panel: pd.DataFrame, power_price_usd_kwh: float = 0.05, smooth_days: int = 7
) -> pd.Series:
    """eps = E[TWh/yr] * 1e12 / 8766 / H7[TH/s], in J/TH (NaN where CBECI is absent)."""
    hashrate = panel["hashrate_ths"].rolling(smooth_days, min_periods=smooth_days).mean()
    watts = cbeci_consumption_twh(panel, power_price_usd_kwh) * 1e12 / HOURS_PER_YEAR
    return (watts / hashrate).rename("fleet_efficiency_j_per_th")


def frontier_efficiency(index: pd.DatetimeIndex, frontier=FRONTIER) -> pd.Series:
    """Best nameplate J/TH released by each date (NaN before the first listed machine)."""
    steps = pd.Series(
        [j for _, j, _ in frontier], index=pd.DatetimeIndex([d for d, _, _ in frontier])
    )
    steps = steps.sort_index().cummin()
    pos = steps.index.searchsorted(index, side="right") - 1
    values = np.where(pos >= 0, steps.to_numpy()[np.clip(pos, 0, None)], np.nan)
    return pd.Series(values, index=index, name="frontier_j_per_th")


def fleet_efficiency(
    panel: pd.DataFrame,
    power_price_usd_kwh: float = 0.05,
    timeline: EfficiencyTimeline = EfficiencyTimeline(),
) -> pd.Series:
    """Fleet-average efficiency (J/TH) per day: CBECI-implied, then extended (module docstring).

    Point in time: the extension at day d anchors on the last CBECI-implied value known by d.
    """
    idx = panel.index
    if timeline.constant_j_per_th is not None:
        return pd.Series(
            float(timeline.constant_j_per_th), index=idx, name="fleet_efficiency_j_per_th"
        )
    implied = cbeci_implied_efficiency(panel, power_price_usd_kwh, timeline.hashrate_smooth_days)
    lag = pd.Timedelta(days=timeline.fleet_lag_days)
    frontier_lagged = frontier_efficiency(idx - lag, timeline.frontier).to_numpy()
    known = implied.notna().to_numpy()
    # Last CBECI-implied value and the lagged frontier at that day, carried forward.
    anchor = implied.where(known).ffill()
    anchor_frontier = pd.Series(np.where(known, frontier_lagged, np.nan), index=idx).ffill()
    extended = anchor * frontier_lagged / anchor_frontier
    out = implied.where(known, extended)
    # Only extend after CBECI coverage began (never backwards into the past).
    return out.rename("fleet_efficiency_j_per_th")
