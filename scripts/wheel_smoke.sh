#!/usr/bin/env bash
# Build costbt's wheel from a clean copy of the repository, install it into a fresh virtualenv
# (dependencies from requirements.lock) and run a smoke test from two directories: the repository
# root and a folder holding its own data/ and signals.py (the names that used to clash). Nothing
# is written into the repository. Called by .ci/run after `make test`; `make wheel-smoke` alone.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3.11}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_NO_INDEX

before="$(git -C "$repo" status --porcelain --untracked-files=all)"
echo "wheel-smoke: copying the tracked files to $work/src"
mkdir -p "$work/src" && (cd "$repo" && git ls-files -z | xargs -0 -I{} cp --parents {} "$work/src")

echo "wheel-smoke: building the wheel"
"$repo/.venv/bin/pip" wheel --quiet --no-deps --no-build-isolation -w "$work/dist" "$work/src"
wheel="$(ls "$work"/dist/costbt-*.whl)"

echo "wheel-smoke: a fresh virtualenv with the locked dependencies and the wheel"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --progress-bar off --require-hashes -r "$repo/requirements.lock"
"$work/venv/bin/pip" install --quiet --no-deps "$wheel"

mkdir -p "$work/notebook/data" "$work/notebook/reports"
touch "$work/notebook/signals.py" "$work/notebook/data/__init__.py"
smoke='
import pathlib, sys
import costbt
from costbt.data import load_panel
from costbt.signals.production_cost import cost_models
site = pathlib.Path(costbt.__file__).resolve().parents[1]
assert "site-packages" in str(site), costbt.__file__
panel = load_panel()
cost = cost_models(panel).loc["2025-11-20", "electricity"]
assert 50_000 < cost < 150_000, cost
assert callable(costbt.run_backtest) and costbt.__version__ != "0+unknown"
print("ok", costbt.__version__, round(cost), pathlib.Path.cwd())
'
for dir in "$repo" "$work/notebook"; do
    echo "wheel-smoke: from $dir"
    (cd "$dir" && "$work/venv/bin/python" -c "$smoke")
    (cd "$dir" && "$work/venv/bin/costbt" --help >/dev/null)
    (cd "$dir" && "$work/venv/bin/costbt" cost --at 2025-11-20 --draws 0 --cache-dir "$work/cache" >/dev/null)
done
if [ "$(git -C "$repo" status --porcelain --untracked-files=all)" != "$before" ]; then
    git -C "$repo" status --short
    echo "wheel-smoke: the run left files in the repository" >&2
    exit 1
fi
echo "wheel-smoke: passed"
