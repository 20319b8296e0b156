"""US spot bitcoin ETF flow signals: streak reversal and the sign of the rolling flow sum.

Source: Farside Investors' daily table of net creations minus redemptions per fund and in total,
US$ millions, one value per US trading day (`data/bundled/etf_flows_1d.csv`, or a cached Farside
snapshot). In the panel the columns ``etf_flow_total_usd_m`` and ``etf_flow_<ticker>_usd_m``
(``ibit``, ``fbtc``, ...) are already lagged one day: the row d+1 holds US trading day d's flow,
and days without a publication (weekends, US holidays, before a fund's launch, after the data
ends) are NaN.

**Only published days count.** Every indicator is computed on the sequence of *published* values
(the panel column with its NaN rows dropped), so a weekend or holiday neither breaks an outflow
streak nor counts as a day of a rolling window: "21 days" means 21 published (business) days.
The results are then put back on the panel's daily calendar:

* an indicator value (flow, streak, rolling sum, z-score, change) stands from the day it is
  published until the next publication, for at most ``max_stale_days`` calendar days; after that
  (a data hole, or the end of the data) it is NaN, and the rules are unknown (<NA>);
* an entry or exit is an *event*: it can fire only on a day a new value is published. On the days
  in between it is False (nothing new happened) as long as the last publication is fresh, else
  <NA>;
* before the first published value (2024-01-11's flow, in row 2024-01-12) everything is NaN or
  <NA> (unknown), never False;
* a hole (more than ``max_stale_days`` days between two publications, which the bundled total
  never has: its longest gap between rows is 4 days) is not bridged by an outflow streak: the
  streak restarts after it, and the entry on the first publication after it is unknown when its
  inflow would qualify. Rolling windows count published values across a hole.

Indicators (`flow_indicators`, US$ millions unless stated), on published day i with flow x_i:

* ``flow_usd_m`` = x_i;
* ``outflow_streak_days`` = number of consecutive published days ending at i with x < 0
  (0 if x_i >= 0); ``outflow_streak_usd_m`` = -(sum of those x), the streak's total outflow (>= 0);
* ``sum_usd_m`` = x_{i-N+1} + ... + x_i over the last N = ``sum_window_days`` published days
  (NaN until N values exist); ``sum_sign`` = its sign (-1, 0, +1);
* ``zscore`` = (x_i - mean) / std over the last Z = ``z_window_days`` published values
  including x_i (sample std, ddof 1; NaN until Z values exist or when std = 0);
* ``change_usd_m`` = (sum of values published in the last W = ``change_window_days`` calendar
  days) - (sum of those published in the W calendar days before), e.g. this week vs last week
  for W = 7 (NaN during the first 2W - 1 days after the first publication).

Rules (models.md section 4):

* `etf_reversal` entry: x_i >= ``min_inflow_usd_m`` and the outflow streak that ended at the
  previous published day lasted >= ``min_outflow_days`` days and totalled >=
  ``min_outflow_total_usd_m`` (defaults $100m, 3 days, $500m). Because the streak must end
  exactly at the previous publication, x_i is by construction the *first* inflow after it; a
  small inflow in between (or a zero day) ends the streak and nothing fires.
  Exit (``exit_rule``): ``sum_turns_negative`` (default): the rolling N-day sum goes from >= 0 at
  the previous publication to < 0; or ``outflow_streak``: a new outflow streak first reaches
  ``min_outflow_days`` days and ``min_outflow_total_usd_m`` (the set-up of a reversal again).
* `etf_trend` entry: the rolling N-day sum goes from <= 0 to > 0; exit: from >= 0 to < 0.

Known weaknesses: Farside's values are revised after publication (the bundle holds one late
snapshot, not what was shown on each evening; use cached snapshots and ``load_panel(as_of=...)``
for that); "usable the next day" assumes the whole table is complete by 00:00 UTC, while some
issuers report a day late; flows are in dollars, not BTC, so they scale with price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.data.bundled_files import ETF_FUNDS
from costbt.signals.conditions import as_rule
from costbt.signals.output import SignalOutput
from costbt.signals.params import Validated, param

#: Flow column choices: ``total`` or a fund's ticker in lower case.
FUNDS: tuple[str, ...] = ("total", *(t.lower() for t, _ in ETF_FUNDS))
EXIT_RULES: tuple[str, ...] = ("sum_turns_negative", "outflow_streak")
INDICATOR_COLUMNS: tuple[str, ...] = (
    "flow_usd_m",
    "published",
    "outflow_streak_days",
    "outflow_streak_usd_m",
    "sum_usd_m",
    "sum_sign",
    "zscore",
    "change_usd_m",
)


def flow_column(fund: str) -> str:
    """Panel column of a fund's flow (``etf_flow_ibit_usd_m``) or the total (``total``)."""
    return f"etf_flow_{fund}_usd_m"


@dataclass(frozen=True)
class EtfFlowParams(Validated):
    """Parameters of `etf_reversal` (defaults from models.md section 4)."""

    fund: str = param("total", choices=FUNDS, help="flow column: the total or one fund's ticker")
    min_inflow_usd_m: float = param(
        100.0, low=0.0, high=2000.0, step=25.0, unit="US$ millions", help="reversal day inflow"
    )
    min_outflow_days: int = param(
        3, low=1, high=15, unit="published days", help="outflow streak length before it"
    )
    min_outflow_total_usd_m: float = param(
        500.0, low=0.0, high=10000.0, step=100.0, unit="US$ millions", help="streak total outflow"
    )
    sum_window_days: int = param(
        21, low=2, high=126, unit="published days", help="rolling flow sum window"
    )
    z_window_days: int = param(
        60, low=10, high=252, unit="published days", help="z-score window (indicator only)"
    )
    change_window_days: int = param(
        7, low=2, high=30, unit="calendar days", help="window of the change indicator"
    )
    max_stale_days: int = param(
        4, low=1, high=10, unit="calendar days", help="how long a published value stands"
    )
    exit_rule: str = param("sum_turns_negative", choices=EXIT_RULES, help="exit event")


@dataclass(frozen=True)
class EtfTrendParams(Validated):
    """Parameters of `etf_trend`: the sign of the rolling sum of published flows."""

    fund: str = param("total", choices=FUNDS, help="flow column: the total or one fund's ticker")
    sum_window_days: int = param(
        21, low=2, high=126, unit="published days", help="rolling flow sum window"
    )
    max_stale_days: int = param(
        4, low=1, high=10, unit="calendar days", help="how long a published value stands"
    )


def published_flows(panel: pd.DataFrame, fund: str = "total") -> pd.Series:
    """The published values of one flow column (US$ millions), indexed by the panel row."""
    return panel[flow_column(fund)].astype("float64").dropna()


def published_features(
    flows: pd.Series,
    *,
    sum_window_days: int = 21,
    z_window_days: int = 60,
    change_window_days: int = 7,
    max_stale_days: int = 4,
) -> pd.DataFrame:
    """Indicators on the compressed series of published flows (one row per publication).

    Trailing windows only: row i uses rows <= i. Columns as in the module docstring (without
    ``published``), plus ``prior_streak_days`` and ``prior_streak_usd_m``: the outflow streak
    that ended at the previous publication (0 at the very first publication: no fund existed
    before). A hole, i.e. more than ``max_stale_days`` calendar days between two publications,
    is not bridged by a streak: the streak restarts after it and the prior streak of the first
    publication after the hole is unknown (NaN). Rolling windows count published values across
    holes.
    """
    x = flows.astype("float64")
    out = pd.DataFrame(index=x.index)
    out["flow_usd_m"] = x
    neg = x < 0
    gap = x.index.to_series().diff().dt.days
    hole = (gap > max_stale_days).to_numpy()
    segment = np.cumsum(hole)
    run = pd.Series(np.cumsum((~neg).to_numpy() | hole), index=x.index)
    out["outflow_streak_days"] = neg.astype("float64").groupby(run).cumsum()
    out["outflow_streak_usd_m"] = (-x.where(neg, 0.0)).groupby(run).cumsum()
    after_hole = pd.Series(segment, index=x.index).diff().fillna(0).to_numpy() > 0
    for col in ("days", "usd_m"):
        prior = out[f"outflow_streak_{col}"].shift(1, fill_value=0.0)
        out[f"prior_streak_{col}"] = prior.mask(after_hole)
    total = x.rolling(sum_window_days, min_periods=sum_window_days).sum()
    out["sum_usd_m"] = total
    out["sum_sign"] = np.sign(total)
    mean = x.rolling(z_window_days, min_periods=z_window_days).mean()
    std = x.rolling(z_window_days, min_periods=z_window_days).std(ddof=1)
    out["zscore"] = (x - mean) / std.where(std > 0)
    if len(x):
        w = f"{change_window_days}D"
        recent = x.rolling(w).sum()
        both = x.rolling(f"{2 * change_window_days}D").sum()
        change = recent - (both - recent)
        warm = x.index < x.index[0] + pd.Timedelta(days=2 * change_window_days - 1)
        out["change_usd_m"] = change.mask(warm)
    else:
        out["change_usd_m"] = pd.Series(dtype="float64")
    return out


def _freshness(pub_index: pd.DatetimeIndex, calendar: pd.DatetimeIndex, max_stale: int):
    """(is a publication day, last publication is at most ``max_stale`` days old) per day."""
    is_pub = calendar.isin(pub_index)
    last = pd.Series(pub_index, index=pub_index)
    last = last.reindex(calendar, method="ffill") if len(last) else pd.Series(pd.NaT, calendar)
    age = (calendar.to_series() - last).dt.days
    fresh = (age <= max_stale).fillna(False).to_numpy(dtype=bool)
    return is_pub, fresh


def _hold(features: pd.DataFrame, calendar: pd.DatetimeIndex, fresh: np.ndarray) -> pd.DataFrame:
    """Each published row stands until the next publication while fresh, NaN otherwise."""
    if len(features):
        held = features.reindex(calendar, method="ffill")
    else:
        held = features.reindex(calendar)
    return held.where(pd.Series(fresh, index=calendar), axis=0)


def _events(
    on_pub: pd.Series, calendar: pd.DatetimeIndex, is_pub: np.ndarray, fresh: np.ndarray
) -> pd.Series:
    """An event rule known on publication days, put on the calendar (see module docstring).

    Publication days take the rule's value (<NA> if its inputs are not yet there); days in
    between are False while the last publication is fresh and its rule value was known,
    <NA> otherwise.
    """
    rule = on_pub.astype("boolean")
    out = pd.Series(pd.NA, index=calendar, dtype="boolean")
    if not len(rule):
        return out
    known_last = rule.notna().astype("float64").reindex(calendar, method="ffill")
    known_last = (known_last == 1.0).to_numpy()
    out[~is_pub & fresh & known_last] = False
    out[is_pub] = rule.reindex(calendar[is_pub]).to_numpy()
    out[~fresh] = pd.NA
    return out


def flow_indicators(panel: pd.DataFrame, params: EtfFlowParams = EtfFlowParams()) -> pd.DataFrame:
    """The ETF flow indicators on the panel's daily calendar (see module docstring)."""
    return _compute(panel, params)[0]


def _compute(panel: pd.DataFrame, params: EtfFlowParams):
    flows = published_flows(panel, params.fund)
    feats = published_features(
        flows,
        sum_window_days=params.sum_window_days,
        z_window_days=params.z_window_days,
        change_window_days=params.change_window_days,
        max_stale_days=params.max_stale_days,
    )
    calendar = panel.index
    is_pub, fresh = _freshness(flows.index, calendar, params.max_stale_days)
    held = _hold(feats, calendar, fresh)
    indicator = held[[c for c in INDICATOR_COLUMNS if c != "published"]].copy()
    indicator.insert(1, "published", is_pub)
    return indicator, feats, is_pub, fresh


def _sum_turns(total: pd.Series, negative: bool) -> pd.Series:
    """True where the rolling sum crosses zero (down if ``negative``); <NA> without both sums."""
    prev = total.shift(1)
    cond = (total < 0) & (prev >= 0) if negative else (total > 0) & (prev <= 0)
    return cond.astype("boolean").mask(total.isna() | prev.isna(), pd.NA)


def etf_reversal(panel: pd.DataFrame, params: EtfFlowParams = EtfFlowParams()) -> SignalOutput:
    """Streak reversal: the first inflow >= $X after >= k outflow days totalling >= $Y.

    Input: the panel column ``etf_flow_<fund>_usd_m`` (US$ millions, already lagged one day).
    Indicator: `flow_indicators`. Entry and exit are events on publication days (module
    docstring). Name: ``etf_reversal`` for the total, ``etf_reversal_<fund>`` for one fund.
    """
    indicator, feats, is_pub, fresh = _compute(panel, params)
    calendar = panel.index
    prior_days, prior_total = feats["prior_streak_days"], feats["prior_streak_usd_m"]
    fire = (
        (feats["flow_usd_m"] >= params.min_inflow_usd_m)
        & as_rule(prior_days >= params.min_outflow_days, prior_days.notna())
        & as_rule(prior_total >= params.min_outflow_total_usd_m, prior_total.notna())
    )
    if params.exit_rule == "sum_turns_negative":
        leave = _sum_turns(feats["sum_usd_m"], negative=True)
    else:
        setup = (feats["outflow_streak_days"] >= params.min_outflow_days) & (
            feats["outflow_streak_usd_m"] >= params.min_outflow_total_usd_m
        )
        leave = setup & ~setup.shift(1, fill_value=False)
    name = "etf_reversal" if params.fund == "total" else f"etf_reversal_{params.fund}"
    return SignalOutput(
        name=name,
        indicator=indicator,
        entry=_events(fire, calendar, is_pub, fresh),
        exit=_events(leave, calendar, is_pub, fresh),
    )


def etf_trend(panel: pd.DataFrame, params: EtfTrendParams = EtfTrendParams()) -> SignalOutput:
    """Sign of the rolling N-published-day flow sum: enter when it turns positive, exit negative.

    Entry: sum_N goes from <= 0 at the previous publication to > 0; exit: from >= 0 to < 0
    (US$ millions; events on publication days, module docstring). Indicator: `flow_indicators`.
    """
    full = EtfFlowParams(
        fund=params.fund,
        sum_window_days=params.sum_window_days,
        max_stale_days=params.max_stale_days,
    )
    indicator, feats, is_pub, fresh = _compute(panel, full)
    calendar = panel.index
    name = "etf_trend" if params.fund == "total" else f"etf_trend_{params.fund}"
    return SignalOutput(
        name=name,
        indicator=indicator,
        entry=_events(_sum_turns(feats["sum_usd_m"], False), calendar, is_pub, fresh),
        exit=_events(_sum_turns(feats["sum_usd_m"], True), calendar, is_pub, fresh),
    )
