"""Typed signal parameters with their defaults and search ranges declared in one place.

A signal's parameters are a frozen dataclass whose fields carry their search range in the field
metadata, so the default and the range sit side by side and sweeps (issue 6) and Optuna (issue 7)
read the same space:

    @dataclass(frozen=True)
    class CostRuleParams:
        entry_ratio: float = param(1.0, low=0.5, high=1.5, step=0.01, help="enter below price/cost")
        confirm_days: int = param(1, low=1, high=30, help="consecutive days below")

`space(CostRuleParams)` lists the `Param`s; `build(CostRuleParams, {"entry_ratio": "0.9"})`
validates and converts overrides, raising `ParamError` naming the parameter and the value.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any


class ParamError(ValueError):
    """An unknown parameter or a value of the wrong type or out of its range."""


@dataclass(frozen=True)
class Param:
    """One parameter: name, type, default and search range.

    Attributes:
        name: field name.
        kind: ``float``, ``int``, ``bool`` or ``choice``.
        default: value when not overridden.
        low, high: inclusive bounds of the valid and searched range (numbers).
        step: grid step for sweeps (None: continuous for floats, 1 for ints).
        log: search on a log scale.
        choices: allowed values for ``choice``.
        search: the choices a search (tune, walk-forward) draws; empty: all of ``choices``.
            A choice left out can still be set with ``--param`` or swept as a scenario.
        unit: unit of the value (``ratio``, ``days``, ``USD per kWh`` ...).
        help: one line on what it does.
    """

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple = ()
    search: tuple = ()
    unit: str = ""
    help: str = ""

    @property
    def search_choices(self) -> tuple:
        """The values a search draws for a ``choice`` parameter (see ``search``)."""
        return self.search or self.choices

    def validate(self, value: Any) -> Any:
        """Convert ``value`` (possibly a string from the CLI or a config file) and check it."""
        try:
            if self.kind == "bool":
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = low in ("true", "1", "yes")
                else:
                    value = bool(value)
            elif self.kind == "int":
                as_float = float(value)
                if not as_float.is_integer():
                    raise ValueError
                value = int(as_float)
            elif self.kind == "float":
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            elif self.kind == "choice":
                matches = [c for c in self.choices if str(c) == str(value)]
                if not matches:
                    raise ParamError(
                        f"{self.name}={value!r} is not one of {', '.join(map(str, self.choices))}"
                    )
                value = matches[0]
        except ParamError:
            raise
        except (TypeError, ValueError):
            raise ParamError(f"{self.name}={value!r} is not a valid {self.kind}") from None
        if self.kind in ("int", "float"):
            if self.low is not None and value < self.low:
                raise ParamError(f"{self.name}={value} is below its minimum {self.low}")
            if self.high is not None and value > self.high:
                raise ParamError(f"{self.name}={value} is above its maximum {self.high}")
        return value


def param(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    step: float | None = None,
    log: bool = False,
    choices: tuple = (),
    search: tuple = (),
    unit: str = "",
    help: str = "",  # noqa: A002 - the natural name for a parameter's description
) -> Any:
    """A dataclass field carrying a parameter's default and search range."""
    meta = {
        "low": low,
        "high": high,
        "step": step,
        "log": log,
        "choices": tuple(choices),
        "search": tuple(search),
        "unit": unit,
        "help": help,
    }
    return field(default=default, metadata={"costbt_param": meta})


def _kind(f: dataclasses.Field) -> str:
    meta = f.metadata.get("costbt_param", {})
    if meta.get("choices"):
        return "choice"
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    t = t.replace(" ", "")
    if t.startswith("bool"):
        return "bool"
    if t.startswith("int"):
        return "int"
    if t.startswith("float"):
        return "float"
    return "choice" if meta.get("choices") else "float"


def space(cls: type) -> tuple[Param, ...]:
    """The `Param`s declared by a parameter dataclass, in field order."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("costbt_param")
        if meta is None:
            continue
        out.append(Param(f.name, _kind(f), f.default, **meta))
    return tuple(out)


@functools.cache
def _declared(cls: type) -> tuple[Param, ...]:
    return space(cls)


def validate_fields(obj: Any) -> None:
    """Check every declared parameter of the dataclass instance ``obj`` (type, range, choices),
    storing converted values (``"0.9"`` -> 0.9, ``2.0`` -> 2) on the frozen instance.

    Raises `ParamError` naming the first bad parameter and its value.
    """
    for p in _declared(type(obj)):
        value = getattr(obj, p.name)
        checked = p.validate(value)
        if checked is not value and (type(checked) is not type(value) or checked != value):
            object.__setattr__(obj, p.name, checked)


class Validated:
    """Base of the parameter dataclasses: every instance is validated on construction
    (`validate_fields`), so ``BelowCostParams(power_price=5.0)`` raises instead of running.

    A subclass with its own ``__post_init__`` calls ``super().__post_init__()`` first.
    """

    def __post_init__(self) -> None:
        validate_fields(self)


def build(cls: type, overrides: dict[str, Any] | None = None, *, prefix: str = "") -> Any:
    """An instance of ``cls`` with validated ``overrides``; unknown names raise `ParamError`."""
    params = {p.name: p for p in space(cls)}
    values = {}
    for name, value in (overrides or {}).items():
        if name not in params:
            known = ", ".join(params) or "none"
            raise ParamError(f"unknown parameter '{prefix}{name}' (known: {known})")
        values[name] = params[name].validate(value)
    return cls(**values)
