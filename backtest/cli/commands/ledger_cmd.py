"""``costbt ledger``: configurations counted by strategy, data and kind; ``ledger reset``."""

from __future__ import annotations

from typing import Annotated

import typer

from costbt.backtest.cli.console import fail, out, reports_bad_input

Strategy = Annotated[str | None, typer.Option("--strategy", help="Only this strategy.")]
Data = Annotated[
    str | None, typer.Option("--data", help="Only this data key (16 hex digits, as listed).")
]


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


def register(app: typer.Typer) -> None:
    ledger_app = typer.Typer(
        help="The trial ledger: every configuration evaluated per strategy and data (the N of "
        "the deflated Sharpe ratio).",
        invoke_without_command=True,
    )
    app.add_typer(ledger_app, name="ledger")

    @ledger_app.callback()
    @reports_bad_input
    def ledger_cmd(ctx: typer.Context, strategy: Strategy = None, data: Data = None) -> None:
        """List the configurations counted by strategy, data and kind, with dates and totals."""
        if ctx.invoked_subcommand is not None:
            return
        from rich.table import Table
        from rich.text import Text

        from costbt.backtest import ledger

        rows = ledger.summary(strategy, data)
        path = ledger.ledger_path()
        if not rows:
            which = " matching the filters" if strategy or data else ""
            out.print(f"ledger {path}: no configuration counted{which}", highlight=False)
            return
        t = Table(title=f"Trial ledger: {path}", title_justify="left")
        for c in ("strategy", "data", "kind", "runs", "configurations", "first", "last"):
            t.add_column(c, justify="right" if c in ("runs", "configurations") else "left")
        groups: dict[tuple[str, str], list] = {}
        for r in rows:
            groups.setdefault((r.strategy, r.data), []).append(r)
        for (s, d), group in groups.items():
            for r in group:
                runs = f"{r.runs:,}" + (f" ({r.running} running)" if r.running else "")
                label = f"{r.data_label} ({d})"
                t.add_row(
                    s, label, r.kind, runs, f"{r.configurations:,}", _when(r.first), _when(r.last)
                )
            total = sum(r.configurations for r in group)
            t.add_row(
                s,
                f"{group[-1].data_label} ({d})",
                Text("total (N)", style="bold"),
                "",
                Text(f"{total:,}", style="bold"),
                _when(min(r.first for r in group)),
                _when(max(r.last for r in group)),
                end_section=True,
            )
        out.print(t)
        for e in ledger.resets(strategy):
            on = "all data" if e.get("data") is None else f"data {e['data']}"
            by = e.get("by", {})
            out.print(
                f"reset {_when(e['started_at'])}: {e['strategy']} on {on}, "
                f"{e.get('cleared', 0):,} configurations cleared by "
                f"{by.get('user', '?')}@{by.get('host', '?')}",
                highlight=False,
            )

    @ledger_app.command("reset")
    @reports_bad_input
    def reset_cmd(
        strategy: Annotated[str, typer.Option("--strategy", help="Strategy to reset.")],
        data: Data = None,
        yes: Annotated[bool, typer.Option("--yes", help="Really reset (recorded).")] = False,
    ) -> None:
        """Stop a strategy's configurations counting (kept in the file, the reset recorded)."""
        from costbt.backtest import ledger

        rows = ledger.summary(strategy)
        if not rows:
            raise fail(
                f"--strategy: no configuration of '{strategy}' counts in the ledger "
                f"{ledger.ledger_path()}"
            )
        if data is not None:
            rows = [r for r in rows if r.data == data]
            if not rows:
                raise fail(f"--data: no configuration of '{strategy}' counts on data '{data}'")
        n = sum(r.configurations for r in rows)
        on = "all data" if data is None else f"data {data}"
        if not yes:
            raise fail(
                f"--yes: this would clear {n:,} configurations of {strategy} on {on}; "
                "add --yes to reset"
            )
        entry = ledger.reset(strategy, data)
        out.print(
            f"reset {strategy} on {on}: {entry['cleared']:,} configurations in "
            f"{entry['entries']:,} entries no longer count (kept in {ledger.ledger_path()}, "
            "the reset recorded)",
            highlight=False,
        )
