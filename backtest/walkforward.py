"""Walk-forward validation (``costbt walkforward``): tune on a window, trade the next, stitch.

For each window, a fresh in-memory Optuna study (TPE seeded ``seed + window.number``) tunes the
strategy on the training span (`backtest.tuning.Objective` with ``period=(train_start,
train_end)``); the best feasible trial's parameters (`backtest.tuning.best_trial`, fixed values
included) then trade the test span that follows. The out-of-sample (OOS) test spans are stitched
into one daily return series and compared with buy-and-hold on the same days.

**Windows** (`make_windows`; dates are tz-naive days, both ends inclusive):

* Rolling (default): the first test window starts at ``first + train + embargo`` (``first`` = the
  first day of data, i.e. the first known spot close on or after ``start``); test window k starts
  ``k * step`` later (``step`` defaults to the test length and may not be shorter: test windows
  never overlap) and lasts ``test`` (with the default step: to the day before the next test
  window, so month ends cannot open a gap; clipped to the last day of data). Its training span
  ends ``embargo`` days before the test starts (``test_start - train_end - 1 = embargo`` days) and
  lasts ``train`` (``train_start = train_end + 1 day - train``, never before ``first``).
* Anchored: as rolling, but every training span starts at ``first`` (an expanding window).
* By halving (`backtest.episodes.HALVING_DAYS`, the project's halving days 2012-11-28,
  2016-07-09, 2020-05-11, 2024-04-20): each test window is one halving epoch (halving day to the
  day before the next halving) clipped to the data, minus ``embargo`` days at its start; its
  training span is the previous epoch (clipped to the data), or with ``anchored`` everything from
  ``first`` to the day before the test epoch. ``train``, ``test`` and ``step`` are ignored.

A test window needs at least two days of data (the evaluator's minimum); a window whose training
span has fewer than ``min_train_days`` (default 365) days of spot prices is skipped
(`split_windows`; `WalkForwardResult.skipped` says which and why).

**Point in time.** The parameters that trade a test window were chosen on a training span that
ended before it (``train_end + embargo < test_start``); signals are computed on the whole panel
but every cost model is point in time (`backtest.evaluator`), so data after a window's
``test_end`` cannot change that window's choice or its OOS result (tested by truncating and by
altering later prices). The embargo defaults to 0 days: a training score uses closes up to
``train_end`` only (an order decided on ``train_end`` would fill the next day and is not taken),
so no training label reaches into the test window; an embargo only adds a deployment delay.

**Signal coverage.** Days without signal data are not days of "no position": the windows cover
only the priced days on which the entry rule is known for every configuration the search can draw
(`backtest.tuning.signal_days`; on the bundled data the production-cost inputs end
on 2026-02-12 while prices run to 2026-08-13). The priced days left out before and after are
reported (`WalkForwardResult.signal`) and are in no out-of-sample statistic.

**Stitching.** Each test window is traded by `backtest.evaluator.Evaluator.run` on its own span:
it starts flat, its first bar fills the entry rule's decision of the day before (the rule is
warm), and a position still open on ``test_end`` is closed at that day's close with slippage and
fees charged (a forced exit, counted in ``exits_end``); nothing is bought on ``test_end``. The next
window starts flat again. ``oos_returns`` is the concatenation of the windows' daily returns; a
window with no feasible trial holds cash (zero returns). ``oos_equity = init_cash * cumprod(1 +
oos_returns)``. Each window's run is flagged by `backtest.degenerate` (never in; buy-and-hold in
disguise) and so is the stitched record.

**Buy-and-hold** on the same days: `backtest.benchmarks.span_benchmarks` on each test window
with the same costs and fill: all in at the window's first bar, sold at its last close (like the
strategy's forced exit). Over contiguous windows it therefore pays one round trip per window,
as a strategy that is always in would.

**Walk-forward efficiency** (`WalkForwardResult.summary`): ``oos_annual_return /
is_annual_return`` where ``oos_annual_return`` is the CAGR of the stitched OOS returns
(``(prod(1 + r))^(365 / days) - 1``) and ``is_annual_return`` is the mean of the windows'
in-sample CAGRs (the chosen trial's CAGR on its training span) weighted by each window's number
of OOS days, a window with no feasible trial counting 0 (it holds cash both in and out of
sample). NaN when ``is_annual_return <= 0``: the ratio means nothing against a losing or flat
in-sample. 1 means the OOS kept the in-sample pace; well below 1, the tuning fitted noise.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from costbt.backtest import metrics as m
from costbt.backtest import tuning
from costbt.backtest.benchmarks import span_benchmarks
from costbt.backtest.degenerate import BUY_AND_HOLD, NEVER_IN, degeneracy, market_correlation
from costbt.backtest.fast import ENGINE_FIELDS, EXIT_CAUSES, METRICS, UNSUPPORTED

#: Default minimum days of spot prices in a training span (shorter windows are skipped).
MIN_TRAIN_DAYS = 365
_DAY = pd.Timedelta(days=1)
_UNITS = {"y": "years", "m": "months", "w": "weeks", "d": "days"}
#: The longest duration accepted in each unit: a century.
_MAX_DURATION = {"y": 100, "m": 1_200, "w": 5_218, "d": 36_525}
_DURATION = re.compile(r"^\s*(\d+)\s*([ymwd])\s*$", re.IGNORECASE)


class WalkForwardError(ValueError):
    """Bad walk-forward settings (durations, dates, no window fits the data).

    ``field`` names the setting at fault, as the argument of `check_settings` (``"train"``,
    ``"fixed"``, ...), or is None; the command line turns it into its flag.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ----------------------------------------------------------------------------- durations


def parse_duration(text: str) -> pd.DateOffset:
    """``"4y"``, ``"18m"``, ``"90d"``, ``"2w"`` (a whole number and a unit) -> a calendar offset.

    Units: ``y`` years, ``m`` months, ``w`` weeks, ``d`` days (case-insensitive). Calendar
    arithmetic: ``2019-01-26 + 1y = 2020-01-26``. At most a century (``100y``, ``1200m``,
    ``5218w``, ``36525d``). Raises ``ValueError`` on anything else.
    """
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(
            f"'{text}' is not a duration: a whole number and a unit y, m, w or d "
            "(e.g. 4y, 18m, 2w, 90d)"
        )
    n, unit = int(match.group(1)), match.group(2).lower()
    if n > _MAX_DURATION[unit]:
        raise ValueError(
            f"'{text}' is longer than {_MAX_DURATION[unit]:,}{unit} (a century: bitcoin's history "
            "is much shorter)"
        )
    return pd.DateOffset(**{_UNITS[unit]: n})


def duration_text(value: str | pd.DateOffset) -> str:
    """The text form of a duration (``"4y"``), for settings and labels."""
    if isinstance(value, str):
        parse_duration(value)
        return value.strip().lower()
    kwds = dict(value.kwds)
    parts = [f"{int(kwds[unit])}{key}" for key, unit in _UNITS.items() if kwds.get(unit)]
    return "".join(parts) or "0d"


def _offset(value: str | pd.DateOffset) -> pd.DateOffset:
    return parse_duration(value) if isinstance(value, str) else value


# ----------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    """One train/test split; every date a tz-naive day, both ends inclusive."""

    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    label: str


def _day(ts: pd.Timestamp) -> str:
    return str(pd.Timestamp(ts).date())


def _span_label(a: pd.Timestamp, b: pd.Timestamp) -> str:
    return f"{_day(a)}..{_day(b)}"


def _days_in(index: pd.DatetimeIndex, a: pd.Timestamp, b: pd.Timestamp) -> int:
    return int(index.searchsorted(b, "right") - index.searchsorted(a, "left"))


def make_windows(
    index: pd.DatetimeIndex,
    train: str | pd.DateOffset = "4y",
    test: str | pd.DateOffset = "1y",
    *,
    embargo: str | pd.DateOffset = "0d",
    anchored: bool = False,
    by_halving: bool = False,
    step: str | pd.DateOffset | None = None,
) -> list[Window]:
    """The train/test windows over ``index`` (the days with data), numbered from 1.

    Rules in the module docstring. Raises `WalkForwardError` for an empty index, a test window
    (or step) under one day, a step shorter than the test window (overlapping tests) or a
    training span under one day.
    """
    index = pd.DatetimeIndex(index).sort_values()
    if not len(index):
        raise WalkForwardError("no days with data")
    first, last = index[0].normalize(), index[-1].normalize()
    gap = _offset(embargo)
    if first + gap < first:
        raise WalkForwardError("the embargo must not be negative")
    if by_halving:
        return _halving_windows(index, first, last, gap, anchored)
    train_off, test_off = _offset(train), _offset(test)
    step_off = test_off if step is None else _offset(step)
    if first + train_off < first + _DAY:
        raise WalkForwardError("the training window must be at least one day")
    if first + test_off < first + _DAY:
        raise WalkForwardError("the test window must be at least one day")
    if first + step_off < first + test_off:
        raise WalkForwardError(
            "the step must be at least the test window (test windows must not overlap)"
        )
    windows: list[Window] = []
    start0 = first + train_off + gap
    k = 0
    contiguous = step is None or step_off == test_off
    while True:
        test_start = start0 + k * step_off if k else start0
        if test_start > last:
            break
        # Offsets from one anchor (2019-01-31 + 1m, + 2m, ...: no drift at month ends); a test
        # window ends the day before the next one starts when the step is its length.
        next_start = start0 + (k + 1) * step_off
        end = next_start if contiguous else min(test_start + test_off, next_start)
        test_end = min(end - _DAY, last)
        train_end = test_start - gap - _DAY
        train_start = first if anchored else max(first, train_end + _DAY - train_off)
        k += 1
        if _days_in(index, test_start, test_end) < 2:
            continue
        label = f"{_span_label(train_start, train_end)} -> {_span_label(test_start, test_end)}"
        windows.append(
            Window(len(windows) + 1, train_start, train_end, test_start, test_end, label)
        )
    return windows


def _halving_windows(
    index: pd.DatetimeIndex,
    first: pd.Timestamp,
    last: pd.Timestamp,
    gap: pd.DateOffset,
    anchored: bool,
) -> list[Window]:
    from costbt.backtest.episodes import HALVING_DAYS, cycle_labels

    names = cycle_labels()  # names[i] is the epoch that ends the day before HALVING_DAYS[i]
    windows: list[Window] = []
    for i, epoch_start in enumerate(HALVING_DAYS):
        epoch_end = HALVING_DAYS[i + 1] - _DAY if i + 1 < len(HALVING_DAYS) else last
        test_start, test_end = max(epoch_start, first) + gap, min(epoch_end, last)
        prev_start = HALVING_DAYS[i - 1] if i else first
        train_start = first if anchored else max(prev_start, first)
        train_end = epoch_start - _DAY
        if train_end < first or _days_in(index, test_start, test_end) < 2:
            continue
        train_name = f"<{_day(epoch_start)}" if anchored else names[i]
        label = f"{train_name} -> {names[i + 1]}"
        windows.append(
            Window(len(windows) + 1, train_start, train_end, test_start, test_end, label)
        )
    return windows


def split_windows(
    windows: Sequence[Window], index: pd.DatetimeIndex, min_train_days: int = MIN_TRAIN_DAYS
) -> tuple[list[Window], list[tuple[Window, str]]]:
    """(kept windows renumbered from 1, skipped windows with the reason).

    A window is skipped when its training span holds fewer than ``min_train_days`` days of
    ``index`` (the days with spot prices).
    """
    kept: list[Window] = []
    skipped: list[tuple[Window, str]] = []
    for w in windows:
        n = _days_in(index, w.train_start, w.train_end)
        if n < min_train_days:
            skipped.append(
                (w, f"{n} day(s) of spot prices in its training span, fewer than {min_train_days}")
            )
        else:
            kept.append(replace(w, number=len(kept) + 1))
    return kept, skipped


# ----------------------------------------------------------------------------- settings


def check_fixed(strategy: str, include: Sequence[str], fixed: dict | None) -> dict:
    """The fixed values converted and checked (as `backtest.tuning.run_study` does).

    Raises `backtest.tuning.TuningError` for an unknown name, a name both fixed and searched, a
    bad value, or a value that leaves the numba fast path (walk-forward trades sub-periods,
    which only the fast path supports: `backtest.evaluator`).
    """
    out = tuning.check_fixed_values(strategy, include, fixed)
    for k in out:
        if k in UNSUPPORTED and out[k] != UNSUPPORTED[k]:
            raise tuning.TuningError(
                f"{k}={out[k]} leaves the fast path, which walk-forward needs to trade a "
                "sub-period (price stops, the hash-ribbon confirmation and the perpetual are "
                "not supported)",
                "fixed",
            )
    return {k: out[k] for k in sorted(out)}


# ----------------------------------------------------------------------------- results


def _clean(values: dict) -> dict[str, float]:
    """Metrics as floats (None, a non-finite value from a trial's record, becomes NaN)."""
    return {k: (math.nan if values.get(k) is None else float(values[k])) for k in METRICS}


def _benchmark_metrics(r: pd.Series) -> dict[str, float]:
    return {
        "total_return": m.total_return(r),
        "sharpe": m.sharpe(r),
        "cagr": m.cagr(r),
        "max_drawdown": m.max_drawdown(r),
    }


@dataclass
class WindowResult:
    """One window: the chosen parameters, in-sample and out-of-sample metrics, the study.

    ``params`` is None when no trial was feasible: the test window is then held in cash.
    ``is_metrics`` are the chosen trial's `backtest.fast.METRICS` on the training span (NaN when
    none), ``oos_metrics`` the same metrics on the test span, ``benchmark_oos`` buy-and-hold's
    total_return, sharpe, cagr, max_drawdown and exposure on the test days; ``trials`` counts the completed
    trials of the window's study (in memory: optimisation history, importances), ``failed`` its
    failed trials, ``oos_days`` the number of daily returns its test window contributes,
    ``flag`` the `backtest.degenerate` flag of its out-of-sample run (never in; buy-and-hold in
    disguise) or None. ``oos_metrics`` include the entry share, the market correlation and the
    exits by cause; ``exits_end`` counts the forced exit at the window's last close.
    """

    window: Window
    params: dict | None
    is_metrics: dict[str, float]
    oos_metrics: dict[str, float]
    benchmark_oos: dict[str, float]
    trials: int
    study: Any
    failed: int = 0
    oos_days: int = 0
    flag: str | None = None


@dataclass
class WalkForwardResult:
    """Every window's result and the stitched out-of-sample series (see the module docstring).

    ``settings`` holds every option (strategy, objective, train, test, step, embargo, anchored,
    by_halving, n_trials, seed, min_trades, min_train_days, include, fixed, start, end; the
    durations as text, None when ignored by halving windows). ``oos_returns`` are the stitched
    daily returns of the test windows, ``oos_equity = init_cash * cumprod(1 + oos_returns)``,
    ``benchmark_returns`` buy-and-hold's daily returns on the same days; ``trials`` the completed
    trials of all windows (recorded in the ledger); ``skipped`` the windows left out for too
    little training data, with the reason; ``signal`` where the entry rule is known
    (``signal_first``, ``signal_last``) and how many priced days before and after it were left
    out of every window (``days_before``, ``days_after``).
    """

    strategy: str
    objective: str
    settings: dict
    windows: list[WindowResult]
    oos_returns: pd.Series
    oos_equity: pd.Series
    benchmark_returns: pd.Series
    trials: int
    skipped: list[tuple[Window, str]] = field(default_factory=list)
    init_cash: float = 10_000.0
    ledger_id: str | None = None  # this run's entry in backtest.ledger (None: not recorded)
    signal: dict = field(default_factory=dict)
    close: pd.Series | None = None  # spot close over the OOS span (the market's returns)

    def param_names(self) -> list[str]:
        """The chosen parameters' names: searched first, then fixed (each once)."""
        names = [*self.settings.get("include", []), *self.settings.get("fixed", {})]
        for w in self.windows:
            names += [k for k in (w.params or {}) if k not in names]
        return list(dict.fromkeys(names))

    def table(self) -> pd.DataFrame:
        """One row per window: dates, status, chosen parameters, IS, OOS and buy-and-hold.

        Columns: number, label, status (``tuned`` or ``no feasible trial: flat``), train_start,
        train_end, test_start, test_end, trials, one column per parameter (NaN/None when flat),
        is_sharpe, is_cagr, is_trades, oos_sharpe, oos_cagr, oos_total_return,
        oos_max_drawdown, oos_exposure, oos_trades, oos_entry_share, oos_market_corr, one
        ``oos_exits_<cause>`` per `backtest.fast.EXIT_CAUSES` (``oos_exits_end``: forced at the
        window's end), flag, bh_sharpe, bh_total_return.
        """
        rows = []
        names = self.param_names()
        for r in self.windows:
            w = r.window
            row = {
                "number": w.number,
                "label": w.label,
                "status": "tuned" if r.params is not None else "no feasible trial: flat",
                "train_start": w.train_start,
                "train_end": w.train_end,
                "test_start": w.test_start,
                "test_end": w.test_end,
                "trials": r.trials,
            }
            row.update({k: (r.params or {}).get(k) for k in names})
            row.update({f"is_{k}": r.is_metrics.get(k) for k in ("sharpe", "cagr", "trades")})
            for k in (
                "sharpe",
                "cagr",
                "total_return",
                "max_drawdown",
                "exposure",
                "trades",
                "entry_share",
                "market_corr",
                *(f"exits_{c}" for c in EXIT_CAUSES),
            ):
                row[f"oos_{k}"] = r.oos_metrics.get(k)
            row["flag"] = r.flag
            row["bh_sharpe"] = r.benchmark_oos.get("sharpe")
            row["bh_total_return"] = r.benchmark_oos.get("total_return")
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> dict:
        """The stitched out-of-sample result against buy-and-hold, and the efficiency.

        Keys: ``windows``, ``flat_windows`` (no feasible trial), ``skipped_windows``, ``trials``,
        ``start``/``end`` (first and last OOS day), ``days``; ``oos_sharpe``, ``oos_cagr``,
        ``oos_total_return``, ``oos_max_drawdown``, ``oos_exposure`` (fraction of OOS days
        holding bitcoin) and ``oos_final_equity``; the same with ``bh_`` for buy-and-hold (its
        exposure: every day but each window's last, sold at its close); ``mean_is_sharpe`` and ``mean_oos_sharpe`` (plain means over the windows
        where the value is defined); ``is_annual_return``, ``oos_annual_return`` and
        ``efficiency`` (walk-forward efficiency, defined in the module docstring);
        ``exits_<cause>`` summed over the windows (``exits_end``: positions closed at a window's
        end, with costs), ``flagged_windows`` (windows whose OOS run is degenerate: of them
        ``never_in_windows`` made no trade, ``buy_and_hold_windows`` traded like holding),
        ``oos_market_corr`` and ``oos_flag`` (`backtest.degenerate` on the stitched record),
        ``signal_last`` and ``days_after_signal`` (priced days left out: no signal there).
        """
        r, b = self.oos_returns, self.benchmark_returns
        days = int(len(r))
        exposed = sum(w.oos_metrics.get("exposure", 0.0) * w.oos_days for w in self.windows)
        held = sum(w.benchmark_oos.get("exposure", 1.0) * w.oos_days for w in self.windows)
        out: dict[str, Any] = {
            "windows": len(self.windows),
            "flat_windows": sum(w.params is None for w in self.windows),
            "skipped_windows": len(self.skipped),
            "trials": self.trials,
            "start": r.index[0] if days else None,
            "end": r.index[-1] if days else None,
            "days": days,
        }
        for prefix, series, exposure in (
            ("oos", r, exposed / days if days else math.nan),
            ("bh", b, held / days if days else math.nan),
        ):
            out[f"{prefix}_sharpe"] = m.sharpe(series) if days > 1 else math.nan
            out[f"{prefix}_cagr"] = m.cagr(series)
            out[f"{prefix}_total_return"] = m.total_return(series) if days else math.nan
            out[f"{prefix}_max_drawdown"] = m.max_drawdown(series)
            out[f"{prefix}_exposure"] = exposure
            out[f"{prefix}_final_equity"] = self.init_cash * (1.0 + m.total_return(series))
        out["mean_is_sharpe"] = _nanmean([w.is_metrics.get("sharpe") for w in self.windows])
        out["mean_oos_sharpe"] = _nanmean([w.oos_metrics.get("sharpe") for w in self.windows])
        weights = [w.oos_days for w in self.windows]
        is_cagrs = [
            0.0 if w.params is None else w.is_metrics.get("cagr", math.nan) for w in self.windows
        ]
        is_annual = float(np.average(is_cagrs, weights=weights)) if sum(weights) else math.nan
        out["is_annual_return"] = is_annual
        out["oos_annual_return"] = out["oos_cagr"]
        out["efficiency"] = out["oos_cagr"] / is_annual if is_annual > 0 and days else math.nan
        for c in EXIT_CAUSES:
            out[f"exits_{c}"] = int(
                sum(w.oos_metrics.get(f"exits_{c}", 0.0) or 0.0 for w in self.windows)
            )
        out["flagged_windows"] = sum(w.flag is not None for w in self.windows)
        out["never_in_windows"] = sum(w.flag == NEVER_IN for w in self.windows)
        out["buy_and_hold_windows"] = sum(w.flag == BUY_AND_HOLD for w in self.windows)
        trades = sum(w.oos_metrics.get("trades", 0.0) or 0.0 for w in self.windows)
        out["oos_trades"] = int(trades)
        if days > 2:
            # The stitched record against the market, with each window's first day excluded
            # (the market's return that day partly precedes the window; the strategy is flat).
            firsts = {w.window.test_start for w in self.windows}
            keep = ~r.index.isin(list(firsts))
            corr = market_correlation(r[keep], self.close) if self.close is not None else math.nan
        else:
            corr = math.nan
        out["oos_market_corr"] = corr
        out["oos_flag"] = degeneracy(trades, out["oos_exposure"], corr)
        out["signal_last"] = self.signal.get("signal_last")
        out["days_after_signal"] = self.signal.get("days_after", 0)
        return out


def _nanmean(values: Sequence[float | None]) -> float:
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(xs)) if xs else math.nan


# ----------------------------------------------------------------------------- running


def _flat_metrics(init_cash: float, days: int) -> dict[str, float]:
    """`METRICS` of holding cash: no trade, no return, Sharpe undefined."""
    out = {k: math.nan for k in METRICS}
    out.update(
        {
            "final_equity": float(init_cash),
            "total_return": 0.0,
            "trades": 0.0,
            "max_drawdown": 0.0,
            "exposure": 0.0,
            "cagr": 0.0 if days else math.nan,
        }
    )
    out.update({f"exits_{c}": 0.0 for c in EXIT_CAUSES})
    return out


def window_config(row: dict):
    """The `backtest.engine.EngineConfig` of an evaluator row (costs, fill, cash)."""
    from costbt.backtest.engine import EngineConfig

    return EngineConfig(**{k: row[k] for k in ENGINE_FIELDS})


def data_days(panel: pd.DataFrame, start=None, end=None) -> pd.DatetimeIndex:
    """The days with a known spot close between ``start`` and ``end`` (inclusive)."""
    days = panel.index[panel["close_usd"].notna().to_numpy()]
    if start is not None:
        days = days[days >= pd.Timestamp(start)]
    if end is not None:
        days = days[days <= pd.Timestamp(end)]
    return days


def signal_clipped_days(
    evaluator, strategy: str, fixed: dict, names: Sequence[str], start=None, end=None
) -> tuple[pd.DatetimeIndex, dict]:
    """The days the windows are planned on: priced days between ``start`` and ``end`` on which
    the entry rule is known for every configuration the search can draw (`tuning.signal_days`),
    and what was left out: ``signal_first``, ``signal_last``, ``days_before``, ``days_after``.

    Days without signal data are not days of "no position", so no window covers them.
    Raises `WalkForwardError` when no such day exists.
    """
    priced = data_days(evaluator.panel, start, end)
    if not len(priced):
        raise WalkForwardError("no spot prices between start and end")
    signal_first, signal_last = tuning.signal_days(evaluator, strategy, fixed, names)
    if signal_first is None or signal_last < signal_first:
        raise WalkForwardError("the entry rule is unknown on every day of the panel")
    days = priced[(priced >= signal_first) & (priced <= signal_last)]
    if not len(days):
        raise WalkForwardError(
            f"the entry rule is known only {_day(signal_first)}..{_day(signal_last)}: no day "
            "with prices between start and end"
        )
    left_out = {
        "signal_first": signal_first,
        "signal_last": signal_last,
        "days_before": int((priced < signal_first).sum()),
        "days_after": int((priced > signal_last).sum()),
    }
    return days, left_out


@dataclass(frozen=True)
class WalkForwardSettings:
    """Walk-forward settings, every one checked (`check_settings`); no data is needed."""

    strategy: str
    train: str | pd.DateOffset
    test: str | pd.DateOffset
    step: str | pd.DateOffset | None
    embargo: str | pd.DateOffset
    anchored: bool
    by_halving: bool
    n_trials: int
    objective: str
    min_trades: int
    min_train_days: int
    seed: int | None
    include: tuple[str, ...]
    fixed: dict
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    search_assumptions: bool
    allow_degenerate: bool

    def as_dict(self) -> dict:
        """The settings as `WalkForwardResult.settings` records them (texts, lists, days)."""
        return {
            "strategy": self.strategy,
            "objective": self.objective,
            "train": None if self.by_halving else duration_text(self.train),
            "test": None if self.by_halving else duration_text(self.test),
            "step": None
            if self.by_halving
            else duration_text(self.test if self.step is None else self.step),
            "embargo": duration_text(self.embargo),
            "anchored": bool(self.anchored),
            "by_halving": bool(self.by_halving),
            "n_trials": int(self.n_trials),
            "seed": self.seed,
            "min_trades": int(self.min_trades),
            "min_train_days": int(self.min_train_days),
            "include": list(self.include),
            "fixed": dict(self.fixed),
            "start": None if self.start is None else _day(self.start),
            "end": None if self.end is None else _day(self.end),
            "search_assumptions": bool(self.search_assumptions),
            "allow_degenerate": bool(self.allow_degenerate),
        }


def check_settings(
    strategy: str = "below_cost",
    train: str | pd.DateOffset = "4y",
    test: str | pd.DateOffset = "1y",
    *,
    embargo: str | pd.DateOffset = "0d",
    anchored: bool = False,
    by_halving: bool = False,
    step: str | pd.DateOffset | None = None,
    n_trials: int = 200,
    objective: str = "sharpe",
    min_trades: int = 1,
    min_train_days: int = MIN_TRAIN_DAYS,
    seed: int | None = 0,
    include: Sequence[str] | None = None,
    fixed: dict | None = None,
    start=None,
    end=None,
    search_assumptions: bool = False,
    allow_degenerate: bool = False,
) -> WalkForwardSettings:
    """Every walk-forward setting checked before any data is read.

    ``include`` None searches the strategy's trading rule (`backtest.tuning.resolve_include`);
    ``fixed`` values are converted (`check_fixed`). Raises `WalkForwardError` whose ``field`` is
    the argument at fault: an unknown strategy or objective, a count below its minimum, a
    duration that does not parse or is under one day, a step shorter than the test window, a
    negative embargo, an unknown or doubly given parameter, ``end`` before ``start``.
    """
    try:
        tuning.parameters(strategy)
    except tuning.TuningError as exc:
        raise WalkForwardError(str(exc), "strategy") from None
    if objective not in tuning.OBJECTIVES:
        raise WalkForwardError(
            f"'{objective}' is not one of {', '.join(tuning.OBJECTIVES)}", "objective"
        )
    for name, value, least in (
        ("n_trials", n_trials, 1),
        ("min_trades", min_trades, 0),
        ("min_train_days", min_train_days, 1),
    ):
        if int(value) < least:
            raise WalkForwardError(f"must be at least {least}", name)
    offsets: dict[str, pd.DateOffset] = {}
    for name, value in (("train", train), ("test", test), ("step", step), ("embargo", embargo)):
        if value is not None:
            try:
                offsets[name] = _offset(value)
            except ValueError as exc:
                raise WalkForwardError(str(exc), name) from None
    probe = pd.Timestamp("2020-01-01")
    if probe + offsets["embargo"] < probe:
        raise WalkForwardError("the embargo must not be negative", "embargo")
    if not by_halving:
        for name in ("test", "train"):
            if probe + offsets[name] < probe + _DAY:
                raise WalkForwardError(
                    f"'{duration_text(offsets[name])}' is shorter than one day", name
                )
        if step is not None and probe + offsets["step"] < probe + offsets["test"]:
            raise WalkForwardError(
                f"'{duration_text(offsets['step'])}' is shorter than the test window "
                f"'{duration_text(offsets['test'])}' (test windows must not overlap)",
                "step",
            )
    try:
        names = tuning.resolve_include(strategy, include, search_assumptions)
    except tuning.TuningError as exc:
        raise WalkForwardError(str(exc), "include") from None
    try:
        checked = check_fixed(strategy, names, fixed)
    except tuning.TuningError as exc:
        raise WalkForwardError(str(exc), "fixed") from None
    first = None if start is None else pd.Timestamp(start)
    last = None if end is None else pd.Timestamp(end)
    if first is not None and last is not None and last < first:
        raise WalkForwardError(f"{_day(last)} is before the start {_day(first)}", "end")
    return WalkForwardSettings(
        strategy=strategy,
        train=train,
        test=test,
        step=step,
        embargo=embargo,
        anchored=bool(anchored),
        by_halving=bool(by_halving),
        n_trials=int(n_trials),
        objective=objective,
        min_trades=int(min_trades),
        min_train_days=int(min_train_days),
        seed=seed,
        include=tuple(names),
        fixed=checked,
        start=first,
        end=last,
        search_assumptions=bool(search_assumptions),
        allow_degenerate=bool(allow_degenerate),
    )


@dataclass(frozen=True)
class WalkForwardPlan:
    """The windows a walk-forward run will trade, planned on the panel (`plan_walkforward`).

    ``days``: the priced days on which the entry rule is known, within start..end; ``signal``:
    what was left out (`signal_clipped_days`); ``windows``: the kept windows, numbered from 1;
    ``skipped``: windows with too few training days, with the reason.
    """

    settings: WalkForwardSettings
    days: pd.DatetimeIndex
    signal: dict
    windows: list[Window]
    skipped: list[tuple[Window, str]]
    evaluator: Any = field(repr=False, compare=False)


def plan_walkforward(
    panel: pd.DataFrame, settings: WalkForwardSettings, evaluator=None
) -> WalkForwardPlan:
    """The windows of a run, planned on the days the entry rule is known (no trial runs).

    ``evaluator``: one already built on ``panel`` (`backtest.evaluation.evaluator_for`), or None.
    Raises `WalkForwardError` (``field`` ``"start"``: no day with prices and signal; ``"train"``
    or, by halving, ``"start"``: no window has ``min_train_days`` days to train on).
    """
    from costbt.backtest.evaluation import evaluator_for

    s = settings
    evaluator = evaluator_for(panel, s.strategy) if evaluator is None else evaluator
    try:
        days, left_out = signal_clipped_days(
            evaluator, s.strategy, s.fixed, s.include, s.start, s.end
        )
    except WalkForwardError as exc:
        raise WalkForwardError(str(exc), "start") from None
    candidates = make_windows(
        days,
        s.train,
        s.test,
        embargo=s.embargo,
        anchored=s.anchored,
        by_halving=s.by_halving,
        step=s.step,
    )
    windows, skipped = split_windows(candidates, days, s.min_train_days)
    if not windows:
        raise WalkForwardError(
            f"no window fits the data {_day(days[0])}..{_day(days[-1])} with at least "
            f"{s.min_train_days} days of training prices ({len(candidates)} candidate "
            "window(s), all too short)",
            "start" if s.by_halving else "train",
        )
    return WalkForwardPlan(s, days, left_out, windows, skipped, evaluator)


def run_walkforward(
    panel: pd.DataFrame,
    strategy: str = "below_cost",
    train: str | pd.DateOffset = "4y",
    test: str | pd.DateOffset = "1y",
    *,
    embargo: str | pd.DateOffset = "0d",
    anchored: bool = False,
    by_halving: bool = False,
    step: str | pd.DateOffset | None = None,
    n_trials: int = 200,
    objective: str = "sharpe",
    min_trades: int = 1,
    seed: int | None = 0,
    include: Sequence[str] | None = None,
    fixed: dict | None = None,
    start=None,
    end=None,
    record: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    callbacks: Sequence[Callable] = (),
    min_train_days: int = MIN_TRAIN_DAYS,
    search_assumptions: bool = False,
    allow_degenerate: bool = False,
    evaluator=None,
) -> WalkForwardResult:
    """Tune on each training span, trade the following test span, stitch the test spans.

    ``panel`` is the whole point-in-time panel (signals use its full history); ``start``/``end``
    limit the days the windows cover. The settings are checked by `check_settings` and the
    windows planned by `plan_walkforward` (both raise `WalkForwardError` before any trial);
    `run_plan` then runs them. ``evaluator``: one already built on ``panel`` (or None).
    """
    settings = check_settings(
        strategy,
        train,
        test,
        embargo=embargo,
        anchored=anchored,
        by_halving=by_halving,
        step=step,
        n_trials=n_trials,
        objective=objective,
        min_trades=min_trades,
        min_train_days=min_train_days,
        seed=seed,
        include=include,
        fixed=fixed,
        start=start,
        end=end,
        search_assumptions=search_assumptions,
        allow_degenerate=allow_degenerate,
    )
    plan = plan_walkforward(panel, settings, evaluator)
    return run_plan(panel, plan, record=record, progress=progress, callbacks=callbacks)


def run_plan(
    panel: pd.DataFrame,
    plan: WalkForwardPlan,
    *,
    record: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    callbacks: Sequence[Callable] = (),
) -> WalkForwardResult:
    """Run a planned walk-forward (`plan_walkforward`) on the panel it was planned on.

    ``progress(windows_done, windows_total, message)`` is called when each window starts and
    ends; ``callbacks`` go to every study's ``optimize`` (one call per finished trial). When
    ``record``, the run is an entry of `backtest.ledger` (kind ``walkforward``): its completed
    trials are counted as they finish (a killed run keeps them), and at the end its stitched
    out-of-sample Sharpe ratio and days are recorded.
    """
    import optuna

    s = plan.settings
    strategy, objective, names, fixed = s.strategy, s.objective, s.include, s.fixed
    n_trials, seed, min_trades = s.n_trials, s.seed, s.min_trades
    allow_degenerate = s.allow_degenerate
    evaluator, windows, skipped, left_out = plan.evaluator, plan.windows, plan.skipped, plan.signal

    tuning.quiet_optuna()
    init_cash = float(evaluator.row(fixed)["init_cash"])
    run = uuid.uuid4().hex
    tracked = None
    if record:  # counts every completed trial at once (a counter file), the entry at the end
        from costbt.backtest import ledger

        details = {"objective": objective, "windows": len(windows), "searched": list(names)}
        tracked = ledger.start_walkforward(
            strategy=strategy, data=ledger.data_ref(panel), details=details
        )
        callbacks = [tracked, *callbacks]
    total = len(windows)
    results: list[WindowResult] = []
    pieces: list[pd.Series] = []
    bench: list[pd.Series] = []
    for w in windows:
        if progress is not None:
            progress(w.number - 1, total, f"window {w.number}/{total} {w.label}: tuning")
        objective_fn = tuning.Objective(
            panel,
            strategy,
            objective,
            names,
            fixed,
            int(min_trades),
            run,
            period=(w.train_start, w.train_end),
            allow_degenerate=bool(allow_degenerate),
            _evaluator=evaluator,
        )
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=None if seed is None else seed + w.number),
        )
        with tuning.unmasked_causes():
            study.optimize(
                objective_fn, n_trials=n_trials, catch=(Exception,), callbacks=[*callbacks]
            )
        states = [t.state for t in study.get_trials(deepcopy=False)]
        done = sum(s == optuna.trial.TrialState.COMPLETE for s in states)
        failed = sum(s == optuna.trial.TrialState.FAIL for s in states)
        best = tuning.best_trial(study)
        if best is None:
            params = None
            is_metrics = _clean({})
            t0, t1 = evaluator.span(w.test_start, w.test_end)
            rets = pd.Series(0.0, index=panel.index[t0 : t1 + 1], name="returns")
            oos = _flat_metrics(init_cash, len(rets))
        else:
            params = {**fixed, **best.params}
            is_metrics = _clean(tuning.trial_metrics(best))
            # A position still held on the window's last day is sold at its close, with costs.
            oos, rets = evaluator.run(params, w.test_start, w.test_end, close_at_end=True)
        # Buy-and-hold on the same days, with the same costs and the same forced exit.
        held = span_benchmarks(
            panel,
            window_config(evaluator.row(params or fixed)),
            rets.index[0],
            rets.index[-1],
            close_at_end=True,
            names=("buy_and_hold",),
        )["buy_and_hold"]
        b = held.returns.reindex(rets.index)
        pieces.append(rets)
        bench.append(b)
        results.append(
            WindowResult(
                window=w,
                params=params,
                is_metrics=is_metrics,
                oos_metrics=oos,
                benchmark_oos={**_benchmark_metrics(b), "exposure": held.exposure},
                trials=done,
                study=study,
                failed=failed,
                oos_days=len(rets),
                flag=None
                if params is None
                else degeneracy(oos["trades"], oos["exposure"], oos["market_corr"]),
            )
        )
        if progress is not None:
            what = (
                "no feasible trial, held cash"
                if params is None
                else f"OOS return {oos['total_return']:+.1%}, {int(oos['trades'])} trade(s)"
            )
            progress(w.number, total, f"window {w.number}/{total} {w.label}: {what}")

    oos_returns = pd.concat(pieces).rename("returns")
    benchmark = pd.concat(bench).rename("benchmark")
    trials = sum(r.trials for r in results)
    settings = s.as_dict()
    if tracked is not None:
        tracked.finish(
            m.sharpe(oos_returns) if len(oos_returns) > 1 else None,
            len(oos_returns),
            failed=sum(r.failed for r in results),
            **{k: settings[k] for k in ("train", "test", "embargo", "anchored", "by_halving")},
        )
    return WalkForwardResult(
        strategy=strategy,
        objective=objective,
        settings=settings,
        windows=results,
        oos_returns=oos_returns,
        oos_equity=(init_cash * (1.0 + oos_returns).cumprod()).rename("equity"),
        benchmark_returns=benchmark,
        trials=trials,
        skipped=skipped,
        init_cash=init_cash,
        ledger_id=None if tracked is None else tracked.id,
        signal=left_out,
        close=panel["close_usd"].loc[
            oos_returns.index[0] - pd.Timedelta(days=1) : oos_returns.index[-1]
        ],
    )


__all__ = [
    "MIN_TRAIN_DAYS",
    "WalkForwardError",
    "WalkForwardPlan",
    "WalkForwardResult",
    "WalkForwardSettings",
    "Window",
    "WindowResult",
    "check_fixed",
    "check_settings",
    "data_days",
    "duration_text",
    "make_windows",
    "parse_duration",
    "plan_walkforward",
    "run_plan",
    "run_walkforward",
    "split_windows",
]
