"""Replay an article's dated claims against the data cut at each claim's day.

A claims file (TOML) holds a title, a source, the day the article was published and a list of
claims. Each claim names what it is about, the day, the stated value (a number, or ``[low,
high]`` for a range), a tolerance and the source text:

    title = "Bitcoin slides below its production cost"
    source = "a news article, 2025-11-24"
    published = 2025-11-24

    [[claims]]
    id = "jpm-cost"
    text = "JPMorgan puts the cost of producing one bitcoin near $94,000"
    what = "cost"                  # cost | deficit | column | signal
    model = "electricity"          # cost and deficit: the project's model to compare with
    date = 2025-11-20
    value = 94000
    tolerance = 0.05               # relative (a fraction of the stated value), or
    # tolerance_abs = 2000         # absolute, in the value's unit

Kinds (``what``):

* ``cost``: a cost model's USD per BTC on ``date`` (`signals.production_cost.cost_models`, with
  the optional ``params`` table of cost assumptions). Every chain model is computed too and the
  closest is named; ``external`` (the bundled analyst estimates, which may be this very claim)
  is never a candidate. Without ``model`` the closest model is the one compared.
* ``deficit``: ``price / cost - 1`` (a fraction, as ``costbt cost`` prints it: -0.2 = price 20 %
  below cost) with ``model``'s cost and the day's close.
* ``column``: a panel column (`data.panel.column_catalogue`) about ``date``, or a statistic over
  ``from``..``date`` (``stat``: value, mean, min, max, sum, or drawdown = 1 - value on ``date`` /
  the window's maximum). ``date`` is the day the value is about; the column's publication lag
  gives the day it was known (an ETF flow of day d is known on d + 1).
* ``signal``: a shipped signal's indicator column (``indicator``; default its first) as read on
  ``date`` (signals are already point in time: the row of ``date`` is what was known then).

Algorithm, per claim:

1. **As of.** The claim's ``as_of`` (default: the file's ``published``; without either, the day
   the value was first known). The panel is rebuilt with every source cut at that day
   (`data.panel.load_panel(as_of=...)`), so no value published later is used. The values
   themselves are the bundled vintage: each source is one snapshot taken later (the Farside
   snapshot, the scraped basis and SOPR series), so a value a source revised after the claim's
   day shows its revised figure, and a difference can be a revision (`VINTAGE_NOTE`).
2. **Known yet?** A value about ``date`` with lag L is known on ``date + L``; after ``as_of`` it
   cannot be checked ("not yet published"). Outside the data, or missing on that day (a
   source that had not started, or chain inputs that end): cannot be checked, saying why.
3. **Compare.** difference = project value - stated value (for a range: distance to the nearest
   bound, 0 inside); reproduced when ``|difference| <= tolerance`` (relative tolerances scale
   with the stated value's magnitude; a range's with its nearer bound), else differs.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

KINDS: tuple[str, ...] = ("cost", "deficit", "column", "signal")
STATS: tuple[str, ...] = ("value", "mean", "min", "max", "sum", "drawdown")
REPRODUCED, DIFFERS, UNCHECKABLE = "reproduced", "differs", "cannot be checked"
DEFAULT_TOLERANCE = 0.05
#: A relative tolerance above 100 % of the stated value, or an absolute one above this, would
#: let anything pass.
MAX_TOLERANCE = 1.0
MAX_TOLERANCE_ABS = 1e9
#: Keys every claim may have, and the keys that only apply to some kinds.
COMMON_KEYS = ("id", "text", "what", "date", "value", "tolerance", "tolerance_abs", "as_of")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "cost": ("model", "params"),
    "deficit": ("model", "params"),
    "column": ("column", "stat", "from"),
    "signal": ("name", "indicator"),
}
TEXT_KEYS = ("id", "text", "what", "model", "column", "stat", "name", "indicator")


#: What "cut at the day" can and cannot mean with single-snapshot sources (printed under every table).
VINTAGE_NOTE = (
    "values are the bundled vintage, cut at each claim's day with publication lags applied: "
    "nothing published later is used, but each source is one snapshot taken later, so a figure "
    "revised since the claim's day (ETF flows are) shows its revision"
)


class ClaimsError(ValueError):
    """A claims file that cannot be read or a claim that is malformed (names the file and key)."""


def _signal_registry() -> dict[str, Any]:
    from costbt.signals import basis, etf_flows, production_cost, realised_price, sopr

    return {
        "below_cost": lambda p: production_cost.below_cost(p),
        "below_cost_difficulty_regression": lambda p: production_cost.below_cost(
            p, production_cost.BelowCostParams(model="difficulty_regression")
        ),
        "hash_ribbons": production_cost.hash_ribbons,
        "basis_reset": basis.basis_reset,
        "etf_reversal": etf_flows.etf_reversal,
        "sth_sopr": sopr.sopr_signal,
        "lth_sopr": lambda p: sopr.sopr_signal(p, sopr.SoprParams(series="lth_sopr")),
        "below_sth_realised_price": realised_price.below_sth_realised_price,
    }


#: Signals a claim may name (``what = "signal"``, ``name = ...``).
SIGNALS: tuple[str, ...] = (
    "below_cost",
    "below_cost_difficulty_regression",
    "hash_ribbons",
    "basis_reset",
    "etf_reversal",
    "sth_sopr",
    "lth_sopr",
    "below_sth_realised_price",
)


def _day(value: object, where: str) -> pd.Timestamp:
    """A TOML date or date-time (a time zone is converted to UTC) or ``"YYYY-MM-DD"``: the UTC day."""
    if isinstance(value, dt.datetime | dt.date):
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        return ts.normalize()
    if isinstance(value, str):
        try:
            return pd.Timestamp(dt.date.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise ClaimsError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ClaimsError(f"{where}: {value!r} is not a finite number")
    return float(value)


@dataclass(frozen=True)
class Claim:
    """One dated claim (see the module docstring for the keys)."""

    id: str
    what: str
    date: pd.Timestamp
    value: tuple[float, float]
    text: str = ""
    model: str | None = None
    column: str | None = None
    stat: str = "value"
    start: pd.Timestamp | None = None
    name: str | None = None
    indicator: str | None = None
    tolerance: float | None = None
    tolerance_abs: float | None = None
    as_of: pd.Timestamp | None = None
    params: dict = field(default_factory=dict)

    @property
    def stated(self) -> str:
        lo, hi = self.value
        return _fmt(lo) if lo == hi else f"{_fmt(lo)} .. {_fmt(hi)}"

    @property
    def subject(self) -> str:
        """What the claim is about, in a few words."""
        if self.what in ("cost", "deficit"):
            return f"{self.what} ({self.model or 'closest model'})"
        if self.what == "signal":
            return f"signal {self.name}.{self.indicator or '(first)'}"
        window = f" {self.start.date()}..{self.date.date()}" if self.start is not None else ""
        return f"{self.column}" + ("" if self.stat == "value" else f" {self.stat}{window}")

    def allowed(self, near: float) -> float:
        """The tolerance in the value's unit (relative ones scale with ``|near|``)."""
        if self.tolerance_abs is not None:
            return self.tolerance_abs
        rel = DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance
        return rel * abs(near)


@dataclass(frozen=True)
class ClaimsFile:
    """A parsed claims file: title, source, publication day and its claims."""

    path: Path
    title: str
    source: str
    published: pd.Timestamp | None
    claims: tuple[Claim, ...]


def _claim(raw: object, i: int, known_columns: set[str]) -> Claim:
    from costbt.signals import production_cost as pc

    where = f"claims[{i}]"
    if not isinstance(raw, dict):
        raise ClaimsError(f"{where}: not a table")
    ident = raw.get("id")
    if ident is None:
        raise ClaimsError(f"{where}: 'id' is missing (a short name for the claim)")
    if not isinstance(ident, str) or not ident.strip():
        raise ClaimsError(f"{where}: id {ident!r} is not a non-empty string")
    where = f"claim '{ident}'"
    for key in TEXT_KEYS:
        if key in raw and not isinstance(raw[key], str):
            raise ClaimsError(f"{where}: {key} {raw[key]!r} is not a string")
    what = raw.get("what")
    if what not in KINDS:
        raise ClaimsError(f"{where}: what={what!r} is not one of {', '.join(KINDS)}")
    allowed = {*COMMON_KEYS, *KIND_KEYS[what]}
    every = {*COMMON_KEYS, *(k for keys in KIND_KEYS.values() for k in keys)}
    extra = sorted(set(raw) - allowed)
    if extra:
        key = extra[0]
        if key in every:
            kinds = [k for k, keys in KIND_KEYS.items() if key in keys]
            raise ClaimsError(
                f"{where}: '{key}' does not apply to what=\"{what}\" (only to {', '.join(kinds)})"
            )
        raise ClaimsError(f"{where}: unknown key '{key}' (known: {', '.join(sorted(every))})")
    if "date" not in raw:
        raise ClaimsError(f"{where}: 'date' is missing")
    date = _day(raw["date"], f"{where}: date")
    if "value" not in raw:
        raise ClaimsError(f"{where}: 'value' is missing")
    v = raw["value"]
    if isinstance(v, list):
        if len(v) != 2:
            raise ClaimsError(f"{where}: value: a range is [low, high]")
        lo, hi = (_number(x, f"{where}: value") for x in v)
        if lo > hi:
            raise ClaimsError(f"{where}: value: low {lo:g} is above high {hi:g}")
    else:
        lo = hi = _number(v, f"{where}: value")
    tol = raw.get("tolerance")
    tol_abs = raw.get("tolerance_abs")
    if tol is not None and tol_abs is not None:
        raise ClaimsError(f"{where}: give 'tolerance' (relative) or 'tolerance_abs', not both")
    for key, t, top in (
        ("tolerance", tol, MAX_TOLERANCE),
        ("tolerance_abs", tol_abs, MAX_TOLERANCE_ABS),
    ):
        if t is not None and not 0 <= _number(t, f"{where}: {key}") <= top:
            raise ClaimsError(f"{where}: {key}: {t} is outside 0 .. {top:g}")
    model = raw.get("model")
    if what == "deficit" and model is None:
        raise ClaimsError(f"{where}: a deficit claim needs 'model' (one of {', '.join(pc.MODELS)})")
    if model is not None and (model not in pc.MODELS or model == "external"):
        chain = [m for m in pc.MODELS if m != "external"]
        raise ClaimsError(f"{where}: model={model!r} is not one of {', '.join(chain)}")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise ClaimsError(f"{where}: params is not a table of cost assumptions")
    if params:
        from costbt.signals.params import ParamError, build

        try:
            assumptions = build(pc.CostAssumptions, dict(params))
        except ParamError as exc:
            raise ClaimsError(f"{where}: params: {exc}") from None
        if assumptions.include_fees:
            raise ClaimsError(
                f"{where}: params: include_fees needs fee data, which the bundled dataset does "
                "not have (claims are checked on the bundled data)"
            )
    column = raw.get("column")
    stat = raw.get("stat", "value")
    start = None
    if what == "column":
        if column not in known_columns:
            raise ClaimsError(
                f"{where}: column={column!r} is not a panel column (see costbt data status)"
            )
        if stat not in STATS:
            raise ClaimsError(f"{where}: stat={stat!r} is not one of {', '.join(STATS)}")
        if stat != "value":
            if "from" not in raw:
                raise ClaimsError(f"{where}: stat '{stat}' needs 'from' (the window's first day)")
            start = _day(raw["from"], f"{where}: from")
            if start > date:
                raise ClaimsError(f"{where}: from {start.date()} is after date {date.date()}")
    name = raw.get("name")
    if what == "signal" and name not in SIGNALS:
        raise ClaimsError(f"{where}: name={name!r} is not one of {', '.join(SIGNALS)}")
    as_of = _day(raw["as_of"], f"{where}: as_of") if "as_of" in raw else None
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise ClaimsError(f"{where}: text is not a string")
    return Claim(
        id=ident,
        what=what,
        date=date,
        value=(lo, hi),
        text=text,
        model=model,
        column=column,
        stat=stat,
        start=start,
        name=name,
        indicator=raw.get("indicator"),
        tolerance=None if tol is None else float(tol),
        tolerance_abs=None if tol_abs is None else float(tol_abs),
        as_of=as_of,
        params=dict(params),
    )


def read_claims(path: str | Path) -> ClaimsFile:
    """Parse and validate a claims file; `ClaimsError` names the file and the bad key."""
    from costbt.data.panel import column_catalogue

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClaimsError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ClaimsError(f"{path}: is a folder, not a claims file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClaimsError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClaimsError(f"{path}: not valid TOML ({exc})") from None
    items = raw.get("claims")
    if not isinstance(items, list) or not items:
        raise ClaimsError(f"{path}: no [[claims]] tables")
    columns = set(column_catalogue()["column"])
    try:
        claims = tuple(_claim(c, i, columns) for i, c in enumerate(items))
        published = _day(raw["published"], "published") if "published" in raw else None
    except ClaimsError as exc:
        raise ClaimsError(f"{path}: {exc}") from None
    ids = [c.id for c in claims]
    dup = next((x for x in ids if ids.count(x) > 1), None)
    if dup is not None:
        raise ClaimsError(f"{path}: claim id '{dup}' is used twice")
    return ClaimsFile(
        path=path,
        title=str(raw.get("title", path.stem)),
        source=str(raw.get("source", "")),
        published=published,
        claims=claims,
    )


@dataclass(frozen=True)
class ClaimCheck:
    """One claim checked: the project's value, the difference, the verdict and why."""

    claim: Claim
    as_of: pd.Timestamp | None
    project: float | None
    difference: float | None
    verdict: str
    note: str

    @property
    def relative(self) -> float | None:
        """The difference as a fraction of the stated value's nearer bound (None without one)."""
        if self.difference is None or self.project is None:
            return None
        lo, hi = self.claim.value
        near = lo if abs(self.project - lo) <= abs(self.project - hi) else hi
        return None if near == 0 else self.difference / abs(near)


def _fmt(v: float) -> str:
    if v != v:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:.4g}"


def _compare(c: Claim, project: float) -> tuple[float, str]:
    lo, hi = c.value
    diff = project - hi if project > hi else project - lo if project < lo else 0.0
    near = lo if abs(project - lo) <= abs(project - hi) else hi
    verdict = REPRODUCED if abs(diff) <= c.allowed(near) + 1e-12 else DIFFERS
    return diff, verdict


def _lag(column: str) -> int:
    from costbt.data.panel import column_catalogue

    cat = column_catalogue().set_index("column")
    return int(cat.loc[column, "lag_days"])


def _known_span(series: pd.Series) -> str:
    s = series.dropna()
    return "no values" if s.empty else f"{s.index[0].date()} .. {s.index[-1].date()}"


def _column_value(c: Claim, panel: pd.DataFrame, lag: int) -> tuple[float | None, str]:
    col = panel[c.column]
    shifted = pd.Timedelta(days=lag)
    row = c.date + shifted
    if row not in panel.index:
        return None, f"no row for {c.date.date()} in the data ({_known_span(col)})"
    if c.stat == "value":
        v = col.loc[row]
        if pd.isna(v):
            return None, f"{c.column} has no value about {c.date.date()} (known {_known_span(col)})"
        return float(v), ""
    window = col.loc[c.start + shifted : row]
    known = window.dropna()
    if known.empty:
        return None, f"{c.column} has no value in {c.start.date()}..{c.date.date()}"
    if c.stat == "drawdown":
        end = col.loc[row]
        if pd.isna(end):
            return None, f"{c.column} has no value about {c.date.date()}"
        top = known.idxmax() - shifted
        return float(1.0 - end / known.max()), f"from {_fmt(known.max())} on {top.date()}"
    note = f"{len(known)} of {len(window)} days known"
    if c.stat in ("min", "max"):
        at = (known.idxmin() if c.stat == "min" else known.idxmax()) - shifted
        note = f"{c.stat} on {at.date()}; {note}"
    return float(getattr(known, c.stat)()), note


def _cost_check(c: Claim, panel: pd.DataFrame) -> tuple[float | None, str]:
    from costbt.signals import production_cost as pc
    from costbt.signals.params import build

    if c.date not in panel.index:
        return None, f"{c.date.date()} is outside the data"
    a = build(pc.CostAssumptions, dict(c.params))
    chain = tuple(m for m in pc.MODELS if m != "external")
    costs = pc.cost_models(panel, a, chain).loc[c.date]
    known = costs.dropna()
    if known.empty:
        last = pc.cost_models(panel, a, ("difficulty_regression",)).iloc[:, 0].last_valid_index()
        end = "never" if last is None else str(last.date())
        return None, (
            f"no cost model is known on {c.date.date()}: the chain inputs end {end} (cost is "
            "not carried forward; costbt data chain extends them when online)"
        )
    if c.what == "cost":
        target = (c.value[0] + c.value[1]) / 2
        closest = (known - target).abs().idxmin()
        model = c.model or closest
        if model not in known.index:
            return None, f"{model} is unknown on {c.date.date()}"
        note = (
            f"closest model: {closest} {_fmt(known[closest])} ({known[closest] / target - 1:+.1%})"
        )
        return float(known[model]), note
    price = panel["close_usd"].get(c.date)
    if price is None or pd.isna(price) or c.model not in known.index:
        return None, f"no price or no {c.model} cost on {c.date.date()}"
    cost = float(known[c.model])
    return float(price / cost - 1.0), f"close {_fmt(price)}, {c.model} cost {_fmt(cost)}"


def _signal_check(c: Claim, panel: pd.DataFrame) -> tuple[float | None, str]:
    out = _signal_registry()[c.name](panel)
    ind = out.indicator if hasattr(out.indicator, "columns") else out.indicator.to_frame()
    column = c.indicator or ind.columns[0]
    if column not in ind.columns:
        return None, f"signal {c.name} has no indicator '{column}' (has {', '.join(ind.columns)})"
    if c.date not in ind.index:
        return None, f"{c.date.date()} is outside the data"
    v = ind[column].loc[c.date]
    if pd.isna(v):
        return None, f"{c.name}.{column} is unknown on {c.date.date()}"
    return float(v), f"as read on {c.date.date()}"


def check_claims(claims: ClaimsFile, bundle: str | Path | None = None) -> list[ClaimCheck]:
    """Check every claim of ``claims`` against the bundled data cut at its day (`VINTAGE_NOTE`)."""
    from costbt.data.panel import load_panel

    panels: dict[pd.Timestamp, pd.DataFrame] = {}

    def panel_as_of(day: pd.Timestamp) -> pd.DataFrame:
        if day not in panels:
            panels[day] = load_panel(bundle, as_of=day)
        return panels[day]

    results = []
    for c in claims.claims:
        lag = _lag(c.column) if c.what == "column" else 0
        known_on = c.date + pd.Timedelta(days=lag)
        as_of = c.as_of or claims.published or known_on
        if known_on > as_of:
            results.append(
                ClaimCheck(
                    c,
                    as_of,
                    None,
                    None,
                    UNCHECKABLE,
                    f"the value about {c.date.date()} was published on {known_on.date()} at the "
                    f"earliest (lag {lag} d), after {as_of.date()}",
                )
            )
            continue
        panel = panel_as_of(as_of)
        if c.what == "column":
            project, note = _column_value(c, panel, lag)
        elif c.what == "signal":
            project, note = _signal_check(c, panel)
        else:
            project, note = _cost_check(c, panel)
        if project is None:
            results.append(ClaimCheck(c, as_of, None, None, UNCHECKABLE, note))
            continue
        diff, verdict = _compare(c, project)
        results.append(ClaimCheck(c, as_of, project, diff, verdict, note))
    return results


def summary(checks: list[ClaimCheck]) -> str:
    """``"3 reproduced, 2 differ, 1 cannot be checked"``."""
    n = {v: sum(1 for c in checks if c.verdict == v) for v in (REPRODUCED, DIFFERS, UNCHECKABLE)}
    return f"{n[REPRODUCED]} reproduced, {n[DIFFERS]} differ, {n[UNCHECKABLE]} cannot be checked"


def display(checks: list[ClaimCheck]) -> pd.DataFrame:
    """The checks as text: id, day, subject, stated, project, difference, verdict, note."""
    rows = []
    for r in checks:
        c = r.claim
        rel = r.relative
        diff = "-" if r.difference is None else _fmt(r.difference)
        if rel is not None and r.difference:
            diff += f" ({rel:+.1%})"
        rows.append(
            {
                "claim": c.id,
                "day": str(c.date.date()),
                "about": c.subject,
                "stated": c.stated,
                "project": "-" if r.project is None else _fmt(r.project),
                "difference": diff,
                "verdict": r.verdict,
                "note": r.note,
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "DIFFERS",
    "KINDS",
    "REPRODUCED",
    "SIGNALS",
    "STATS",
    "UNCHECKABLE",
    "VINTAGE_NOTE",
    "Claim",
    "ClaimCheck",
    "ClaimsError",
    "ClaimsFile",
    "check_claims",
    "display",
    "read_claims",
    "summary",
]
