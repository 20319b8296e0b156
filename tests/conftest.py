"""Suite-wide setup: headless matplotlib, no font-fallback log noise, a throw-away trial ledger
(``$COSTBT_HOME``) per test, xdist scheduling.

Scheduling (`make test` runs ``-n 2 --dist loadgroup``): each test file runs whole on one worker,
so its module-scoped fixtures are built once, and each group of files in `WORKER_GROUPS` runs
whole on one worker too:

- ``vectorbt``: every file that simulates through vectorbt. ``Portfolio.from_signals`` runs a
  numba kernel that vectorbt does not cache on disk, so it compiles (5 to 8 s for each of the
  three argument-type signatures the suite uses) in every process that calls it; on a fresh
  clone vectorbt's disk-cached kernels and backtest/fast.py's compile there as well. One worker
  compiles them once.
- ``postgresql``: the multi-process tuning scenarios, so one PostgreSQL server is started.
- ``report_sample``: the files using the session-scoped sample report of tests/reports/conftest.py
  (quantstats and Chromium take several seconds to render and inspect it), so it is built once.

The groups go out first, in this order (the longest first), then the files, those with the most
tests first, each to whichever worker is free. The groups are given by file here, not with
``@pytest.mark.xdist_group``: under pytest 9.2 xdist's loadgroup no longer sees that mark
(pytest-dev/pytest-xdist#1386) and would silently spread the files over both workers.
"""

import logging
import os

import pytest

# Before anything imports matplotlib (quantstats, vectorbt and reports do).
os.environ.setdefault("MPLBACKEND", "Agg")
# "findfont: Font family 'Arial' not found" is logged (not warned) for every chart drawn.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


@pytest.fixture(scope="session", autouse=True)
def _costbt_home_for_the_session(tmp_path_factory):
    """The trial ledger of module- and session-scoped fixtures: never the user's real one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COSTBT_HOME", str(tmp_path_factory.mktemp("costbt-home-session")))
        yield


@pytest.fixture(autouse=True)
def costbt_home(tmp_path_factory, monkeypatch):
    """``$COSTBT_HOME`` (the trial ledger's folder) for one test, inherited by its subprocesses."""
    home = tmp_path_factory.mktemp("costbt-home")
    monkeypatch.setenv("COSTBT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def bundled_panel():
    """`data.load_panel()` of the bundle, read once per worker (0.2 s a read).

    Shared: a module's ``panel`` fixture takes its own ``.copy()`` (or a sliced copy).
    """
    from costbt.data import load_panel

    return load_panel()


WORKER_GROUPS = {
    "vectorbt": (
        "tests/backtest/test_attribution.py",
        "tests/backtest/test_benchmarks.py",
        "tests/backtest/test_cli_backtest.py",
        "tests/backtest/test_degenerate.py",
        "tests/backtest/test_engine.py",
        "tests/backtest/test_evaluator.py",
        "tests/backtest/test_fast.py",
        "tests/backtest/test_sweep.py",
        "tests/test_stack_compat.py",
        "tests/strategies/test_user_strategies.py",
        "tests/backtest/test_config_merge.py",
    ),
    "postgresql": ("tests/backtest/test_tuning_workers.py",),
    "report_sample": (
        "tests/reports/test_browser.py",
        "tests/reports/test_episodes_html.py",
        "tests/reports/test_html_report.py",
    ),
}


@pytest.hookimpl(optionalhook=True)  # an xdist hook: pytest without xdist ignores it
def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadgroup``: one unit of work per file, or per group of `WORKER_GROUPS`."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    group_of = {path: name for name, paths in WORKER_GROUPS.items() for path in paths}

    class FileGroupScheduling(LoadGroupScheduling):
        _groups_first = False

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return group_of.get(path, path)

        def _assign_work_unit(self, node) -> None:
            if not self._groups_first:  # the queue is complete by the first assignment
                self._groups_first = True
                for name in reversed(WORKER_GROUPS):
                    if name in self.workqueue:
                        self.workqueue.move_to_end(name, last=False)
            super()._assign_work_unit(node)

    return FileGroupScheduling(config, log)
