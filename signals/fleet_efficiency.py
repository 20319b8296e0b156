"""Fleet-average mining efficiency (J/TH) over time: a timeline, point in time, and a parameter.

The network electricity cost needs the FLEET-AVERAGE efficiency, not the newest machine's
(models.md §1a). Three pieces, by panel row d:

1. **Vintage mix** before CBECI's first panel row (CBECI was launched on 2 July 2019; the panel
   withholds its values on earlier rows, `data.panel.PanelSource.first_available`): the
   hashrate-weighted mean J/TH of the machines deployed so far, each day's hashrate growth at the
   nameplate efficiency of the best machine released ``deploy_lag_days`` earlier, the least
   efficient switched off first when hashrate falls, scrapped once obsolete (``obsolete_ratio``
   times the J/TH being deployed) (`signals.fleet_vintage`). CBECI-free: it uses the chain's hashrate and `FRONTIER` only, and
   nothing is calibrated against CBECI.
2. **CBECI-implied** where CBECI is known (panel rows 2019-07-02 .. 2023-09-03):
   eps(d) [J/TH] = E(d) [TWh/yr] * 1e12 / 8766 [h/yr] / H7(d) [TH/s],
   with E the CBECI best-guess consumption at the assumed power price (interpolated between CBECI's
   $0.01 grid columns) and H7 the trailing 7-day mean hashrate (CBECI smooths hashrate over a week).
   The panel lags CBECI by a day, so eps(d) uses only what was published by d's close.
3. **Extension** after the last CBECI value: the fleet improves as the frontier did ``fleet_lag_days``
   earlier, anchored at the last CBECI-implied value t0:
   eps(d) = eps(t0) * F(d - lag) / F(t0 - lag),
   where F is the best nameplate efficiency of machines released by then (`FRONTIER`, from
   models.md's efficiency references). Default lag 3 years: Coin Metrics put the fleet at ~33 J/TH in
   May 2023, what the frontier offered about three years earlier (S19 Pro, 29.5 J/TH, 2020).

The seam at 2019-07-02 is a change of model, not of fleet: the vintage mix gives 93 J/TH on
2019-07-01 and CBECI 107 J/TH the next day (+15 %), so costs step up there. Caveat that remains: the
bundled CBECI is a 2023 snapshot, so even its values after July 2019 are revised figures, not what
CBECI showed on the day (revision bias, not correctable without archived vintages).

Everything uses data up to each day only; the timeline is a parameter (`EfficiencyTimeline`), so
a user can substitute their own (e.g. a constant) and sweeps can scale it (``efficiency_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.data import bundled_files as bf
from costbt.signals.fleet_vintage import VintageMix, vintage_mix_efficiency

HOURS_PER_YEAR = 8766.0

#: Frontier nameplate efficiency (J/TH) by approximate first-shipment month: the best mass-market
#: machine a miner could buy, from manufacturers' public specification sheets (wall power over
#: rated hashrate at launch firmware; nameplate, so real fleets run a few per cent worse).
#: Pre-ASIC rows are orders of magnitude for the class (Bitcoin wiki hardware comparisons); the
#: 2016-2019 Bitmain rows are the bundled ASIC list (data/bundled/asic_models.csv, F2Pool); S17
#: onward models.md's efficiency references. Bitmain's flagships (the bulk of shipments) rather
#: than the single best announced device: e.g. Ebang's E11++ (45 J/TH, announced October 2018)
#: shipped in volume only in 2019.
FRONTIER: tuple[tuple[str, float, str], ...] = (
    ("2009-01-03", 1.0e7, "CPU mining, genesis (about 0.1 MH/J)"),
    ("2010-10-01", 5.0e5, "GPU, ATI Radeon HD 5870 with public OpenCL miners (about 2 MH/J)"),
    ("2011-12-01", 5.0e4, "FPGA boards, Icarus / ZTEX 1.15x (about 20 MH/J)"),
    ("2013-01-30", 9400.0, "Avalon batch 1 (66 GH/s, 620 W)"),
    ("2013-11-01", 2000.0, "Antminer S1 (180 GH/s, 360 W)"),
    ("2014-04-01", 1100.0, "Antminer S2 (1 TH/s, 1,100 W)"),
    ("2014-07-01", 770.0, "Antminer S3 (441 GH/s, 340 W)"),
    ("2014-12-01", 510.0, "Antminer S5 (1.155 TH/s, 590 W)"),
    ("2015-09-01", 273.0, "Antminer S7 (4.73 TH/s, 1,293 W)"),
    ("2016-07-01", 98.0, "Antminer S9"),
    ("2018-05-01", 94.3, "Antminer S9i (14 TH/s, 1,320 W)"),
    ("2018-11-01", 57.0, "Antminer S15 (28 TH/s, 1,596 W)"),
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
        vintage: the vintage-mix model used before CBECI's first row (`VintageMix`).
    """

    fleet_lag_days: int = 1095
    hashrate_smooth_days: int = 7
    frontier: tuple[tuple[str, float, str], ...] = FRONTIER
    constant_j_per_th: float | None = None
    vintage: VintageMix = VintageMix()


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
    """eps = E[TWh/yr] * 1e12 / 8766 / H7[TH/s], in J/TH (NaN where CBECI is absent, including
    every row before its publication and a panel without CBECI columns)."""
    if f"cbeci_{bf.cbeci_column(bf.CBECI_PRICES[0])}" not in panel.columns:
        return pd.Series(np.nan, index=panel.index, name="fleet_efficiency_j_per_th")
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


#: Labels of `efficiency_sources`.
SOURCES = ("vintage mix", "CBECI", "extension")


def _pieces(
    panel: pd.DataFrame, power_price_usd_kwh: float, timeline: EfficiencyTimeline
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(CBECI-implied efficiency, rows before CBECI's first known row, rows CBECI knows)."""
    implied = cbeci_implied_efficiency(panel, power_price_usd_kwh, timeline.hashrate_smooth_days)
    known = implied.notna().to_numpy()
    before = ~np.logical_or.accumulate(known) if len(known) else known
    return implied, before, known


def fleet_efficiency(
    panel: pd.DataFrame,
    power_price_usd_kwh: float = 0.05,
    timeline: EfficiencyTimeline = EfficiencyTimeline(),
) -> pd.Series:
    """Fleet-average efficiency (J/TH) per day: vintage mix before CBECI's first known row,
    CBECI-implied where CBECI is known, then extended (module docstring).

    Point in time: the vintage mix at day d is a forward simulation on hashrate up to d; the
    switch to CBECI happens at the first row that holds CBECI (the panel withholds CBECI before
    its 2 July 2019 publication); the extension at day d anchors on the last CBECI-implied value
    known by d.
    """
    idx = panel.index
    if timeline.constant_j_per_th is not None:
        return pd.Series(
            float(timeline.constant_j_per_th), index=idx, name="fleet_efficiency_j_per_th"
        )
    implied, before, known = _pieces(panel, power_price_usd_kwh, timeline)
    lag = pd.Timedelta(days=timeline.fleet_lag_days)
    frontier_lagged = frontier_efficiency(idx - lag, timeline.frontier).to_numpy()
    # Last CBECI-implied value and the lagged frontier at that day, carried forward.
    anchor = implied.where(known).ffill()
    anchor_frontier = pd.Series(np.where(known, frontier_lagged, np.nan), index=idx).ffill()
    extended = anchor * frontier_lagged / anchor_frontier
    out = implied.where(known, extended)
    if before.any():
        vintage = vintage_mix_efficiency(panel, timeline.frontier, timeline.vintage)
        out = out.where(~before, vintage)
    return out.rename("fleet_efficiency_j_per_th")


def efficiency_sources(
    panel: pd.DataFrame,
    power_price_usd_kwh: float = 0.05,
    timeline: EfficiencyTimeline = EfficiencyTimeline(),
) -> pd.Series:
    """Which piece of `fleet_efficiency` each row uses: one of `SOURCES` ("constant" with
    ``constant_j_per_th``)."""
    if timeline.constant_j_per_th is not None:
        return pd.Series("constant", index=panel.index, name="efficiency_source")
    _, before, known = _pieces(panel, power_price_usd_kwh, timeline)
    labels = np.where(before, SOURCES[0], np.where(known, SOURCES[1], SOURCES[2]))
    return pd.Series(labels, index=panel.index, name="efficiency_source")
