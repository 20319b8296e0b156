"""Leave-one-signal-out attribution of the confluence strategy: what each member adds.

The question a team asks of a k-of-n confluence (cost, basis, ETF flows, SOPR): does each signal
earn its place? Algorithm:

1. Variants. ``all`` (every member), ``without <m>`` for each member m (the others, same k capped
   at their number), and ``<m> alone`` (k = 1). With one member in use there is only ``all``.
2. Same span, same exit. Every variant is simulated by `backtest.engine.run_strategy` on the
   same traded days (``start`` to the panel's last close), signals warm on the earlier history,
   with the same engine configuration and the same exit rule (the below-cost exit, which stays
   even when cost leaves the entry vote: `strategies.confluence`). Only the entry vote differs.
3. Buy-and-hold on the same days (`backtest.benchmarks.span_benchmarks`) is the yardstick.
4. Per variant: total return, CAGR, Sharpe, maximum drawdown, exposure, trades, the entry
   rule's share of its known days (``entry_share``), its coverage of the traded days
   (``signal_coverage``), the first day it is known, and the degeneracy flag
   (`backtest.degenerate`: a variant that is buy-and-hold in disguise is named so).
5. What a member adds: Sharpe of ``all`` minus Sharpe of ``without <m>`` (positive: removing it
   hurts), and the same for total return.

Each variant is an evaluated configuration: the command records them in the trial ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from costbt.backtest.engine import EngineConfig, run_strategy, signal_span
from costbt.strategies.confluence import MEMBERS, STRATEGY, ConfluenceStrategyParams

#: Columns of `Attribution.table`, in order (fractions, counts and days).
COLUMNS: tuple[str, ...] = (
    "members",
    "k",
    "total_return",
    "cagr",
    "sharpe",
    "max_drawdown",
    "exposure",
    "trades",
    "entry_share",
    "signal_coverage",
    "first_known",
    "flag",
    "entry_days",
    "entry_days_exit_on",
)
BENCHMARK = "buy_and_hold"


@dataclass(frozen=True)
class Variant:
    """One entry vote: a label, its members and the k it needs."""

    label: str
    members: tuple[str, ...]
    k: int


def variants(params: ConfluenceStrategyParams) -> list[Variant]:
    """``all``, ``without <m>`` and ``<m> alone`` over the members in use (step 1)."""
    used = params.members
    k = params.k if params.mode == "k_of_n" else None

    def need(n: int) -> int:
        if params.mode == "any":
            return 1
        if params.mode == "all":
            return n
        return min(int(k), n)

    out = [Variant("all", used, need(len(used)))]
    if len(used) > 1:
        for m in used:
            rest = tuple(x for x in used if x != m)
            out.append(Variant(f"without {m}", rest, need(len(rest))))
        out.extend(Variant(f"{m} alone", (m,), 1) for m in used)
    return out


def variant_params(params: ConfluenceStrategyParams, v: Variant) -> ConfluenceStrategyParams:
    """``params`` with only ``v``'s members switched on."""
    return replace(params, **{f"use_{m}": m in v.members for m in MEMBERS})


@dataclass(frozen=True)
class Attribution:
    """The result of `run_attribution`.

    Attributes:
        params: the base confluence parameters.
        first, last: the traded span shared by every row.
        table: one row per variant (index: its label) and one for buy-and-hold, `COLUMNS`.
        adds: per member, ``sharpe_added`` and ``return_added`` (``all`` minus ``without m``).
        equity: daily equity of every row (columns: the table's index).
        configurations: variants evaluated (what the ledger counts).
    """

    params: ConfluenceStrategyParams
    first: pd.Timestamp
    last: pd.Timestamp
    table: pd.DataFrame
    adds: pd.DataFrame
    equity: pd.DataFrame
    configurations: int

    @property
    def regime(self) -> str:
        """``no_edge`` when no variant beats buy-and-hold's Sharpe, else ``inconclusive``
        (in-sample and not deflated: a lead to validate, not an edge)."""
        rows = self.table.drop(index=BENCHMARK)["sharpe"].astype(float)
        bh = float(self.table.loc[BENCHMARK, "sharpe"])
        return "inconclusive" if bool((rows > bh).any()) else "no_edge"

    def display(self) -> pd.DataFrame:
        """`table` as text for the terminal and the page: percentages, counts, days, flags."""
        from costbt.backtest.degenerate import LABELS

        def pct(v: object) -> str:
            return "-" if pd.isna(v) else f"{float(v):.1%}"

        def num(v: object, spec: str) -> str:
            return "-" if pd.isna(v) else format(float(v), spec)

        out = pd.DataFrame(index=self.table.index)
        t = self.table
        out["k"] = [num(v, ".0f") for v in t["k"]]
        out["return"] = [pct(v) for v in t["total_return"]]
        out["CAGR"] = [pct(v) for v in t["cagr"]]
        out["Sharpe"] = [num(v, ".2f") for v in t["sharpe"]]
        out["max DD"] = [pct(v) for v in t["max_drawdown"]]
        out["exposure"] = [pct(v) for v in t["exposure"]]
        out["trades"] = [num(v, ".0f") for v in t["trades"]]
        out["entry share"] = [pct(v) for v in t["entry_share"]]
        out["coverage"] = [pct(v) for v in t["signal_coverage"]]
        out["known from"] = [
            "-" if pd.isna(v) else str(pd.Timestamp(v).date()) for v in t["first_known"]
        ]
        out["flag"] = [LABELS.get(v, v) if isinstance(v, str) else "" for v in t["flag"]]
        return out

    def notes(self) -> list[str]:
        """Why a variant that had entry days never traded: on every one of them the exit rule
        (price above cost x ``exit_ratio``) also held, so no position opened."""
        lines = []
        for label, r in self.table.drop(index=BENCHMARK).iterrows():
            n, blocked = int(r["entry_days"]), int(r["entry_days_exit_on"])
            if n and blocked == n:
                lines.append(
                    f"{label}: all {n:,} of its entry days fall on days the exit holds (price "
                    f"above cost x exit_ratio {self.params.exit_ratio:g}), so it never opens a "
                    "position"
                )
        return lines

    def verdict(self) -> str:
        """One line: the best variant's Sharpe against buy-and-hold's on the same days."""
        rows = self.table.drop(index=BENCHMARK)
        bh = float(self.table.loc[BENCHMARK, "sharpe"])
        sharpes = rows["sharpe"].astype(float)
        if sharpes.isna().all():
            return "no variant has a Sharpe ratio on this span: nothing was tested"
        best = str(sharpes.idxmax())
        s = float(sharpes.max())
        beat = int((sharpes > bh).sum())
        head = (
            f"no variant beats buy-and-hold (Sharpe {bh:.2f}) on the same days; the best, "
            f"'{best}', has {s:.2f}"
            if beat == 0
            else f"{beat} of {len(rows)} variants beat buy-and-hold's Sharpe {bh:.2f} "
            f"(best '{best}' {s:.2f}), in sample: {self.configurations} configurations, "
            "not deflated"
        )
        return head

    def member_lines(self) -> list[str]:
        """One sentence per member: what removing it changes."""
        lines = []
        for m, r in self.adds.iterrows():
            other = f"without {m}"
            if other in self.equity and self.equity["all"].equals(self.equity[other]):
                lines.append(f"{m} changes nothing: without it the equity is the same every day")
                continue
            d = float(r["sharpe_added"])
            points = 100.0 * float(r["return_added"])
            if math.isnan(d):
                lines.append(f"{m}: {points:+,.1f} points of total return; no Sharpe to compare")
                continue
            word = "adds" if d > 0 else "costs" if d < 0 else "leaves Sharpe unchanged at"
            lines.append(
                f"{m} {word} {abs(d):.2f} Sharpe and {points:+,.1f} points of total return "
                f"(all members against all but {m})"
            )
        return lines


def _row(run, v: Variant | None, days: pd.Index) -> dict:
    met = run.metrics()
    span = signal_span(run.plan.entry_rule, days) if run.plan is not None else None
    if run.plan is not None:
        on = run.plan.entries.reindex(days, fill_value=False).astype(bool)
        blocked = on & run.plan.exits.reindex(days, fill_value=False).astype(bool)
        entry_days, entry_exit = int(on.sum()), int(blocked.sum())
    else:
        entry_days = entry_exit = 0
    return {
        "members": "+".join(v.members) if v else "-",
        "k": v.k if v else float("nan"),
        "total_return": met["total_return"],
        "cagr": met["cagr"],
        "sharpe": met["sharpe"],
        "max_drawdown": met["max_drawdown"],
        "exposure": met["exposure"],
        "trades": met["trades"],
        "entry_share": met["entry_share"],
        "signal_coverage": met["signal_coverage"],
        "first_known": None if span is None else span["first"],
        "flag": run.flag if v else None,
        "entry_days": entry_days,
        "entry_days_exit_on": entry_exit,
    }


def run_attribution(
    panel: pd.DataFrame,
    params: ConfluenceStrategyParams | None = None,
    config: EngineConfig | None = None,
    start=None,
) -> Attribution:
    """Run every variant of `variants` and buy-and-hold on the same span (module docstring).

    ``start``: first traded day (None: the first candle); the panel's last row is the last.
    Raises ``ValueError`` when the span holds no price.
    """
    from costbt.backtest.benchmarks import span_benchmarks

    params = ConfluenceStrategyParams() if params is None else params
    config = EngineConfig() if config is None else config
    rows: dict[str, dict] = {}
    equity: dict[str, pd.Series] = {}
    vs = variants(params)
    days = None
    for v in vs:
        run = run_strategy(
            panel, STRATEGY, variant_params(params, v), config, start, report_extras=False
        )
        days = run.ohlc.index
        rows[v.label] = _row(run, v, days)
        equity[v.label] = run.equity
    bh = span_benchmarks(panel, config, days[0], days[-1], names=(BENCHMARK,))[BENCHMARK]
    rows[BENCHMARK] = _row(bh, None, days)
    equity[BENCHMARK] = bh.equity
    table = pd.DataFrame.from_dict(rows, orient="index")[list(COLUMNS)]
    adds = {}
    if len(vs) > 1:
        for m in params.members:
            other = table.loc[f"without {m}"]
            adds[m] = {
                "sharpe_added": float(table.loc["all", "sharpe"]) - float(other["sharpe"]),
                "return_added": float(table.loc["all", "total_return"])
                - float(other["total_return"]),
            }
    return Attribution(
        params=params,
        first=days[0],
        last=days[-1],
        table=table,
        adds=pd.DataFrame.from_dict(adds, orient="index", columns=["sharpe_added", "return_added"]),
        equity=pd.DataFrame(equity),
        configurations=len(vs),
    )


__all__ = [
    "Attribution",
    "BENCHMARK",
    "COLUMNS",
    "Variant",
    "run_attribution",
    "variant_params",
    "variants",
]
