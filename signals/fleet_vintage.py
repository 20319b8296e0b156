"""Fleet efficiency from hashrate and machine releases alone: the hashrate-weighted vintage mix.

A CBECI-free estimate of the fleet-average efficiency (J/TH), used where CBECI did not yet exist
(`signals.fleet_efficiency`). It is a forward simulation that uses, on day d, only the hashrate up
to d and the machines released by d - ``deploy_lag_days``:

* **Deployment.** The installed fleet is a list of vintages (TH/s deployed on a day, at the J/TH
  of the best machine released ``deploy_lag_days`` earlier: `signals.fleet_efficiency.FRONTIER`,
  a non-increasing step function, so a later vintage is never less efficient). When the day's
  hashrate H(d) exceeds the installed, unretired capacity K(d), the difference H(d) - K(d) is
  deployed as a new vintage: K(d) = max(K(d-1) - retired, H(d)).
* **Switch-off, FIFO by efficiency.** When H(d) < K(d) the least efficient (oldest) vintages are
  switched off first; they stay installed and are switched back on, before anything new is
  bought, when hashrate recovers.
* **Obsolescence.** A vintage is scrapped (leaves the fleet for good) once it needs more than
  ``obsolete_ratio`` times the energy per hash of the machines being deployed that day; a vintage
  can also be given a maximum life (``max_life_days``, off by default).
* **Output.** eps(d) = sum_k h_k(d) * e_k / H(d) over the running (switched-on) vintages,
  the hashrate-weighted mean J/TH; NaN where H(d) is unknown or zero.

H is the trailing ``smooth_days``-day mean of the panel's ``hashrate_ths``. The daily estimate
comes from block counts (about 144 a day, so about 8 % noise a day, 3 % over a week): fed to the
simulation unsmoothed, lucky days would add new machines (a ratchet towards efficiency) and
unlucky days would switch off the oldest, least efficient ones (so the fleet's J/TH would jump
from day to day). A 30-day mean leaves about 1.5 % of counting noise. Nothing is fitted, to CBECI or to anything else: the inputs are the chain's hashrate
and the published specification sheets, both public at the time.

History matters: the simulation starts with an empty fleet on the panel's first day, so it needs
the chain from the genesis block (the bundled panel has it). On a panel cut to start later the
whole first day's hashrate counts as new machines, as the expanding difficulty regression counts
only the days it is given: compute signals on the whole panel and select days afterwards.

The kernel (`vintage_mix`) is a plain loop over days with binary searches on cumulative sums:
O(n log n), about 20 ms for the 6,400-day panel; `vintage_mix_efficiency` caches results by their
inputs (the same hashrate and settings give the same series), so sweeps over power prices, which
recompute the CBECI part, do not recompute this.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class VintageMix:
    """Settings of the vintage-mix model (see the module docstring).

    Attributes:
        deploy_lag_days: a machine first shipped on day r powers new capacity from r + lag.
            Default 90: the frontier dates are first customer shipments (S9 July 2016, S7
            September 2015), and a generation made up most new installs within about a quarter
            (the S9 carried 2016's second-half growth). With ``obsolete_ratio`` on, the
            below-cost days do not depend on it between 60 and 180 days (docs/signals.md).
        obsolete_ratio: scrap a vintage once its J/TH exceeds this multiple of the J/TH being
            deployed that day. Default 4: while new capacity is being added, a new machine's
            revenue covers its power and its hardware, and power was roughly a quarter to a half
            of that for the 2014-2019 generations at 5 c/kWh; a machine needing about four times
            the energy per hash cannot pay for its power at the prices that still attract new
            machines (cheaper power keeps some longer, hence 4 rather than 2-3). It gives
            service lives close to the history: S1 and S2 about a year and a half, S3 and S5
            about two years, S7 a little over three, the S9 about six (to the S19 XP).
            Price-free and CBECI-free: the threshold moves with the machines, not with the BTC
            price. None: never.
        max_life_days: scrap a vintage this long after deployment (None, the default: only by
            obsolescence).
        smooth_days: trailing window of the hashrate that drives deployment (module docstring).
    """

    deploy_lag_days: int = 90
    obsolete_ratio: float | None = 4.0
    max_life_days: int | None = None
    smooth_days: int = 30

    def __post_init__(self) -> None:
        if not 0 <= self.deploy_lag_days <= 1095:
            raise ValueError(f"deploy_lag_days must be 0..1095, got {self.deploy_lag_days}")
        if self.max_life_days is not None and not 1 <= self.max_life_days <= 7300:
            raise ValueError(f"max_life_days must be 1..7300 or None, got {self.max_life_days}")
        if self.obsolete_ratio is not None and not 1.0 < self.obsolete_ratio <= 100.0:
            raise ValueError(
                f"obsolete_ratio must be in (1, 100] or None, got {self.obsolete_ratio}"
            )
        if not 1 <= self.smooth_days <= 90:
            raise ValueError(f"smooth_days must be 1..90, got {self.smooth_days}")


def vintage_mix(
    hashrate_ths: np.ndarray,
    new_j_per_th: np.ndarray,
    max_life_days: int | None = None,
    obsolete_ratio: float | None = None,
) -> np.ndarray:
    """Hashrate-weighted mean J/TH of the running vintages, day by day (module docstring).

    Args:
        hashrate_ths: the fleet's hashrate per day (TH/s); NaN or <= 0: unknown that day (no
            output, the fleet carried over unchanged).
        new_j_per_th: J/TH of the machines deployed on each day; must not increase over time
            (so that the oldest running vintage is the least efficient).
        max_life_days: scrap a vintage this many days after its deployment day (None: never).
        obsolete_ratio: scrap a vintage once its J/TH exceeds this multiple of the day's
            ``new_j_per_th`` (None: never).

    Returns:
        J/TH per day (NaN where the hashrate is unknown or zero).
    """
    h = np.asarray(hashrate_ths, dtype=np.float64)
    e = np.asarray(new_j_per_th, dtype=np.float64)
    if h.shape != e.shape:
        raise ValueError("hashrate_ths and new_j_per_th must have the same length")
    out = np.full(len(h), np.nan)
    cap = [0.0]  # cumulative capacity of vintages 0..k-1 (TH/s)
    energy = [0.0]  # cumulative capacity * J/TH (W)
    j_per_th: list[float] = []  # each vintage's J/TH (kept, not re-derived from the sums)
    born: list[int] = []  # deployment day of each vintage
    live = 0  # first vintage not yet scrapped
    for d in range(len(h)):
        hd = h[d]
        if not np.isfinite(hd) or hd <= 0.0:
            continue
        if max_life_days is not None:
            live = max(live, bisect.bisect_right(born, d - max_life_days))
        if obsolete_ratio is not None and np.isfinite(e[d]):
            limit = obsolete_ratio * e[d]
            while live < len(born) and j_per_th[live] > limit:
                live += 1
        installed = cap[-1] - cap[live]
        if hd > installed:
            ed = float(e[d])
            if not np.isfinite(ed):
                raise ValueError(f"no machine efficiency for day {d}, where capacity is added")
            if j_per_th and ed > j_per_th[-1]:
                raise ValueError("new_j_per_th must not increase over time")
            add = hd - installed
            cap.append(cap[-1] + add)
            energy.append(energy[-1] + add * ed)
            j_per_th.append(ed)
            born.append(d)
        # Running: the newest vintages totalling hd; the boundary vintage k runs in part.
        idle_level = cap[-1] - hd
        k = max(bisect.bisect_right(cap, idle_level) - 1, live)
        k = min(k, len(born) - 1)
        running_in_k = cap[k + 1] - max(idle_level, cap[k])
        out[d] = (energy[-1] - energy[k + 1] + running_in_k * j_per_th[k]) / hd
    return out


_CACHE: OrderedDict[tuple, np.ndarray] = OrderedDict()
_CACHE_SIZE = 32


def vintage_mix_efficiency(
    panel: pd.DataFrame,
    frontier: tuple[tuple[str, float, str], ...] | None = None,
    settings: VintageMix = VintageMix(),
) -> pd.Series:
    """The vintage-mix fleet efficiency (J/TH) on the panel's days (module docstring).

    ``frontier`` defaults to `signals.fleet_efficiency.FRONTIER`; before its first machine
    (CPUs, genesis) plus the deployment lag, the first machine is deployed (nothing else
    existed). Point in time: the value on day d uses ``hashrate_ths`` up to d only.
    """
    from costbt.signals.fleet_efficiency import FRONTIER, frontier_efficiency

    steps = FRONTIER if frontier is None else tuple(frontier)
    idx = panel.index
    h = (
        panel["hashrate_ths"]
        .rolling(settings.smooth_days, min_periods=settings.smooth_days)
        .mean()
        .to_numpy(dtype=np.float64)
    )
    key = (
        hashlib.blake2b(h.tobytes(), digest_size=16).hexdigest(),
        int(idx[0].value) if len(idx) else 0,
        len(idx),
        steps,
        settings,
    )
    if key in _CACHE:
        _CACHE.move_to_end(key)
        values = _CACHE[key]
    else:
        released = frontier_efficiency(idx - pd.Timedelta(days=settings.deploy_lag_days), steps)
        first = min(steps, key=lambda s: pd.Timestamp(s[0]))[1]
        new = released.fillna(first).to_numpy(dtype=np.float64)
        values = vintage_mix(h, new, settings.max_life_days, settings.obsolete_ratio)
        _CACHE[key] = values
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return pd.Series(values.copy(), index=idx, name="fleet_efficiency_j_per_th")
