"""Confluence: any subset of signals combined into one entry rule and one exit rule.

Entry. Each member's entry counts as *fired* on day d if it was True on any of the last
``window_days`` days (d included; `signals.conditions.fired_within`): True if any of those days is
True, False if all are known False, unknown (<NA>) otherwise. With T members fired, F known not
fired and U unknown (n = T + F + U), the rule needs ``required`` fired members:

* ``mode="all"``: required = n; ``"any"``: 1; ``"k_of_n"``: k (1 <= k <= n).

How unknown members count (``unknown``):

* ``"false"``: an unknown member has not fired: True iff T >= required (else False).
* ``"true"``: an unknown member has fired: True iff T + U >= required.
* ``"skip"``: unknown members leave the vote for that day: n becomes the T + F known members, so
  ``all`` means all *known* members fired (required = T + F), ``any`` one known member, and
  ``k_of_n`` still needs k fired among the known ones (fewer than k known: False, because the
  requirement of k known confirmations cannot be met).
* ``"propagate"``: three-valued (Kleene) logic: True if T >= required, False if even counting every
  unknown as fired could not reach it (T + U < required), unknown otherwise.

Edge case for every policy: a day on which *no* member is known (U = n) is unknown, so a
confluence never fires, nor is it declared False, on days none of its inputs covers (for example
before the ETFs existed, for a confluence of ETF and SOPR signals).

Exit. The members' exits of the day (no window) combine with ``exit_mode`` ``"any"`` (required = 1)
or ``"all"`` (required = n), under the same unknown policy. ``"true"`` therefore exits on days a
member's data is missing ("exit when in doubt"); ``"false"`` ignores them.

Indicator: one boolean column ``<member>_fired`` per member (the windowed entry), and ``n_fired``
and ``n_known`` (counts of fired and known members). Pure and trailing-only, so the point-in-time
contract holds whenever the members' does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.signals.conditions import fired_within
from costbt.signals.output import SignalOutput
from costbt.signals.params import ParamError, Validated, param

MODES: tuple[str, ...] = ("all", "any", "k_of_n")
UNKNOWN_POLICIES: tuple[str, ...] = ("false", "true", "skip", "propagate")
EXIT_MODES: tuple[str, ...] = ("any", "all")


@dataclass(frozen=True)
class ConfluenceParams(Validated):
    """How member signals combine (see the module docstring)."""

    mode: str = param("all", choices=MODES, help="entry needs all, any, or k of the members")
    k: int = param(2, low=1, high=10, unit="signals", help="members needed in k_of_n mode")
    window_days: int = param(
        1, low=1, high=60, unit="days", help="a member's entry counts for this many days"
    )
    unknown: str = param("false", choices=UNKNOWN_POLICIES, help="how an unknown member counts")
    exit_mode: str = param("any", choices=EXIT_MODES, help="exit on any or all members' exits")


def _vote(
    states: pd.DataFrame, required: int | None, policy: str, *, skip_all: bool = False
) -> pd.Series:
    """Combine boolean member columns (True/False/<NA>) into one boolean rule."""
    t = states.eq(True).fillna(False).sum(axis=1).to_numpy()
    u = states.isna().sum(axis=1).to_numpy()
    n = states.shape[1]
    f = n - t - u
    req = np.full(len(states), required if required is not None else n)
    if policy == "skip" and skip_all:
        req = t + f
    if policy == "false":
        res = t >= req
        known = np.ones(len(states), dtype=bool)
    elif policy == "true":
        res = (t + u) >= req
        known = np.ones(len(states), dtype=bool)
    elif policy == "skip":
        res = t >= req
        known = np.ones(len(states), dtype=bool)
    elif policy == "propagate":
        res = t >= req
        known = res | ((t + u) < req)
    else:
        raise ParamError(f"unknown={policy!r} is not one of {', '.join(UNKNOWN_POLICIES)}")
    known &= u < n
    out = pd.Series(res, index=states.index).astype("boolean")
    out[~known] = pd.NA
    return out


def _member_names(outputs: Sequence[SignalOutput]) -> list[str]:
    names: list[str] = []
    for i, o in enumerate(outputs):
        name = o.name if o.name not in names else f"{o.name}_{i}"
        names.append(name)
    return names


def combine(
    outputs: Sequence[SignalOutput],
    mode: str = "all",
    k: int | None = None,
    window_days: int = 1,
    unknown: str = "false",
    exit_mode: str = "any",
    *,
    name: str | None = None,
) -> SignalOutput:
    """One entry and one exit rule from several signals (rules in the module docstring).

    Args:
        outputs: the member signals (at least one); their days are aligned on the union of
            their indexes (a member missing a day is unknown there).
        mode: ``all``, ``any`` or ``k_of_n``.
        k: members needed with ``k_of_n`` (1..n); ignored otherwise.
        window_days: a member's entry counts as fired for this many days (>= 1, today included).
        unknown: ``false``, ``true``, ``skip`` or ``propagate``.
        exit_mode: ``any`` or ``all`` of the members' exits.
        name: the result's name (default ``confluence_<mode>(<member>+<member>...)``).

    Raises:
        ParamError: no members, an unknown mode or policy, a missing or out-of-range k, or a
            window below one day.
    """
    if not outputs:
        raise ParamError("confluence needs at least one signal")
    if mode not in MODES:
        raise ParamError(f"mode={mode!r} is not one of {', '.join(MODES)}")
    if exit_mode not in EXIT_MODES:
        raise ParamError(f"exit_mode={exit_mode!r} is not one of {', '.join(EXIT_MODES)}")
    if unknown not in UNKNOWN_POLICIES:
        raise ParamError(f"unknown={unknown!r} is not one of {', '.join(UNKNOWN_POLICIES)}")
    if int(window_days) < 1:
        raise ParamError(f"window_days={window_days} is below its minimum 1")
    n = len(outputs)
    if mode == "k_of_n":
        if k is None:
            raise ParamError("mode='k_of_n' needs k")
        if not 1 <= int(k) <= n:
            raise ParamError(f"k={k} is outside 1..{n} (the number of signals)")
        required: int | None = int(k)
    else:
        required = 1 if mode == "any" else None

    index = outputs[0].entry.index
    for o in outputs[1:]:
        index = index.union(o.entry.index)
    names = _member_names(outputs)
    fired = pd.DataFrame(
        {
            f"{nm}_fired": fired_within(o.entry.reindex(index).astype("boolean"), int(window_days))
            for nm, o in zip(names, outputs, strict=True)
        },
        index=index,
    )
    exits = pd.DataFrame(
        {nm: o.exit.reindex(index).astype("boolean") for nm, o in zip(names, outputs, strict=True)},
        index=index,
    )
    entry = _vote(fired, required, unknown, skip_all=(mode == "all"))
    exit_rule = _vote(
        exits, 1 if exit_mode == "any" else None, unknown, skip_all=exit_mode == "all"
    )

    indicator = fired.copy()
    indicator["n_fired"] = fired.eq(True).fillna(False).sum(axis=1).astype("int64")
    indicator["n_known"] = fired.notna().sum(axis=1).astype("int64")
    label = mode if mode != "k_of_n" else f"{required}_of_{n}"
    return SignalOutput(
        name=name or f"confluence_{label}({'+'.join(names)})",
        indicator=indicator,
        entry=entry,
        exit=exit_rule,
    )


def confluence(
    outputs: Sequence[SignalOutput], params: ConfluenceParams = ConfluenceParams()
) -> SignalOutput:
    """`combine` with a `ConfluenceParams` (``k`` is used only in ``k_of_n`` mode)."""
    return combine(
        outputs,
        mode=params.mode,
        k=params.k if params.mode == "k_of_n" else None,
        window_days=params.window_days,
        unknown=params.unknown,
        exit_mode=params.exit_mode,
    )
