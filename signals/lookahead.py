"""Look-ahead check: a signal's outputs up to T must not change when its input ends at T.

`check_point_in_time(fn, frame, cutoffs)` runs ``fn`` on the whole input and on the input
truncated at each cutoff T (rows <= T) and returns the cutoffs at which any output at or before
T differs. An empty list is the point-in-time contract holding: no future data, no centred window,
no full-sample fit. Every signal's tests call it with hypothesis-drawn cutoffs.

`find_leaks` adds a second proof (the input's future perturbed, its past kept) and names what
leaks: the first date, the output column and the input columns whose future moves it.
``costbt lookahead --strategy X`` runs it on any strategy, a user's included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd


def _as_frame(x: pd.Series | pd.DataFrame) -> pd.DataFrame:
    if isinstance(x, pd.Series):
        return x.to_frame(name=x.name if x.name is not None else "value")
    return x


def _outputs(result: object) -> dict[str, pd.DataFrame]:
    """Normalise a signal's result (Series, DataFrame, or an object / dict of them) to frames."""
    if isinstance(result, pd.Series | pd.DataFrame):
        return {"result": _as_frame(result)}
    if isinstance(result, dict):
        items = result.items()
    elif hasattr(result, "__dataclass_fields__"):
        items = ((k, getattr(result, k)) for k in result.__dataclass_fields__)
    else:
        raise TypeError(f"cannot compare outputs of type {type(result).__name__}")
    return {k: _as_frame(v) for k, v in items if isinstance(v, pd.Series | pd.DataFrame)}


def _same(a: pd.DataFrame, b: pd.DataFrame, rtol: float) -> bool:
    if not a.index.equals(b.index) or list(a.columns) != list(b.columns):
        return False
    for col in a.columns:
        x, y = a[col], b[col]
        xn, yn = x.isna().to_numpy(), y.isna().to_numpy()
        if not (xn == yn).all():
            return False
        xv, yv = x[~xn].to_numpy(), y[~yn].to_numpy()
        if xv.dtype.kind in "fc" or yv.dtype.kind in "fc":
            if not np.allclose(xv.astype(float), yv.astype(float), rtol=rtol, atol=0.0):
                return False
        elif not (xv == yv).all():
            return False
    return True


def check_point_in_time(
    fn: Callable[[pd.DataFrame], object],
    frame: pd.DataFrame,
    cutoffs: Iterable[pd.Timestamp | str],
    *,
    rtol: float = 1e-9,
) -> list[pd.Timestamp]:
    """Cutoffs T at which ``fn(frame.loc[:T])`` disagrees with ``fn(frame)`` on rows <= T."""
    full = _outputs(fn(frame))
    bad = []
    for t in cutoffs:
        t = pd.Timestamp(t)
        cut = _outputs(fn(frame.loc[:t]))
        if set(cut) != set(full):
            bad.append(t)
            continue
        if any(not _same(full[k].loc[:t], cut[k].loc[:t], rtol) for k in full):
            bad.append(t)
    return bad


# --------------------------------------------------------------------------- naming the leak


@dataclass(frozen=True)
class Leak:
    """Where a function's output at or before a cutoff T depends on the input after T.

    Attributes:
        cutoff: T.
        how: ``truncated`` (the input ended at T) or ``perturbed`` (the input's rows after T were
            changed, everything up to T kept).
        output: which output (e.g. ``entries``) and ``column`` of it changed first.
        first_date: the first date <= T whose value changed.
        inputs: the input columns whose values after T change it (empty when not attributed).
    """

    cutoff: pd.Timestamp
    how: str
    output: str
    column: str
    first_date: pd.Timestamp
    inputs: tuple[str, ...] = ()


def first_difference(
    full: dict[str, pd.DataFrame], other: dict[str, pd.DataFrame], t: pd.Timestamp, rtol: float
) -> tuple[str, str, pd.Timestamp] | None:
    """(output, column, first date) of the earliest difference on rows <= ``t``, else None."""
    found: tuple[str, str, pd.Timestamp] | None = None
    for name, a_full in full.items():
        a = a_full.loc[:t]
        b = other.get(name)
        if b is None:
            return name, "(missing)", a.index[0] if len(a) else t
        b = b.loc[:t].reindex(index=a.index, columns=a.columns)
        for col in a.columns:
            x, y = a[col], b[col]
            xn, yn = x.isna().to_numpy(), y.isna().to_numpy()
            differ = xn != yn
            both = ~xn & ~yn
            xv, yv = x.to_numpy()[both], y.to_numpy()[both]
            if xv.dtype.kind in "fciub" and yv.dtype.kind in "fciub":
                close = np.isclose(xv.astype(float), yv.astype(float), rtol=rtol, atol=0.0)
            else:
                close = xv == yv
            differ[np.flatnonzero(both)[~close]] = True
            if differ.any():
                day = a.index[int(np.argmax(differ))]
                if found is None or day < found[2]:
                    found = (name, str(col), day)
    return found


def perturb_after(
    frame: pd.DataFrame,
    t: pd.Timestamp,
    columns: Iterable[str] | None,
    seed: int,
    *,
    blank: bool = False,
) -> pd.DataFrame:
    """``frame`` with the numeric values of ``columns`` (all when None) on rows after ``t``
    multiplied by random factors in [0.5, 1.5] (seeded), or made missing with ``blank`` (what
    truncation does to them); rows up to ``t`` are untouched."""
    out = frame.copy()
    rng = np.random.default_rng(seed)
    after = out.index > t
    cols = [c for c in (columns if columns is not None else out.columns) if c in out.columns]
    for c in cols:
        if out[c].dtype.kind in "fi" and after.any():
            factor = rng.uniform(0.5, 1.5, int(after.sum()))
            values = out[c].to_numpy(dtype=float).copy()
            values[after] = np.nan if blank else values[after] * factor
            out[c] = values
    return out


def find_leaks(
    fn: Callable[[pd.DataFrame], object],
    frame: pd.DataFrame,
    cutoffs: Iterable[pd.Timestamp | str],
    *,
    seed: int = 0,
    rtol: float = 1e-9,
    groups: dict[str, list[str]] | None = None,
) -> list[Leak]:
    """Every cutoff at which ``fn`` looks ahead, with the first date, output column and (for
    the first leak found) the input columns responsible.

    Two proofs per cutoff T, each a comparison of outputs on rows <= T against ``fn(frame)``:
    the input truncated at T (`check_point_in_time`), and the input with every numeric value
    after T perturbed (`perturb_after`). A point-in-time function passes both exactly; any
    dependence on a later row fails one of them. ``groups`` (name -> columns, e.g. the panel's
    sources) narrows the first leak to the groups, then the columns, whose future moves it.
    """
    full = _outputs(fn(frame))
    leaks: list[Leak] = []
    for i, t in enumerate(sorted(pd.Timestamp(c) for c in cutoffs)):
        hit = first_difference(full, _outputs(fn(frame.loc[:t])), t, rtol)
        how = "truncated"
        if hit is None:
            hit = first_difference(
                full, _outputs(fn(perturb_after(frame, t, None, seed + i))), t, rtol
            )
            how = "perturbed"
        if hit is None:
            continue
        inputs: tuple[str, ...] = ()
        if not leaks:
            inputs = _responsible(fn, frame, full, t, seed + i, rtol, groups)
        leaks.append(Leak(t, how, hit[0], hit[1], hit[2], inputs))
    return leaks


def _responsible(fn, frame, full, t, seed, rtol, groups) -> tuple[str, ...]:
    """The columns whose values after ``t`` change the outputs at or before it."""

    def moves(columns: list[str]) -> bool:
        for blank in (False, True):  # perturbed, then missing as truncation makes it
            out = _outputs(fn(perturb_after(frame, t, columns, seed, blank=blank)))
            if first_difference(full, out, t, rtol) is not None:
                return True
        return False

    numeric = [c for c in frame.columns if frame[c].dtype.kind in "fi"]
    if groups is None:
        groups = {c: [c] for c in numeric}
    suspects: list[str] = []
    for cols in groups.values():
        cols = [c for c in cols if c in numeric]
        if cols and moves(cols):
            suspects += cols if len(cols) == 1 else [c for c in cols if moves([c])]
    return tuple(suspects)
