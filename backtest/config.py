"""Run configuration for every command: a TOML file plus ``--param NAME=VALUE`` overrides.

One merge (`merge`) serves backtest, sweep, tune, walk-forward, attribution and lookahead: the
file's ``[params]`` and ``[engine]`` tables, then the ``--param`` overrides, as one flat dict of
fixed values; `resolve` validates it into the strategy's and the engine's dataclasses.

TOML layout (every key optional)::

    strategy = "below_cost"
    title = "Below cost, 6 c/kWh"
    start = "2018-01-01"
    end = "2026-02-12"

    [params]          # the strategy's parameters (see `costbt backtest --list-params`)
    entry_ratio = 0.95
    power_price = 0.06

    [engine]          # fills and costs (`backtest.engine.EngineConfig`)
    fees_bps = 10
    fill = "next_open"

Command-line ``--param`` values override the file; a name is looked up in the strategy's
parameters first, then in the engine's. Unknown names and out-of-range values raise `ParamError`
naming them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from costbt.signals.params import ParamError, build, space


@dataclass(frozen=True)
class RunConfig:
    strategy: str
    params: object
    engine: object
    title: str | None = None
    start: str | None = None
    end: str | None = None
    source: dict = field(default_factory=dict)


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def read_toml(path: Path) -> dict:
    """Parse a TOML config; a `ParamError` names the file, the key and the problem.

    ``strategy`` and ``title`` are strings; ``start`` and ``end`` strings or TOML dates (kept as
    ``YYYY-MM-DD`` text); ``[params]`` and ``[engine]`` tables of single values (a string, a
    number or a boolean; a list or a table there is refused).
    """
    import datetime as dt

    path = Path(path)
    if path.is_dir():
        raise ParamError(f"{path}: is a folder, not a TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParamError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ParamError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    known = {"strategy", "title", "start", "end", "params", "engine"}
    extra = sorted(set(data) - known)
    if extra:
        raise ParamError(f"{path}: unknown key '{extra[0]}' (known: {', '.join(sorted(known))})")
    for key in ("strategy", "title"):
        if key in data and not isinstance(data[key], str):
            raise ParamError(f"{path}: {key} = {data[key]!r} is not a string")
    for key in ("start", "end"):
        if key in data:
            value = data[key]
            if isinstance(value, dt.date):  # a TOML date or date-time
                data[key] = value.isoformat()
            elif not isinstance(value, str):
                raise ParamError(f'{path}: {key} = {value!r} is not a date ("YYYY-MM-DD")')
    for table in ("params", "engine"):
        if table in data and not isinstance(data[table], dict):
            raise ParamError(f"{path}: '{table}' must be a table ([{table}])")
        for name, value in data.get(table, {}).items():
            if not _scalar(value):
                raise ParamError(
                    f"{path}: [{table}] {name} = {value!r} is not a single value (a string, a "
                    "number or true/false)"
                )
    return data


def merge(file_cfg: dict, overrides: dict[str, Any]) -> dict[str, Any]:
    """The run's fixed values: the file's ``[params]`` and ``[engine]``, then ``overrides``
    (``--param``; an ``engine.`` prefix is dropped). Names are checked by the caller's space."""
    out: dict[str, Any] = {**file_cfg.get("params", {}), **file_cfg.get("engine", {})}
    out.update({k.removeprefix("engine."): v for k, v in overrides.items()})
    return out


def resolve(
    strategy: str | None,
    file_cfg: dict,
    overrides: dict[str, str],
    strategies: dict,
    engine_cls: type,
) -> RunConfig:
    """Merge the file and the overrides, validate against the strategy's and engine's spaces."""
    name = strategy or file_cfg.get("strategy")
    if name is None:
        raise ParamError("no strategy given (--strategy or 'strategy' in the config)")
    if name not in strategies:
        raise ParamError(f"unknown strategy '{name}' (known: {', '.join(strategies)})")
    params_cls = strategies[name].params
    p_names = {p.name for p in space(params_cls)}
    e_names = {p.name for p in space(engine_cls)}
    params: dict[str, Any] = {}
    engine: dict[str, Any] = {}
    for key, value in merge(file_cfg, overrides).items():
        if key in p_names:
            params[key] = value
        elif key in e_names:
            engine[key] = value
        else:
            known = ", ".join(sorted(p_names | e_names))
            raise ParamError(f"unknown parameter '{key}' for strategy {name} (known: {known})")
    return RunConfig(
        strategy=name,
        params=build(params_cls, params),
        engine=build(engine_cls, engine, prefix="engine."),
        title=file_cfg.get("title"),
        start=file_cfg.get("start"),
        end=file_cfg.get("end"),
        source={"file": file_cfg, "overrides": overrides},
    )
