"""Episodes of a signal state and what followed each one, against all days (unconditional).

Pure functions on the panel (row d = known at 00:00 UTC of d+1):

* `episodes(state, price, depth_series)`: one row per run of True days of a ``boolean`` state
  (start, end, days, deepest depth, forward returns from the start close, drawdown before
  recovery, halving cycle of the start).
* `unconditional_forward_returns(price, horizons)`: the mean forward return over every day, with
  stationary block-bootstrap intervals of the mean, overall and per halving cycle.
* `episode_study(panel, signal, model, ...)`: both tables for a named signal;
  `run_episode_study(panel, strategy, params)`: the same for a backtest run's entry signal (None
  for a strategy without a cost signal), used by the backtest report;
* `episode_display`, `unconditional_display`: both tables as display strings (Markdown, HTML).

Start, end, days and depth use only rows up to the episode's end (and the first False day after
it): they are point-in-time. Forward returns and drawdown before recovery use prices *after* the
start: they are outcome measurements of what followed, not signals, and are NaN where the data
do not reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.data.block_height import KNOWN_HALVINGS

HORIZONS: tuple[int, ...] = (30, 90, 180, 365)
SIGNALS: tuple[str, ...] = ("below_cost",)
#: First day of each halving cycle (the halving days themselves), in order.
HALVING_DAYS: tuple[pd.Timestamp, ...] = tuple(
    pd.Timestamp(d) for _, d in sorted(KNOWN_HALVINGS.items())
)


def cycle_labels() -> list[str]:
    """Cycle labels in time order: ``<2012-11-28``, ``2012-11-28..2016-07-08``, ..., ``2024-04-20..``."""
    days = HALVING_DAYS
    labels = [f"<{days[0].date()}"]
    for i, d in enumerate(days):
        if i + 1 < len(days):
            labels.append(f"{d.date()}..{(days[i + 1] - pd.Timedelta(days=1)).date()}")
        else:
            labels.append(f"{d.date()}..")
    return labels


def halving_cycle(dates: pd.DatetimeIndex | pd.Series | Sequence) -> pd.Series:
    """Halving-cycle label of each date (a cycle starts on its halving day); NaT gives <NA>."""
    idx = pd.DatetimeIndex(dates)
    labels = np.array(cycle_labels(), dtype=object)
    pos = np.searchsorted(np.array(HALVING_DAYS, dtype="datetime64[ns]"), idx.values, side="right")
    out = pd.Series(labels[pos], index=idx, dtype=object)
    out[idx.isna()] = pd.NA
    return out.astype("string")


def _price_on(price: pd.Series, day: pd.Timestamp) -> float:
    if day in price.index:
        v = price.loc[day]
        return float(v) if pd.notna(v) else float("nan")
    return float("nan")


def forward_return(price: pd.Series, start: pd.Timestamp, days: int) -> float:
    """close(start + days) / close(start) - 1, NaN if either close is missing or beyond the data."""
    p0 = _price_on(price, start)
    p1 = _price_on(price, start + pd.Timedelta(days=days))
    return p1 / p0 - 1.0 if p0 > 0 and np.isfinite(p1) else float("nan")


def drawdown_before_recovery(
    price: pd.Series, start: pd.Timestamp
) -> tuple[float, pd.Timestamp, float]:
    """Worst close/start close - 1 from the start until the close first regains the start close.

    Returns (drawdown, recovery day, days to recovery). The start day counts (so drawdown <= 0);
    missing closes are skipped; without a recovery in the data the recovery day is NaT, the days
    NaN and the drawdown is the worst seen so far (a lower bound on the magnitude).
    """
    p0 = _price_on(price, start)
    if not p0 > 0:
        return float("nan"), pd.NaT, float("nan")
    after = price.loc[start:].dropna()
    rel = after.to_numpy(dtype=float) / p0 - 1.0
    later = np.flatnonzero(rel[1:] >= 0.0)
    if len(later):
        k = later[0] + 1
        rec = after.index[k]
        return float(rel[:k].min()), rec, float((rec - start).days)
    return float(rel.min()), pd.NaT, float("nan")


def episodes(
    state: pd.Series,
    price: pd.Series,
    depth_series: pd.Series,
    horizons: Sequence[int] = HORIZONS,
    merge_gap_days: int = 0,
) -> pd.DataFrame:
    """One row per episode of ``state`` (a run of True days).

    An episode starts on a day the state is True after a False or unknown day (or on the first
    row) and ends on its last True day when the next day is False. If the run is followed by an
    unknown day or by the end of the data, it has not been seen to end: ``end`` is NaT (ongoing)
    and ``days`` counts the True days so far. With ``merge_gap_days`` > 0, runs separated by at
    most that many non-True days are one episode (``days`` still counts the True days only).

    Columns: start, end, days, depth (min of ``depth_series`` over the episode: for price/cost - 1
    the deepest discount), ``fwd_{h}d`` (close h calendar days after the start / start close - 1,
    NaN beyond the data), drawdown (worst close / start close - 1 before the close first regains
    the start close), recovery, days_to_recovery, cycle (halving cycle of the start).
    """
    s = state.astype("boolean")
    on = s.fillna(False).to_numpy(dtype=bool)
    known_false = (~s.fillna(True)).to_numpy(dtype=bool)
    # True where the next day is known to be False (the run has been seen to end).
    nxt_false = np.r_[known_false[1:], False]
    idx = state.index
    runs: list[list[int]] = []  # [first, last, True days]
    i, n = 0, len(on)
    while i < n:
        if not on[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and on[j + 1]:
            j += 1
        if runs and i - runs[-1][1] - 1 <= merge_gap_days:
            runs[-1][1] = j
            runs[-1][2] += j - i + 1
        else:
            runs.append([i, j, j - i + 1])
        i = j + 1
    rows = []
    for i, j, true_days in runs:
        start = idx[i]
        ended = bool(nxt_false[j])
        depth = depth_series.reindex(idx[i : j + 1]).min(skipna=True)
        dd, rec, days_rec = drawdown_before_recovery(price, start)
        row = {
            "start": start,
            "end": idx[j] if ended else pd.NaT,
            "days": true_days,
            "depth": float(depth) if pd.notna(depth) else float("nan"),
            "start_price": _price_on(price, start),
        }
        for h in horizons:
            row[f"fwd_{h}d"] = forward_return(price, start, h)
        row |= {"drawdown": dd, "recovery": rec, "days_to_recovery": days_rec}
        rows.append(row)
    cols = [
        "start",
        "end",
        "days",
        "depth",
        "start_price",
        *[f"fwd_{h}d" for h in horizons],
        "drawdown",
        "recovery",
        "days_to_recovery",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    for c in ("start", "end", "recovery"):
        frame[c] = pd.to_datetime(frame[c])
    frame["days"] = frame["days"].astype("int64")
    frame["cycle"] = halving_cycle(frame["start"]).to_numpy()
    return frame


def forward_returns(price: pd.Series, horizon: int) -> pd.Series:
    """close(d + horizon days) / close(d) - 1 for every day d (NaN where either is missing)."""
    p = price.astype(float)
    future = p.reindex(p.index + pd.Timedelta(days=horizon)).to_numpy()
    return pd.Series(future / p.to_numpy() - 1.0, index=p.index, name=f"fwd_{horizon}d")


def bootstrap_mean_interval(
    values: np.ndarray, block_size: int, *, reps: int = 1000, size: float = 0.90, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` by arch's stationary bootstrap.

    Mean block length ``block_size`` (the forward horizon: overlapping windows are correlated over
    about that many days). Deterministic for a seed. NaN when there are fewer than two blocks.
    """
    from arch.bootstrap import StationaryBootstrap

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2 * max(block_size, 1):
        return float("nan"), float("nan")
    bs = StationaryBootstrap(max(block_size, 1), x, seed=seed)
    lo, hi = bs.conf_int(np.mean, reps=reps, method="percentile", size=size)
    return float(lo[0]), float(hi[0])


def unconditional_forward_returns(
    price: pd.Series,
    horizons: Sequence[int] = HORIZONS,
    *,
    reps: int = 1000,
    size: float = 0.90,
    seed: int = 0,
    by_cycle: bool = True,
) -> pd.DataFrame:
    """Mean forward return over all days with a bootstrap interval, per horizon (and per cycle).

    Columns: cycle (``all`` first, then each halving cycle by the window's start day), horizon,
    n (days with a forward return), windows (n / horizon: roughly the independent windows), mean,
    median, share_positive, lo, hi (``size`` interval of the mean; NaN with fewer than
    2 * horizon days).
    """
    rows = []
    groups: list[tuple[str, pd.Series]] = [("all", pd.Series(True, index=price.index))]
    if by_cycle:
        cyc = halving_cycle(price.index)
        groups += [(lab, (cyc == lab).fillna(False)) for lab in cycle_labels()]
    for h in horizons:
        fwd = forward_returns(price, h)
        for lab, mask in groups:
            x = fwd[mask.to_numpy()].dropna().to_numpy()
            if lab != "all" and len(x) == 0:
                continue
            lo, hi = bootstrap_mean_interval(x, h, reps=reps, size=size, seed=seed)
            rows.append(
                {
                    "cycle": lab,
                    "horizon": h,
                    "n": len(x),
                    "windows": len(x) / h,
                    "mean": float(x.mean()) if len(x) else float("nan"),
                    "median": float(np.median(x)) if len(x) else float("nan"),
                    "share_positive": float((x > 0).mean()) if len(x) else float("nan"),
                    "lo": lo,
                    "hi": hi,
                }
            )
    order = {lab: k for k, lab in enumerate(["all", *cycle_labels()])}
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values(
            ["cycle", "horizon"], key=lambda s: s.map(order) if s.name == "cycle" else s
        ).reset_index(drop=True)
    return frame


@dataclass(frozen=True)
class EpisodeStudy:
    """Episodes of a signal and the unconditional forward returns to compare them with."""

    signal: str
    model: str
    episodes: pd.DataFrame
    unconditional: pd.DataFrame
    horizons: tuple[int, ...]
    size: float


def signal_state(
    panel: pd.DataFrame, signal: str = "below_cost", params: object | None = None
) -> tuple[pd.Series, pd.Series]:
    """(state, depth series) of a named signal: for ``below_cost`` its entry rule and price/cost - 1."""
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal '{signal}' (known: {', '.join(SIGNALS)})")
    from costbt.signals import production_cost as pc

    out = pc.below_cost(panel, params if params is not None else pc.BelowCostParams())
    return out.entry, out.indicator["deficit"]


def episode_study(
    panel: pd.DataFrame,
    signal: str = "below_cost",
    model: str = "electricity",
    *,
    overrides: dict[str, object] | None = None,
    horizons: Sequence[int] = HORIZONS,
    merge_gap_days: int = 0,
    reps: int = 1000,
    size: float = 0.90,
    seed: int = 0,
    start: object | None = None,
) -> EpisodeStudy:
    """Episodes of ``signal`` under cost ``model`` and the unconditional table over the panel.

    ``start`` (a backtest's first traded day): the signal is still computed on the whole panel
    (warm trailing windows), but days before ``start`` are unknown to the state, so episodes
    begin on or after it (one already on at ``start`` begins there), and the unconditional table
    covers the days from ``start``.
    """
    from costbt.signals import production_cost as pc
    from costbt.signals.params import build

    params = build(pc.BelowCostParams, {"model": model, **(overrides or {})})
    state, depth = signal_state(panel, signal, params)
    price = panel["close_usd"]
    if start is not None:
        state = state.astype("boolean").where(state.index >= pd.Timestamp(start))
        price_from = price.loc[pd.Timestamp(start) :]
    else:
        price_from = price
    return EpisodeStudy(
        signal=signal,
        model=model,
        episodes=episodes(state, price, depth, horizons, merge_gap_days),
        unconditional=unconditional_forward_returns(
            price_from, horizons, reps=reps, size=size, seed=seed
        ),
        horizons=tuple(horizons),
        size=size,
    )


#: Strategies whose entries come from a signal of `SIGNALS`, and which signal.
STRATEGY_SIGNALS: dict[str, str] = {"below_cost": "below_cost"}


def run_episode_study(
    panel: pd.DataFrame, strategy: str, params: object, **kwargs
) -> EpisodeStudy | None:
    """The episode study of a backtest run's entry signal, or None for a strategy without one.

    ``params`` is the run's parameter dataclass: the signal is built with its cost model and every
    field of `signals.production_cost.BelowCostParams` it has (entry ratio, confirmation days,
    cost assumptions), on the run's ``panel``; ``kwargs`` go to `episode_study` (``start``: the
    run's first traded day when the panel holds earlier history for the signals).
    """
    signal = STRATEGY_SIGNALS.get(strategy)
    if signal is None:
        return None
    from dataclasses import fields

    from costbt.signals import production_cost as pc

    names = [f.name for f in fields(pc.BelowCostParams) if hasattr(params, f.name)]
    values = {n: getattr(params, n) for n in names}
    model = values.pop("model", "electricity")
    return episode_study(panel, signal, model, overrides=values, **kwargs)


def _pct(v: float) -> str:
    return "-" if pd.isna(v) else f"{v:+.1%}"


def _day(v) -> str:
    return "ongoing" if pd.isna(v) else str(pd.Timestamp(v).date())


def episode_display(study: EpisodeStudy) -> pd.DataFrame:
    """The episode table as display strings (the Markdown and HTML reports show this)."""
    rows = []
    for d in study.episodes.to_dict("records"):
        row = {
            "start": _day(d["start"]),
            "end": _day(d["end"]),
            "days": str(d["days"]),
            "depth": _pct(d["depth"]),
        }
        row |= {f"{h} d": _pct(d[f"fwd_{h}d"]) for h in study.horizons}
        row |= {
            "drawdown before recovery": _pct(d["drawdown"]),
            "recovered": "not yet" if pd.isna(d["recovery"]) else _day(d["recovery"]),
            "cycle": str(d["cycle"]),
        }
        rows.append(row)
    columns = ["start", "end", "days", "depth", *[f"{h} d" for h in study.horizons]]
    return pd.DataFrame(rows, columns=[*columns, "drawdown before recovery", "recovered", "cycle"])


def unconditional_display(study: EpisodeStudy) -> pd.DataFrame:
    """The unconditional table as display strings (cycle, horizon, days, ~windows, mean, ...)."""
    rows = [
        {
            "cycle": r["cycle"],
            "horizon": f"{r['horizon']} d",
            "days": str(r["n"]),
            "~windows": f"{r['windows']:.1f}",
            "mean": _pct(r["mean"]),
            "interval": "-" if pd.isna(r["lo"]) else f"{r['lo']:+.1%} .. {r['hi']:+.1%}",
            "median": _pct(r["median"]),
            "positive": f"{r['share_positive']:.0%}",
        }
        for r in study.unconditional.to_dict("records")
    ]
    columns = ["cycle", "horizon", "days", "~windows", "mean", "interval", "median", "positive"]
    return pd.DataFrame(rows, columns=columns)


def _markdown_rows(frame: pd.DataFrame) -> list[str]:
    return ["| " + " | ".join(row) + " |" for row in frame.itertuples(index=False)]


def episodes_markdown(study: EpisodeStudy) -> str:
    """Both tables as Markdown (for reports)."""
    hs = study.horizons
    lines = [
        f"### Episodes of {study.signal} ({study.model})",
        "",
        "| start | end | days | depth | "
        + " | ".join(f"{h} d" for h in hs)
        + " | drawdown before recovery | recovered | cycle |",
        "|---|---|---|---|" + "---|" * len(hs) + "---|---|---|",
        *_markdown_rows(episode_display(study)),
        "",
        f"### Unconditional forward returns (all days, {study.size:.0%} stationary-bootstrap "
        "interval of the mean)",
        "",
        "| cycle | horizon | days | ~windows | mean | interval | median | positive |",
        "|---|---|---|---|---|---|---|---|",
        *_markdown_rows(unconditional_display(study)),
    ]
    return "\n".join(lines) + "\n"
