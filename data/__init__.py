"""costbt data: the bundled real dataset, validated loaders and the point-in-time daily panel.

>>> from costbt.data import load_panel
>>> panel = load_panel()              # one row per UTC day, columns carry units
>>> panel.loc["2024-04-20", "block_subsidy_btc"]
3.125

The panel's names are imported on first use (PEP 562), so that ``costbt.data.errors`` and the
other light modules do not load pandas: ``costbt --help`` imports this package.
"""

from costbt.data.errors import DataError

__all__ = ["DataError", "PANEL_SOURCES", "build_panel", "load_panel"]

_PANEL_NAMES = ("PANEL_SOURCES", "build_panel", "load_panel")


def __getattr__(name: str):
    if name in _PANEL_NAMES:
        from costbt.data import panel

        return getattr(panel, name)
    raise AttributeError(f"module 'costbt.data' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PANEL_NAMES])
