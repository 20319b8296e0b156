"""Where a strategy comes from: the built-ins, a user's file or module, or an installed plugin.

``--strategy`` (and `costbt.strategies.STRATEGIES[...]`) accepts:

* a built-in name: ``below_cost``, ``accumulation``, ``confluence`` (and the benchmarks);
* ``path/to/file.py:NAME``: the `Strategy` object ``NAME`` in a Python file of the user's own;
* ``package.module:NAME``: the same from an importable module;
* the name of an installed plugin: an entry point in the group ``costbt.strategies`` whose object
  is a `Strategy` (``[project.entry-points."costbt.strategies"] my_rule = "pkg.mod:STRATEGY"``).

A user strategy follows the built-ins' contract (`costbt.strategies.base`): a frozen parameter
dataclass (fields declared with `costbt.signals.params.param`, usually extending `ExitParams`)
and ``plan(panel, params) -> Plan`` computed from panel columns. It is loaded on first use in
whichever process asks, and kept under the spec it was asked by. examples/strategies/ has one.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

from costbt.signals.params import ParamError
from costbt.strategies.base import Strategy

ENTRY_POINT_GROUP = "costbt.strategies"


class StrategyError(ParamError):
    """A strategy that cannot be found or loaded (names the spec and why)."""


def _from_file(path_text: str, attr: str, spec: str) -> object:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise StrategyError(f"'{spec}': no such file {path}")
    name = "costbt_user_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    module = sys.modules.get(name)
    if module is None:
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise StrategyError(f"'{spec}': {path} is not a Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's code: report, never a traceback
            del sys.modules[name]
            raise StrategyError(
                f"'{spec}': importing {path} failed: {type(exc).__name__}: {exc}"
            ) from None
    if not hasattr(module, attr):
        raise StrategyError(f"'{spec}': {path} has no name '{attr}'")
    return getattr(module, attr)


def _from_module(module_name: str, attr: str, spec: str) -> object:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - the user's code: report, never a traceback
        raise StrategyError(
            f"'{spec}': cannot import {module_name}: {type(exc).__name__}: {exc}"
        ) from None
    if not hasattr(module, attr):
        raise StrategyError(f"'{spec}': module {module_name} has no name '{attr}'")
    return getattr(module, attr)


def plugin_names() -> list[str]:
    """Names of the installed plugins (entry points of `ENTRY_POINT_GROUP`)."""
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def _from_plugin(name: str) -> object | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin: report it
                raise StrategyError(
                    f"'{name}': the plugin {ep.value} failed to load: {type(exc).__name__}: {exc}"
                ) from None
    return None


def is_spec(name: str) -> bool:
    """Whether ``name`` points at user code (``file.py:NAME`` or ``module:NAME``)."""
    return ":" in name


def load(spec: str) -> Strategy:
    """The `Strategy` a spec names (see the module docstring); `StrategyError` otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise StrategyError(f"{spec!r} is not a strategy name")
    if is_spec(spec):
        target, _, attr = spec.rpartition(":")
        if not target or not attr.isidentifier():
            raise StrategyError(f"'{spec}': expected FILE.py:NAME or package.module:NAME")
        looks_like_file = target.endswith(".py") or "/" in target or "\\" in target
        obj = (_from_file if looks_like_file else _from_module)(target, attr, spec)
    else:
        obj = _from_plugin(spec)
        if obj is None:
            raise StrategyError(f"unknown strategy '{spec}'")
    if not isinstance(obj, Strategy):
        raise StrategyError(
            f"'{spec}' is a {type(obj).__name__}, not a costbt Strategy "
            "(costbt.strategies.Strategy(name, params, plan))"
        )
    return obj


class StrategyRegistry(dict):
    """The built-in strategies by name; any other key is loaded on first use (`load`)."""

    def __missing__(self, key: str) -> Strategy:
        strategy = load(key)
        self[key] = strategy
        return strategy

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        if not isinstance(key, str):
            return False
        try:
            self[key]
        except StrategyError:
            return False
        return True

    def resolve(self, key: str) -> Strategy:
        """``self[key]``, with `StrategyError` naming the built-ins when nothing matches."""
        try:
            return self[key]
        except StrategyError as exc:
            if is_spec(key) or "unknown strategy" not in str(exc):
                raise
            known = ", ".join([*dict.keys(self), *plugin_names()])
            raise StrategyError(
                f"unknown strategy '{key}' (known: {known}; or FILE.py:NAME, package.module:NAME)"
            ) from None


__all__ = [
    "ENTRY_POINT_GROUP",
    "StrategyError",
    "StrategyRegistry",
    "is_spec",
    "load",
    "plugin_names",
]
