"""costbt data: the bundled real dataset, validated loaders and the point-in-time daily panel.

>>> from data import load_panel
>>> panel = load_panel()              # one row per UTC day, columns carry units
>>> panel.loc["2024-04-20", "block_subsidy_btc"]
3.125
"""

from costbt.data.errors import DataError
from costbt.data.panel import PANEL_SOURCES, build_panel, load_panel

__all__ = ["DataError", "PANEL_SOURCES", "build_panel", "load_panel"]
