"""What a backtest run hands to the terminal summary and to the HTML report.

Everything is plain pandas and dicts, so reports need no vectorbt import and tests can build a
result by hand. Returns are daily simple returns indexed by tz-naive UTC dates; annualisation is
365 periods per year everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from costbt.backtest.metrics import PERIODS

#: Days a year for annualising (the one constant: `costbt.backtest.metrics.PERIODS`).
PERIODS_PER_YEAR = PERIODS
#: Exits by cause, as `backtest.fast.EXIT_CAUSES` (kept here so reports need no numba import).
EXIT_CAUSES = ("signal", "take_profit", "stop_loss", "trailing_stop", "time_stop", "end")
#: Short names of the exit causes for one-cell summaries (`exits_text`).
EXIT_WORDS = {
    "signal": "signal",
    "take_profit": "take-profit",
    "stop_loss": "stop",
    "trailing_stop": "trailing",
    "time_stop": "time",
    "end": "end",
}


def exits_text(values, prefix: str = "exits_") -> str:
    """Exits by cause in one cell, e.g. ``3 signal, 1 stop, 1 end`` (``none``: no exit; ``n/a``:
    not recorded). ``values`` (a mapping or a row) holds ``{prefix}{cause}`` counts; ``end`` is a
    position closed, or valued, at the end of the span or window."""

    def missing(v) -> bool:
        return v is None or (isinstance(v, float) and v != v)

    counts = {c: values.get(f"{prefix}{c}") for c in EXIT_CAUSES}
    if all(missing(v) for v in counts.values()):
        return "n/a"
    parts = [f"{int(v):,} {EXIT_WORDS[c]}" for c, v in counts.items() if not missing(v) and v > 0]
    return ", ".join(parts) or "none"


@dataclass(frozen=True)
class BacktestResult:
    """One strategy run with its benchmarks.

    Attributes:
        strategy: strategy name (``below_cost`` ...).
        title: report title (user text: escape before rendering).
        returns: the strategy's daily returns.
        equity: the strategy's portfolio value in USD per day.
        benchmarks: name -> daily returns (``buy_and_hold``, ``weekly_dca``).
        benchmark_equity: name -> portfolio value per day.
        trades: one row per trade: ``entry_time``, ``exit_time`` (NaT if open), ``entry_price``,
            ``exit_price``, ``size_btc``, ``pnl_usd``, ``return_pct``, ``fees_usd``, ``status``.
        metrics: rows = metric names, columns = strategy then each benchmark.
        price: BTC close (USD) over the run.
        cost: the strategy's production cost (USD/BTC), if it uses one.
        cost_band: columns ``p10``, ``p50``, ``p90`` (USD/BTC), if available.
        entries, exits: days on which orders were filled (fill days, after the signal day).
        params: parameter name -> value (as run).
        config: the full configuration (as run), for the provenance block.
        provenance: costbt version, git commit, data manifest hash, seed, command line ...
        flags: strategy name -> `backtest.degenerate` flag (``never_in``, ``buy_and_hold``) or
            None; the metrics table holds the entry share, signal coverage, market correlation
            and exits by cause that explain it.
        signal: where the strategy's entry rule is known inside the traded span
            (`backtest.engine.signal_span`: first, last, unknown_days, unknown_after, days), or
            None for a rule-free strategy.
    """

    strategy: str
    title: str
    returns: pd.Series
    equity: pd.Series
    benchmarks: dict[str, pd.Series]
    benchmark_equity: dict[str, pd.Series]
    trades: pd.DataFrame
    metrics: pd.DataFrame
    price: pd.Series
    cost: pd.Series | None = None
    cost_band: pd.DataFrame | None = None
    entries: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))
    exits: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))
    params: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    flags: dict[str, str | None] = field(default_factory=dict)
    signal: dict | None = None

    def notes(self) -> list[str]:
        """What the numbers mean, in sentences: exits by cause, where the entry rule is known,
        where the cost is known (`cost_note`), and any run that tests nothing
        (`backtest.degenerate`). The terminal and the report print them under the metrics."""
        from costbt.backtest.degenerate import LABELS

        lines = []
        col = self.metrics[self.strategy]
        words = {"end": "open at the end (valued at the close)", "time_stop": "time stop"}
        causes = [
            f"{int(col[f'exits_{c}'])} {words.get(c, c.replace('_', '-'))}"
            for c in EXIT_CAUSES
            if col.get(f"exits_{c}", 0) > 0
        ]
        lines.append(f"{self.strategy} exits by cause: {', '.join(causes) or 'none'}")
        sig = self.signal
        if sig is not None:
            if sig["last"] is None:
                lines.append(
                    f"signal: the entry rule is unknown on every one of the {sig['days']:,} "
                    "traded days (its inputs do not cover them): nothing was tested"
                )
            else:
                share = float(col.get("entry_share", float("nan")))
                known = sig["days"] - sig["unknown_days"]
                line = (
                    f"signal: entry rule known {sig['first'].date()} .. {sig['last'].date()} "
                    f"({known:,} of {sig['days']:,} traded days, coverage {known / sig['days']:.1%})"
                )
                if share == share:
                    line += f", on {share:.1%} of the known days"
                if sig["unknown_after"]:
                    line += (
                        f"; its inputs end on {sig['last'].date()}: the last "
                        f"{sig['unknown_after']:,} traded day(s) have no signal (no entry or exit "
                        "was possible), yet count in the metrics"
                    )
                lines.append(line)
        cost = self.cost_note()
        if cost is not None:
            lines.append(cost)
        for name, flag in self.flags.items():
            if flag is not None:
                c = self.metrics[name]
                facts = [f"exposure {float(c.get('exposure', 0.0)):.1%}"]
                corr = float(c.get("market_corr", float("nan")))
                if corr == corr:
                    facts.append(f"correlation with BTC {corr:.3f}")
                facts.append(f"{float(c.get('trades', 0.0)):.0f} trade(s)")
                lines.append(
                    f"WARNING: {name} is {LABELS[flag]} ({', '.join(facts)}): it does not test "
                    "its signal"
                )
        return lines

    def cost_note(self) -> str | None:
        """Where the strategy's cost (`cost`) is known, when it is unknown on the last traded
        days (the cost's inputs end before the prices do; e.g. the bundled chain data ends on
        2026-02-12 and prices on 2026-08-13); None without a cost or when it is known to the end.

        The cost is never carried forward, so on those days no entry or exit that needs it was
        possible; the days still count in the metrics.
        """
        if self.cost is None or not len(self.price):
            return None
        days = self.price.index
        known = self.cost.reindex(days).notna().to_numpy()
        model = self.params.get("model")
        name = f"cost ({model})" if model else "cost"
        if not known.any():
            return (
                f"{name}: unknown on every one of the {len(days):,} traded days (its inputs do "
                "not cover them, and cost is not carried forward): no entry or exit that needs "
                "it was possible"
            )
        last = days[known][-1]
        after = int((days > last).sum())
        if not after:
            return None
        if model == "external":
            why = "the latest analyst estimate is too old after that day (estimate_max_age_days)"
        elif model is None:
            why = "its inputs end there"
        else:
            why = (
                "its chain inputs, hash rate, difficulty and subsidy, end there in the bundled data"
            )
        return (
            f"{name}: known to {last.date()}; unknown on the last {after:,} traded day(s): "
            f"{why}, and cost is not carried forward, so no entry or exit that needs it (a "
            "below-cost entry, a cost exit) was possible on them"
        )
