"""CONSTRUCTED TEST INPUTS for the study and walk-forward reports: no market data, no engine.

* `ConstructedEvaluator`: stands in for `backtest.evaluator.Evaluator`. Its "panel" holds a
  made-up BTC close (a seeded random walk); ``returns(params, start, end)`` gives seeded noise
  whose mean grows with the parameter ``x`` (``x / 500`` a day), so a higher ``x`` is better by
  construction and trials with the same parameters have the same returns.
* `constructed_study`: an in-memory Optuna study whose trials are added by hand with
  `optuna.trial.create_trial`: parameters ``x`` (float 0..1) and ``y`` (int 1..5), the objective
  = the Sharpe (365) of the evaluator's returns on the period, the metrics recorded like
  `backtest.tuning.Objective` does (one ``trial`` user attribute), the min-trades constraint
  (``trades = number % 7``; fewer than 3 is infeasible), plus one FAIL trial.
* `constructed_walkforward`: a `backtest.walkforward.WalkForwardResult` built by hand with the
  real dataclasses: three yearly test windows, each with its constructed study and the chosen
  (best feasible) trial's returns stitched out of sample.
"""

from __future__ import annotations

import zlib

import numpy as np
import optuna
import pandas as pd

from costbt.backtest import metrics

DAYS = pd.date_range("2019-01-01", "2023-12-31", freq="D")
MIN_TRADES = 3


class ConstructedEvaluator:
    """Made-up returns from the parameters (see the module docstring); test input only."""

    def __init__(self, days: pd.DatetimeIndex = DAYS, seed: int = 0) -> None:
        steps = np.random.default_rng(seed).normal(0.001, 0.03, len(days))
        close = pd.Series(5_000.0 * np.cumprod(1.0 + steps), index=days)
        open_ = close.shift(1).fillna(5_000.0)  # each day opens at the previous close
        self.panel = pd.DataFrame(
            {
                "open_usd": open_,
                "high_usd": np.maximum(open_, close),
                "low_usd": np.minimum(open_, close),
                "close_usd": close,
            }
        )
        self.calls = 0

    def row(self, params: dict) -> dict:
        """``params`` over the real strategy and engine defaults (costs, fill, cash)."""
        from costbt.backtest.fast import parameter_defaults

        return {**parameter_defaults(), **params}

    def returns(self, params: dict, start=None, end=None) -> pd.Series:
        self.calls += 1
        key = repr(sorted((k, round(float(v), 9)) for k, v in params.items())).encode()
        rng = np.random.default_rng(zlib.crc32(key))
        values = rng.normal(float(params.get("x", 0.0)) / 500.0, 0.02, len(self.panel))
        series = pd.Series(values, index=self.panel.index, name="returns")
        return series.loc[start:end]


def settings(period=("2019-01-01", "2021-12-31"), name_value: str = "x") -> dict:
    return {
        "strategy": "below_cost",
        "objective": "sharpe",
        "include": [name_value, "y"],
        "fixed": {},
        "min_trades": MIN_TRADES,
        "period": list(period),
    }


def constructed_study(
    evaluator: ConstructedEvaluator,
    *,
    name: str = "constructed-study",
    period=("2019-01-01", "2021-12-31"),
    n: int = 30,
    seed: int = 0,
    param: str = "x",
    all_infeasible: bool = False,
) -> optuna.Study:
    """An in-memory study with ``n`` hand-made completed trials and one failed trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, direction="maximize")
    dists = {
        param: optuna.distributions.FloatDistribution(0.0, 1.0),
        "y": optuna.distributions.IntDistribution(1, 5),
    }
    rng = np.random.default_rng(seed)
    for i in range(n):
        params = {param: float(rng.uniform()), "y": int(rng.integers(1, 6))}
        r = evaluator.returns({"x": params[param], "y": params["y"]}, *period)
        trades = 0 if all_infeasible else i % 7
        recorded = {
            "sharpe": metrics.sharpe(r),
            "cagr": metrics.cagr(r),
            "total_return": metrics.total_return(r),
            "max_drawdown": metrics.max_drawdown(r),
            "exposure": 0.5,
            "trades": float(trades),
            "final_equity": 10_000.0 * (1.0 + metrics.total_return(r)),
        }
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=recorded["sharpe"],
                user_attrs={
                    "trial": {"run": "constructed", "worker": 0, "feasible": trades >= MIN_TRADES}
                    | {"metrics": recorded}
                },
                constraints={"min_trades": float(MIN_TRADES - trades)},
            )
        )
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL,
            params={},
            distributions={},
            user_attrs={"trial": {"run": "constructed", "error": "ValueError: constructed"}},
        )
    )
    return study


def constructed_walkforward(evaluator: ConstructedEvaluator, *, strategy: str = "below_cost"):
    """A `WalkForwardResult` of three windows (2-year training, 1-year test), built by hand."""
    from costbt.backtest import tuning
    from costbt.backtest import walkforward as wf

    results, pieces, bench = [], [], []
    close = evaluator.panel["close_usd"]
    bh_all = close.pct_change().fillna(0.0)
    for k, test_year in enumerate((2021, 2022, 2023), start=1):
        train = (pd.Timestamp(f"{test_year - 2}-01-01"), pd.Timestamp(f"{test_year - 1}-12-31"))
        test = (pd.Timestamp(f"{test_year}-01-01"), pd.Timestamp(f"{test_year}-12-31"))
        window = wf.Window(k, *train, *test, f"{train[0].date()}..{train[1].date()} -> {test_year}")
        study = constructed_study(evaluator, name=f"window-{k}", period=train, n=12, seed=k)
        best = tuning.best_trial(study)
        params = dict(best.params)
        r = evaluator.returns(params, *test)
        b = bh_all.reindex(r.index)
        oos = {"sharpe": metrics.sharpe(r), "cagr": metrics.cagr(r), "trades": 4.0}
        oos |= {"total_return": metrics.total_return(r), "max_drawdown": metrics.max_drawdown(r)}
        results.append(
            wf.WindowResult(
                window=window,
                params=params,
                is_metrics=tuning.trial_metrics(best),
                oos_metrics=oos | {"exposure": 0.5, "final_equity": 1.0},
                benchmark_oos={
                    "sharpe": metrics.sharpe(b),
                    "total_return": metrics.total_return(b),
                },
                trials=12,
                study=study,
                oos_days=len(r),
            )
        )
        pieces.append(r)
        bench.append(b)
    oos_returns = pd.concat(pieces).rename("returns")
    return wf.WalkForwardResult(
        strategy=strategy,
        objective="sharpe",
        settings={
            "strategy": strategy,
            "objective": "sharpe",
            "train": "2y",
            "test": "1y",
            "anchored": False,
            "by_halving": False,
            "include": ["x", "y"],
            "fixed": {},
            "seed": 0,
        },
        windows=results,
        oos_returns=oos_returns,
        oos_equity=(10_000.0 * (1.0 + oos_returns).cumprod()).rename("equity"),
        benchmark_returns=pd.concat(bench).rename("benchmark"),
        trials=36,
    )
