"""``costbt fidelity``: the SOPR proxy measured against the bundled real STH-SOPR.

Thin: parses the flags, calls `signals.sopr_fidelity.proxy_fidelity` and prints its table and
one-line verdict. Formulas and source in that module.
"""

from __future__ import annotations

from typing import Annotated

import typer

#: The longest match window: about ten years, longer than the overlap of the two series.
MAX_MATCH_DAYS = 3650


def parse_match_days(value: str) -> int:
    """``--match-days``: a whole number of days >= 0; exits 2 naming the flag otherwise."""
    from costbt.backtest.cli.console import fail

    text = value.strip()
    try:
        days = int(text)
    except ValueError:
        raise fail(f"--match-days: '{value}' is not a whole number of days") from None
    if days < 0:
        raise fail(f"--match-days: {days} is negative (a window of ±N days needs N >= 0)")
    if days > MAX_MATCH_DAYS:
        raise fail(
            f"--match-days: {days} is above {MAX_MATCH_DAYS} (a window longer than the data)"
        )
    return days


def _ratio(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"


def _share(v: float) -> str:
    return "-" if v != v else f"{v:.1%}"


def register(app: typer.Typer) -> None:
    """Add ``fidelity`` to ``app`` (a second call on the same app is a no-op)."""
    # Imported here, not at module level: backtest.cli imports this module while it loads.
    from costbt.backtest.cli.commands.options import parse_day
    from costbt.backtest.cli.console import fail, out, reports_bad_input

    if any(getattr(c, "name", None) == "fidelity" for c in app.registered_commands):
        return

    @app.command("fidelity")
    @reports_bad_input
    def fidelity_command(
        match_days: Annotated[
            str,
            typer.Option(
                "--match-days",
                help="An entry matches one of the other series within ± this many days (>= 0).",
            ),
        ] = "7",
        start: Annotated[
            str | None,
            typer.Option("--start", help="First day compared (default: the overlap's first)."),
        ] = None,
        end: Annotated[
            str | None,
            typer.Option("--end", help="Last day compared (default: the overlap's last)."),
        ] = None,
    ) -> None:
        """How well the price-only SOPR proxy stands in for the bundled real STH-SOPR:
        correlation, agreement on the below-1 state, and the SOPR rule's entries matched."""
        window = parse_match_days(match_days)
        first, last = parse_day("--start", start), parse_day("--end", end)
        if first is not None and last is not None and first > last:
            raise fail(f"--end: {last.date()} is before --start {first.date()}")

        from rich.table import Table

        from costbt.data.panel import load_panel
        from costbt.signals import sopr_fidelity as fid

        panel = load_panel()
        try:
            f = fid.proxy_fidelity(panel, match_days=window, start=first, end=last)
        except fid.NoOverlapError:
            whole = fid.proxy_fidelity(panel, match_days=window)
            asked = (
                f"{'the first day' if first is None else first.date()} .. "
                f"{'the last day' if last is None else last.date()}"
            )
            raise fail(
                f"--start/--end: no day in {asked} on which both the real STH-SOPR and "
                f"the proxy are known (they overlap {whole.first.date()} .. {whole.last.date()})"
            ) from None

        mean = f"{f.smooth_days}-day trailing mean"
        t = Table(
            title=f"SOPR proxy against the real {fid.LABELS[f.reference]} ({fid.SOURCE}), "
            f"{f.first.date()} .. {f.last.date()}",
            title_justify="left",
        )
        t.add_column("measure")
        t.add_column("value", justify="right")
        t.add_column("over", justify="left")
        t.add_row("correlation of daily values", _ratio(f.correlation), f"{f.daily_days} days")
        t.add_row(f"correlation of the {mean}s", _ratio(f.correlation_smoothed), f"{f.days} days")
        t.add_row(
            f"agreement on {mean} < {f.threshold:g}",
            _share(f.agreement),
            f"real below on {_share(f.real_below)}, proxy on {_share(f.proxy_below)}",
        )
        t.add_row("real entries (SOPR rule)", str(len(f.real_entries)), "episodes")
        t.add_row("proxy entries (same rule)", str(len(f.proxy_entries)), "episodes")
        t.add_row(
            f"real entries found by the proxy (±{f.match_days} d, recall)",
            _share(f.recall),
            f"{f.real_matched} of {len(f.real_entries)}",
        )
        t.add_row(
            f"proxy entries near a real one (±{f.match_days} d, precision)",
            _share(f.precision),
            f"{f.proxy_matched} of {len(f.proxy_entries)}",
        )
        out.print(t)
        out.print(fid.verdict(f), highlight=False)
