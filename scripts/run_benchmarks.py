"""Run the benchmarks: every ``benchmarks/bench_*.py`` module's ``main()``, in name order.

Usage: ``python scripts/run_benchmarks.py [NAME ...]`` where NAME selects modules by stem
(``bench_panel`` or just ``panel``). With no NAME, all modules run. Prints "no benchmarks yet"
and exits 0 when there are none; exits 1 when a module has no callable ``main`` or a NAME
matches nothing. An exception raised by a benchmark propagates (non-zero exit).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "benchmarks"


def discover(bench_dir: Path = BENCH_DIR) -> list[Path]:
    """The benchmark modules in ``bench_dir``, sorted by file name."""
    return sorted(bench_dir.glob("bench_*.py"))


def select(paths: list[Path], names: list[str]) -> list[Path]:
    """The paths whose stem is one of ``names`` (with or without the ``bench_`` prefix)."""
    if not names:
        return paths
    wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in names}
    unknown = wanted - {p.stem for p in paths}
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return [p for p in paths if p.stem in wanted]


def load(path: Path) -> ModuleType:
    """Import the module at ``path`` under the name ``benchmarks.<stem>``."""
    name = f"benchmarks.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    paths = select(discover(), names)
    if not paths:
        print("no benchmarks yet")
        return 0
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    for path in paths:
        module = load(path)
        entry = getattr(module, "main", None)
        if not callable(entry):
            print(f"{path.relative_to(REPO)}: no callable main()", file=sys.stderr)
            return 1
        print(f"== {path.relative_to(REPO)}", flush=True)
        start = time.perf_counter()
        entry()
        print(f"== {path.stem} done in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
