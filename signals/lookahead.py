"""Look-ahead check: a signal's outputs up to T must not change when its input ends at T.

`check_point_in_time(fn, frame, cutoffs)` runs ``fn`` on the whole input and on the input
truncated at each cutoff T (rows <= T) and returns the cutoffs at which any output at or before
T differs. An empty list is the point-in-time contract holding: no future data, no centred window,
no full-sample fit. Every signal's tests call it with hypothesis-drawn cutoffs; later a CLI
command can run it on a user's own signal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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
