"""How well the price-only SOPR proxy stands in for the real STH-SOPR (issue 12).

The reference is the **bundled real STH-SOPR** (Checkonchain via TonieKapital/SOPR, panel column
``sth_sopr``, the value of day d in panel row d+1: publication lag 1, applied by the panel); the
candidate is `signals.sopr.sopr_proxy` (close_usd / 155-day trailing VWAP, publication lag 0).
Both are compared row by row on the panel calendar, i.e. as a trader had them at each day's
close. ``SoprParams.series="lth_sopr"`` compares against LTH-SOPR instead; ``"proxy"`` (the proxy
against itself) is refused.

Measures (``x`` the real series, ``y`` the proxy, both dimensionless ratios; ``s`` the trailing
mean of ``smooth_days`` days that the SOPR rule reads, s_d = mean(x_{d-n+1..d}), never centred):

* **correlation**: Pearson's r of the daily values x_d, y_d over the days on which both are known
  (``daily_days``);
* **correlation_smoothed**: Pearson's r of s(x)_d, s(y)_d over the days on which both trailing
  means are known (``days``, the span ``first`` .. ``last``);
* **agreement**: share of those ``days`` on which both are on the same side of the rule's
  threshold, [s(x)_d < threshold] == [s(y)_d < threshold] (default: 7-day mean below 1);
* **entries**: `signals.sopr.sopr_signal`'s entry rule on each series with the same parameters,
  kept on the ``days`` where both trailing means are known (unknown counts as not firing).
  Consecutive entry days form one episode, dated by its first day; with `sopr_signal`'s rule
  every episode is one day (an entry needs the mean at or below the threshold the day before);
* **recall** = real episodes with a proxy episode within ±``match_days`` calendar days / real
  episodes; **precision** = proxy episodes with a real episode within ±``match_days`` / proxy
  episodes (NaN when there is no episode to count).

Everything is computed on trailing windows over the whole panel and then restricted to
``start`` .. ``end``, so the result for a span depends on no data after its end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import isnan

import numpy as np
import pandas as pd

from costbt.signals.sopr import PROXY_NAME, SoprParams, sopr_signal

SOURCE = "Checkonchain via TonieKapital/SOPR, bundled, lag 1 day"
#: How each real series is named in reports.
LABELS = {"sth_sopr": "STH-SOPR", "lth_sopr": "LTH-SOPR"}
#: Columns of `fidelity_frame`.
FRAME_COLUMNS = (
    "real",
    "proxy",
    "real_smoothed",
    "proxy_smoothed",
    "real_below",
    "proxy_below",
    "real_entry",
    "proxy_entry",
)


class NoOverlapError(ValueError):
    """No day in the requested span on which both series (their trailing means) are known."""


def _share(value: float) -> bool:
    return isnan(value) or 0.0 <= value <= 1.0


def _corr(value: float) -> bool:
    return isnan(value) or -1.0 - 1e-9 <= value <= 1.0 + 1e-9


@dataclass(frozen=True)
class ProxyFidelity:
    """The proxy measured against a real SOPR series (module docstring for the formulas).

    Attributes:
        reference: the real series' panel column (``sth_sopr``).
        smooth_days: days of the trailing mean the rule reads.
        threshold: the rule's zone level (ratio; below it is "below 1").
        match_days: half-width of the matching window (calendar days, >= 0).
        first, last: first and last day on which both trailing means are known in the span.
        days: days on which both trailing means are known (first .. last; gaps excluded).
        daily_days: days on which both daily values are known.
        correlation: Pearson's r of the daily values (NaN with fewer than 2 days or no variance).
        correlation_smoothed: Pearson's r of the trailing means.
        agreement: share of ``days`` with both means on the same side of ``threshold``.
        real_below, proxy_below: share of ``days`` with that series' mean below ``threshold``.
        real_entries, proxy_entries: first days of the entry episodes, sorted.
        real_matched: real episodes with a proxy episode within ±``match_days``.
        proxy_matched: proxy episodes with a real episode within ±``match_days``.
    """

    reference: str
    smooth_days: int
    threshold: float
    match_days: int
    first: pd.Timestamp
    last: pd.Timestamp
    days: int
    daily_days: int
    correlation: float
    correlation_smoothed: float
    agreement: float
    real_below: float
    proxy_below: float
    real_entries: tuple[pd.Timestamp, ...]
    proxy_entries: tuple[pd.Timestamp, ...]
    real_matched: int
    proxy_matched: int

    def __post_init__(self) -> None:
        if not isinstance(self.match_days, int | np.integer) or self.match_days < 0:
            raise ValueError(f"match_days must be a whole number >= 0, got {self.match_days!r}")
        if self.smooth_days < 1:
            raise ValueError(f"smooth_days must be >= 1, got {self.smooth_days}")
        if self.first > self.last:
            raise ValueError(f"first {self.first.date()} is after last {self.last.date()}")
        if self.days < 1 or self.daily_days < 0:
            raise ValueError(
                f"days={self.days} and daily_days={self.daily_days} must be >= 1, >= 0"
            )
        for name in ("correlation", "correlation_smoothed"):
            if not _corr(getattr(self, name)):
                raise ValueError(f"{name}={getattr(self, name)} is not a correlation")
        for name in ("agreement", "real_below", "proxy_below"):
            if not _share(getattr(self, name)):
                raise ValueError(f"{name}={getattr(self, name)} is not a share in [0, 1]")
        for name, entries in (("real", self.real_entries), ("proxy", self.proxy_entries)):
            if list(entries) != sorted(entries):
                raise ValueError(f"{name}_entries are not sorted")
            if entries and (entries[0] < self.first or entries[-1] > self.last):
                raise ValueError(
                    f"{name}_entries fall outside {self.first.date()} .. {self.last.date()}"
                )
            matched = getattr(self, f"{name}_matched")
            if not 0 <= matched <= len(entries):
                raise ValueError(f"{name}_matched={matched} is not in 0 .. {len(entries)}")

    @property
    def recall(self) -> float:
        """Share of the real episodes the proxy finds within ±match_days (NaN: none)."""
        n = len(self.real_entries)
        return self.real_matched / n if n else float("nan")

    @property
    def precision(self) -> float:
        """Share of the proxy's episodes with a real one within ±match_days (NaN: none)."""
        n = len(self.proxy_entries)
        return self.proxy_matched / n if n else float("nan")


def fidelity_frame(
    panel: pd.DataFrame,
    params: SoprParams = SoprParams(),  # noqa: B008 - frozen, immutable default
) -> pd.DataFrame:
    """Day by day: the real series and the proxy, their trailing means, zones and entries.

    Columns `FRAME_COLUMNS`: ``real`` / ``proxy`` (daily ratios), ``*_smoothed`` (trailing mean
    of ``params.smooth_days`` days), ``*_below`` (mean < ``params.threshold``, boolean, <NA>
    unknown), ``*_entry`` (`sopr_signal`'s entry rule, boolean, <NA> unknown). The real series is
    the panel column ``params.series`` (``sth_sopr`` by default); the proxy is `sopr_proxy` with
    the same rule parameters. Point in time: every column at d uses rows <= d only.

    Raises:
        ValueError: ``params.series`` is ``"proxy"`` (nothing real to compare with).
    """
    if params.series == "proxy":
        raise ValueError("the proxy's fidelity needs a real series: sth_sopr or lth_sopr")
    real = sopr_signal(panel, params)
    proxy = sopr_signal(panel, replace(params, series="proxy"))
    r, p = params.series, PROXY_NAME
    return pd.DataFrame(
        {
            "real": real.indicator[r],
            "proxy": proxy.indicator[p],
            "real_smoothed": real.indicator[f"{r}_smoothed"],
            "proxy_smoothed": proxy.indicator[f"{p}_smoothed"],
            "real_below": real.indicator[f"{r}_below"],
            "proxy_below": proxy.indicator[f"{p}_below"],
            "real_entry": real.entry,
            "proxy_entry": proxy.entry,
        },
        index=panel.index,
    )


def _day_numbers(days: pd.DatetimeIndex) -> np.ndarray:
    """Whole days since 1970-01-01 (independent of the index's time unit)."""
    return pd.DatetimeIndex(days).to_numpy().astype("datetime64[D]").astype(np.int64)


def episode_starts(entry: pd.Series) -> pd.DatetimeIndex:
    """First days of runs of consecutive days with ``entry`` True (<NA> counts as False)."""
    on = entry.astype("boolean").fillna(False).astype(bool)
    days = pd.DatetimeIndex(on.index[on.to_numpy()])
    if not len(days):
        return days
    gaps = np.diff(_day_numbers(days)) != 1
    return days[np.concatenate([[True], gaps])]


def matched_within(days: pd.DatetimeIndex, others: pd.DatetimeIndex, window: int) -> int:
    """How many of ``days`` have one of ``others`` within ±``window`` calendar days."""
    if not len(days) or not len(others):
        return 0
    o = np.sort(_day_numbers(others))
    d = _day_numbers(days)
    lo = np.searchsorted(o, d - window, side="left")
    hi = np.searchsorted(o, d + window, side="right")
    return int((hi > lo).sum())


def _pearson(a: pd.Series, b: pd.Series) -> float:
    if len(a) < 2:
        return float("nan")
    return float(a.corr(b))


def proxy_fidelity(
    panel: pd.DataFrame,
    params: SoprParams = SoprParams(),  # noqa: B008 - frozen, immutable default
    match_days: int = 7,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> ProxyFidelity:
    """The proxy's fidelity to the real series over ``start`` .. ``end`` (module docstring).

    Args:
        panel: the point-in-time panel (``close_usd``, ``volume_btc`` and ``params.series``).
        params: the SOPR rule's parameters, the same for both series; ``params.series`` names
            the real series (default ``sth_sopr``, the bundled Checkonchain STH-SOPR).
        match_days: an entry matches one of the other series within ± this many calendar days.
        start, end: the span compared (inclusive; None: the whole overlap). The series are
            computed on the whole panel first, so trailing means are warm at ``start``.

    Raises:
        ValueError: ``match_days`` is not a whole number >= 0, ``start`` is after ``end``, or
            ``params.series`` is ``"proxy"``.
        NoOverlapError: no day in the span on which both trailing means are known.
    """
    if isinstance(match_days, bool) or not isinstance(match_days, int | np.integer):
        raise ValueError(f"match_days must be a whole number >= 0, got {match_days!r}")
    if match_days < 0:
        raise ValueError(f"match_days must be >= 0, got {match_days}")
    lo = None if start is None else pd.Timestamp(start)
    hi = None if end is None else pd.Timestamp(end)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"start {lo.date()} is after end {hi.date()}")

    frame = fidelity_frame(panel, params).loc[lo:hi]
    smooth = frame["real_smoothed"].notna() & frame["proxy_smoothed"].notna()
    daily = frame["real"].notna() & frame["proxy"].notna()
    if not smooth.any():
        raise NoOverlapError(
            f"no day in {'the panel' if lo is None and hi is None else 'the span'} on which both "
            f"the real {params.series} and the proxy ({params.smooth_days}-day means) are known"
        )
    both = frame[smooth]
    real_below = both["real_below"].astype(bool)
    proxy_below = both["proxy_below"].astype(bool)
    real_entries = episode_starts(both["real_entry"])
    proxy_entries = episode_starts(both["proxy_entry"])
    return ProxyFidelity(
        reference=params.series,
        smooth_days=params.smooth_days,
        threshold=params.threshold,
        match_days=int(match_days),
        first=both.index[0],
        last=both.index[-1],
        days=len(both),
        daily_days=int(daily.sum()),
        correlation=_pearson(frame.loc[daily, "real"], frame.loc[daily, "proxy"]),
        correlation_smoothed=_pearson(both["real_smoothed"], both["proxy_smoothed"]),
        agreement=float((real_below == proxy_below).mean()),
        real_below=float(real_below.mean()),
        proxy_below=float(proxy_below.mean()),
        real_entries=tuple(real_entries),
        proxy_entries=tuple(proxy_entries),
        real_matched=matched_within(real_entries, proxy_entries, match_days),
        proxy_matched=matched_within(proxy_entries, real_entries, match_days),
    )


def verdict(f: ProxyFidelity) -> str:
    """One line: how many real entries the proxy finds, and how many of its own are real.

    "good" when it finds at least 80 % of the real entries and at least 80 % of its entries
    match one, "poor" when it finds fewer than half, "partial" otherwise (costbt's wording).
    """
    recall, precision = f.recall, f.precision
    if isnan(recall) or isnan(precision):
        quality = "an untested"
    elif recall >= 0.8 and precision >= 0.8:
        quality = "a good"
    elif recall < 0.5:
        quality = "a poor"
    else:
        quality = "a partial"
    return (
        f"the proxy is {quality} stand-in for the SOPR rule: it finds {f.real_matched} of "
        f"{len(f.real_entries)} real entries within ±{f.match_days} days, and "
        f"{f.proxy_matched} of its {len(f.proxy_entries)} entries have a real one that close"
    )
