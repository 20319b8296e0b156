"""Facts about a run's origin: costbt version, git commit (and dirty flag), data manifest hash.

Every function returns ``"unknown"`` rather than failing: a missing git, a checkout that is not a
repository, or an unreadable manifest must never stop a backtest or a report.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

UNKNOWN = "unknown"
#: The folder above the package's folders: costbt's source checkout for an editable install
#: (``backtest/`` sits at its root), the installed ``costbt`` package for a wheel.
REPO_ROOT = Path(__file__).resolve().parents[1]


def source_checkout(root: Path = REPO_ROOT) -> bool:
    """Whether ``root`` is costbt's own source tree (its pyproject names the costbt project), so
    that a git commit read there is costbt's, not that of whatever repository holds a venv."""
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False
    import tomllib

    try:
        return tomllib.loads(text).get("project", {}).get("name") == "costbt"
    except tomllib.TOMLDecodeError:
        return False


def costbt_version() -> str:
    """The installed costbt distribution's version, or ``"unknown"``."""
    try:
        return metadata.version("costbt")
    except metadata.PackageNotFoundError:
        return UNKNOWN


def _git(*args: str, cwd: Path = REPO_ROOT) -> str | None:
    if not source_checkout(cwd):
        return None
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(cwd: Path = REPO_ROOT) -> str:
    """``git rev-parse HEAD`` of costbt's source checkout, or ``"unknown"`` (a wheel install,
    or no git)."""
    return _git("rev-parse", "HEAD", cwd=cwd) or UNKNOWN


def git_dirty(cwd: Path = REPO_ROOT) -> str:
    """``"yes"`` if tracked files differ from the commit, ``"no"`` if not, else ``"unknown"``."""
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    if status is None:
        return UNKNOWN
    return "yes" if status else "no"


def manifest_hash() -> str:
    """sha256 of the bundled data manifest (`data.bundle.manifest_hash`), or ``"unknown"``."""
    try:
        from costbt.data.bundle import manifest_hash as _manifest_hash

        return _manifest_hash()
    except Exception:  # noqa: BLE001 - provenance must never stop a report
        return UNKNOWN


def record(**extra) -> dict:
    """A run's provenance, built in one place: costbt's version, the git commit and dirty flag
    of its source checkout, the bundled manifest's hash, then ``extra`` (seed, config, command,
    run time ...). The engine, the commands and the pages all use it."""
    return {
        "costbt_version": costbt_version(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "data_manifest_sha256": manifest_hash(),
        **extra,
    }
