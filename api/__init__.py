"""costbt: backtest cost-based Bitcoin strategies on point-in-time data.

The packages are ``costbt.data`` (the bundled dataset and the point-in-time panel),
``costbt.signals`` (cost models and entry/exit rules), ``costbt.strategies`` (plans),
``costbt.backtest`` (engine, sweeps, tuning, walk-forward, statistics, the command line) and
``costbt.reports`` (HTML pages). For a notebook, the facade below covers the main workflows;
each name is imported on first use, so ``import costbt`` stays light:

    import costbt
    panel = costbt.load_panel()
    result = costbt.run_backtest(panel, "below_cost")
    result.metrics

==================  =====================================================
``load_panel``      `costbt.data.panel.load_panel`
``run_backtest``    `costbt.backtest.engine.backtest`
``run_sweep``       `costbt.backtest.sweep.run_sweep`
``tune``            `costbt.backtest.tuning.run_study`
``walkforward``     `costbt.backtest.walkforward.run_walkforward`
``assess``          `costbt.backtest.overfitting.assess`
``episodes``        `costbt.backtest.episodes.episode_study`
``attribution``     `costbt.backtest.attribution.run_attribution`
==================  =====================================================

See docs/python-api.md.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("costbt")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled source tree
    __version__ = "0+unknown"

#: Facade name -> "module:attribute" (imported on first use).
FACADE: dict[str, str] = {
    "load_panel": "costbt.data.panel:load_panel",
    "run_backtest": "costbt.backtest.engine:backtest",
    "run_sweep": "costbt.backtest.sweep:run_sweep",
    "tune": "costbt.backtest.tuning:run_study",
    "walkforward": "costbt.backtest.walkforward:run_walkforward",
    "assess": "costbt.backtest.overfitting:assess",
    "episodes": "costbt.backtest.episodes:episode_study",
    "attribution": "costbt.backtest.attribution:run_attribution",
}


def __getattr__(name: str):
    target = FACADE.get(name)
    if target is None:
        raise AttributeError(f"module 'costbt' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *FACADE])


__all__ = ["__version__", *FACADE]
