"""Suite-wide setup: headless matplotlib and no font-fallback log noise."""

import logging
import os

# Before anything imports matplotlib (quantstats, vectorbt and reports do).
os.environ.setdefault("MPLBACKEND", "Agg")
# "findfont: Font family 'Arial' not found" is logged (not warned) for every chart drawn.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
