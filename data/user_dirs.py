"""Where costbt keeps what it writes: the user's folders, never the package or the repository.

One override, ``$COSTBT_HOME``: when set, everything lives under it. Otherwise the platform's
user folders (platformdirs; on Linux ``~/.local/share/costbt`` and ``~/.cache/costbt``):

===============  ==================================  =============================================
what             with ``$COSTBT_HOME``               without
===============  ==================================  =============================================
trial ledger     ``$COSTBT_HOME/ledger.json``         ``<user data>/ledger.json``
download cache   ``$COSTBT_HOME/cache``               ``<user cache>`` (``$COSTBT_CACHE_DIR`` wins)
tuning journals  ``$COSTBT_HOME/studies``             ``<user data>/studies``
default outputs  ``$COSTBT_HOME/out``                 ``<user data>/out`` (sweeps, pages)
===============  ==================================  =============================================

The flags (``--cache-dir``, ``--storage``, ``--out``, ``--report``) still choose any path, and
``$COSTBT_CACHE_DIR`` still names the download cache alone.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "COSTBT_HOME"
ENV_CACHE_DIR = "COSTBT_CACHE_DIR"
APP = "costbt"


def _env(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def home() -> Path:
    """``$COSTBT_HOME``, else the user's data folder for costbt (the ledger lives here)."""
    env = _env(ENV_HOME)
    if env is not None:
        return env
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def cache_dir(path: str | Path | None = None) -> Path:
    """The download cache: ``path``, else ``$COSTBT_CACHE_DIR``, else ``$COSTBT_HOME/cache``,
    else the user's cache folder."""
    if path is not None:
        return Path(path)
    env = _env(ENV_CACHE_DIR)
    if env is not None:
        return env
    home_env = _env(ENV_HOME)
    if home_env is not None:
        return home_env / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP))


def studies_dir() -> Path:
    """Default folder of Optuna journal files (one per study)."""
    return home() / "studies"


def outputs_dir() -> Path:
    """Default folder of outputs a command writes when no path is given."""
    return home() / "out"


__all__ = ["ENV_CACHE_DIR", "ENV_HOME", "cache_dir", "home", "outputs_dir", "studies_dir"]
