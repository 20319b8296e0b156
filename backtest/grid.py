"""Grid syntax for sweeps: ``NAME=a:b:step`` (inclusive range), ``NAME=a,b,c`` (list),
``NAME=log:a:b:n`` (n points spaced evenly on a log scale from a to b).

Values are checked against the parameter's declared range and type (`signals.params.Param`), so
an empty range, a step <= 0, an unknown name or an out-of-range value is a `GridError` naming it,
before any work starts. The number of values on an axis is counted arithmetically before any
value is built (``floor((b - a) / step) + 1``, or ``n``), and more than `MAX_AXIS_VALUES` on one
axis is refused: a mistyped step must not allocate gigabytes before the combination limit runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from costbt.signals.params import Param, ParamError


class GridError(ValueError):
    """A bad ``--grid`` value."""


#: The most values one axis may hold (a million-combination sweep needs 1,000 x 1,000).
MAX_AXIS_VALUES = 1_000_000


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple


def _numbers(spec: str, text: str) -> list[float]:
    try:
        numbers = [float(x) for x in text.split(":")]
    except ValueError:
        raise GridError(f"--grid {spec}: '{text}' is not numbers separated by ':'") from None
    if not all(math.isfinite(x) for x in numbers):
        raise GridError(f"--grid {spec}: every number must be finite (no nan or inf)")
    return numbers


def _count(spec: str, n: float) -> int:
    """``n`` values on one axis, refused above `MAX_AXIS_VALUES` (nothing is built yet)."""
    if n > MAX_AXIS_VALUES:
        raise GridError(
            f"--grid {spec}: {n:,.0f} values on one axis, more than {MAX_AXIS_VALUES:,}: "
            "use a larger step or fewer points"
        )
    return int(n)


def parse_axis(spec: str, params: dict[str, Param]) -> Axis:
    """One ``--grid`` value -> the parameter's values (validated and converted)."""
    name, sep, body = spec.partition("=")
    name, body = name.strip(), body.strip()
    if not sep or not name or not body:
        raise GridError(f"--grid {spec}: expected NAME=a:b:step, NAME=a,b,c or NAME=log:a:b:n")
    if name not in params:
        raise GridError(f"--grid {spec}: unknown parameter '{name}' (known: {', '.join(params)})")
    p = params[name]
    if body.startswith("log:"):
        parts = _numbers(spec, body[4:])
        if len(parts) != 3 or not float(parts[2]).is_integer() or parts[2] < 1:
            raise GridError(f"--grid {spec}: log ranges are log:a:b:n with n >= 1 points")
        a, b, n = parts[0], parts[1], _count(spec, parts[2])
        if a <= 0 or b <= 0:
            raise GridError(f"--grid {spec}: a log range needs a > 0 and b > 0")
        if b < a:
            raise GridError(f"--grid {spec}: empty range ({b} < {a})")
        raw = list(np.geomspace(a, b, n))
    elif ":" in body:
        parts = _numbers(spec, body)
        if len(parts) != 3:
            raise GridError(f"--grid {spec}: a range is a:b:step")
        a, b, step = parts
        if step <= 0 or not math.isfinite(step):
            raise GridError(f"--grid {spec}: step must be > 0 (got {step})")
        if b < a:
            raise GridError(f"--grid {spec}: empty range ({b} < {a})")
        n = _count(spec, math.floor((b - a) / step + 1e-9) + 1)
        raw = [round(a + i * step, 12) for i in range(n)]
    else:
        raw = [x.strip() for x in body.split(",") if x.strip()]
        if not raw:
            raise GridError(f"--grid {spec}: empty list")
    values = []
    for v in raw:
        try:
            values.append(p.validate(v))
        except ParamError as exc:
            raise GridError(f"--grid {spec}: {exc}") from None
    unique = tuple(dict.fromkeys(values))
    return Axis(name, unique)


def grid_size(axes: list[Axis]) -> int:
    return int(np.prod([len(a.values) for a in axes], dtype=np.float64)) if axes else 1
