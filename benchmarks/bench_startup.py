"""Start-up: whole-process wall time of the commands a user runs to find their way.

``costbt --help`` and ``costbt backtest --help`` as a user runs them (a new process through the
installed console script, the venv warm), median of 7 runs after one warm-up. Target (issue 15):
``costbt --help`` <= 0.4 s. The start-up imports typer and rich only: pandas, numpy and the
engine are imported by the commands that need them (``tests/test_startup.py`` holds that).
Run: ``.venv/bin/python scripts/run_benchmarks.py startup``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 7
TARGET_HELP_S = 0.4


def _wall(args: list[str]) -> float:
    exe = str(Path(sys.executable).parent / "costbt")
    t = time.perf_counter()
    subprocess.run([exe, *args], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    for args in (["--help"], ["backtest", "--help"]):
        _wall(args)  # warm-up: the file cache
        times = [_wall(args) for _ in range(RUNS)]
        median = statistics.median(times)
        line = f"costbt {' '.join(args)}: median {median:.3f} s over {RUNS} runs (min {min(times):.3f} s)"
        if args == ["--help"]:
            line += (
                f"; target <= {TARGET_HELP_S} s: {'met' if median <= TARGET_HELP_S else 'MISSED'}"
            )
        print(line)


if __name__ == "__main__":
    main()
