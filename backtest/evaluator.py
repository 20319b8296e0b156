"""One ``below_cost`` combination at a time, fast: the evaluator behind tuning and walk-forward.

`Evaluator(panel)` answers "what did these parameters do between ``start`` and ``end``?" in about
a millisecond once warm, so an Optuna study spends its time sampling, not backtesting:

* The spot open/close arrays are extracted once.
* The price/cost ratio of a cost-assumption set (the model plus the fields that model reads,
  `backtest.fast.MODEL_FIELDS`) is computed once and kept in a bounded LRU cache; so is the
  fleet-efficiency timeline, which depends only on the power price and the fleet lag among the
  swept fields (its vintage-mix part before CBECI depends on neither and is cached by its own
  inputs in `signals.fleet_vintage`; ``include_fees`` changes the divisor, not the timeline). Declared
  parameters have steps (power price 0.005 USD/kWh, efficiency scale and PUE 0.05), so a study
  revisits the same sets again and again.
* Each evaluation runs the numba kernel of `backtest.fast` on one row.

Results equal `backtest.fast.sweep_below_cost` (the same kernel on the same ratio, bit for bit;
tested), which itself equals vectorbt to 1e-9.

**Point in time.** Signals are always computed on the whole panel handed in; ``start``/``end``
only choose the traded days (the first known close on or after ``start`` to the last on or before
``end``, flat at the start). Every cost model is point in time (the value on day d uses data up
to d only, `signals.lookahead`), so days after ``end`` cannot change a result inside the span: a
test evaluates on a panel truncated at ``end`` and gets the same numbers. Days before ``start``
are history a trader had: the trailing windows and the expanding regression are warm on day one.

Rows the kernel does not reproduce (price stops, the hash-ribbon confirmation, the perpetual)
run through vectorbt on the whole panel (`backtest.fast.vectorbt_metrics`) and only without a
span; with a span they raise ``ValueError``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import fields, replace

import numpy as np
import pandas as pd

from costbt.backtest import fast
from costbt.backtest.fast_nb import sweep_serial_nb
from costbt.signals import production_cost as pc
from costbt.signals.fleet_efficiency import EfficiencyTimeline, fleet_efficiency

_COST_FIELDS = tuple(f.name for f in fields(pc.CostAssumptions))


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def fetch(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


class Evaluator:
    """Metrics (and daily returns) of ``below_cost`` rows on one panel; see the module docstring.

    ``cache_size`` bounds the cached ratio series (each is one float64 per panel day: about 50 kB
    on the bundled panel, so the default 1,024 holds about 50 MB).
    """

    def __init__(self, panel: pd.DataFrame, cache_size: int = 1024) -> None:
        self.panel = panel
        self.index = panel.index
        self.open = panel["open_usd"].to_numpy(dtype=np.float64)
        self.close = panel["close_usd"].to_numpy(dtype=np.float64)
        self._known = np.flatnonzero(np.isfinite(self.close))
        if not len(self._known):
            raise ValueError("no spot prices in the selected period")
        self._defaults = fast.parameter_defaults()
        self._ratios = _LRU(cache_size)
        self._eff = _LRU(64)
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ spans and rows

    def span(self, start=None, end=None) -> tuple[int, int]:
        """Positions of the first known close on/after ``start`` and the last on/before ``end``."""
        known = self._known
        lo = 0 if start is None else int(self.index.searchsorted(pd.Timestamp(start), "left"))
        hi = len(self.index) - 1
        if end is not None:
            hi = int(self.index.searchsorted(pd.Timestamp(end), "right")) - 1
        inside = known[(known >= lo) & (known <= hi)]
        if len(inside) < 2:
            raise ValueError(f"fewer than two spot prices between {start} and {end}")
        return int(inside[0]), int(inside[-1])

    def row(self, params: dict) -> dict:
        """``params`` with every strategy and engine default filled in (unknown names raise)."""
        unknown = [k for k in params if k not in self._defaults]
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(map(str, unknown))}")
        out = {**self._defaults, **params}
        if out["model"] not in fast.MODEL_FIELDS:
            raise ValueError(f"unknown cost model '{out['model']}'")
        if out["fill"] not in ("next_open", "next_close"):
            raise ValueError(f"unknown fill '{out['fill']}'")
        return out

    def signal_days(self, params: dict) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """First and last day on which the row's price/cost ratio (its signal) is known.

        (None, None) if never. Beyond the last day the entry rule cannot fire or exit: e.g. the
        bundled production-cost inputs end before the prices do.
        """
        known = np.flatnonzero(np.isfinite(self.ratio(self.row(params))))
        if not len(known):
            return None, None
        return self.index[known[0]], self.index[known[-1]]

    def fast_path(self, row: dict) -> bool:
        return all(row[k] == v for k, v in fast.UNSUPPORTED.items())

    # ------------------------------------------------------------------ cached series

    def cost_key(self, row: dict) -> tuple:
        """The row's cost-assumption set: the model and the fields it reads (others at default)."""
        used = fast.MODEL_FIELDS[row["model"]]
        return (row["model"],) + tuple(
            row[name] if name in used else self._defaults[name] for name in _COST_FIELDS
        )

    def ratio(self, row: dict) -> np.ndarray:
        """price / cost for the row's cost-assumption set (as `backtest.fast.ratio_series`)."""
        key = self.cost_key(row)
        if key in self._ratios:
            self.hits += 1
        else:
            self.misses += 1
        return self._ratios.fetch(key, lambda: self._ratio(key))

    def _ratio(self, key: tuple) -> np.ndarray:
        model = key[0]
        a = pc.CostAssumptions(**dict(zip(_COST_FIELDS, key[1:], strict=True)))
        eff = None
        if model in pc.ASSUMPTION_MODELS:
            # fleet_efficiency_for(panel, a) without recomputing the timeline per scale.
            base = self._eff.fetch(
                (a.power_price, a.fleet_lag_days),
                lambda: fleet_efficiency(
                    self.panel,
                    a.power_price,
                    replace(EfficiencyTimeline(), fleet_lag_days=a.fleet_lag_days),
                ),
            )
            eff = base * a.efficiency_scale
        cost = pc.cost_model(self.panel, a, model, eff)
        return (self.panel["close_usd"] / cost).to_numpy(dtype=np.float64)

    # ------------------------------------------------------------------ evaluation

    def _kernel(
        self, row: dict, t0: int, t1: int, rets: np.ndarray, close_at_end: bool
    ) -> np.ndarray:
        out = np.empty((1, len(fast.METRICS)))
        sweep_serial_nb(
            self.ratio(row)[None, :],
            self.open,
            self.close,
            t0,
            t1,
            np.zeros(1, dtype=np.int64),
            np.array([float(row["entry_ratio"])]),
            np.array([int(row["confirm_days"])], dtype=np.int64),
            np.array([float(row["exit_ratio"])]),
            np.array([float(row["fees_bps"]) / 1e4]),
            np.array([float(row["slippage_bps"]) / 1e4]),
            np.array([int(row["time_stop_days"])], dtype=np.int64),
            np.array([row["fill"] == "next_close"]),
            np.array([float(row["init_cash"])]),
            bool(close_at_end),
            out,
            rets,
        )
        return out[0]

    def _refuse_slow(self, row: dict) -> None:
        names = [k for k, v in fast.UNSUPPORTED.items() if row[k] != v]
        raise ValueError(f"{', '.join(names)}: not supported by the fast path on a sub-period")

    def metrics(
        self, params: dict, start=None, end=None, *, close_at_end: bool = False
    ) -> dict[str, float]:
        """The `backtest.fast.METRICS` of one combination traded from ``start`` to ``end``.

        ``close_at_end``: a position still held on the span's last day is sold at its close,
        with costs (walk-forward test windows).
        """
        row = self.row(params)
        if not self.fast_path(row):
            if start is not None or end is not None or close_at_end:
                self._refuse_slow(row)
            return fast.vectorbt_metrics(self.panel, row)
        t0, t1 = self.span(start, end)
        res = self._kernel(row, t0, t1, fast.NO_RETURNS, close_at_end)
        return {k: float(v) for k, v in zip(fast.METRICS, res, strict=True)}

    def run(
        self, params: dict, start=None, end=None, *, close_at_end: bool = False
    ) -> tuple[dict[str, float], pd.Series]:
        """(`metrics`, `returns`) of one combination from a single kernel call."""
        row = self.row(params)
        if not self.fast_path(row):
            self._refuse_slow(row)
        t0, t1 = self.span(start, end)
        rets = np.zeros((1, len(self.index)))
        res = self._kernel(row, t0, t1, rets, close_at_end)
        metrics = {k: float(v) for k, v in zip(fast.METRICS, res, strict=True)}
        out = pd.Series(rets[0, t0 : t1 + 1], index=self.index[t0 : t1 + 1], name="returns")
        return metrics, out

    def returns(
        self, params: dict, start=None, end=None, *, close_at_end: bool = False
    ) -> pd.Series:
        """Daily returns of one combination on its traded days (0 while flat)."""
        return self.run(params, start, end, close_at_end=close_at_end)[1]

    def returns_matrix(self, rows: list[dict], start=None, end=None) -> pd.DataFrame:
        """`returns` of several rows side by side (columns 0..n-1)."""
        return pd.concat(
            [self.returns(r, start, end).rename(i) for i, r in enumerate(rows)], axis=1
        )


__all__ = ["Evaluator"]
