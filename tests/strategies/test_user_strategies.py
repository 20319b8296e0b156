"""A user's strategy (``FILE.py:NAME``, ``module:NAME``, a plugin) runs everywhere a built-in
does: backtest, sweep, tune and walk-forward (examples/strategies/hash_ribbon_buy.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.backtest.evaluation import EngineEvaluator, evaluator_for
from costbt.backtest.evaluator import Evaluator
from costbt.strategies import STRATEGIES, Strategy, StrategyError
from costbt.strategies.registry import load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "strategies" / "hash_ribbon_buy.py"
SPEC = f"{EXAMPLE}:STRATEGY"
runner = CliRunner()


def ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.output


def test_a_file_spec_loads_the_users_strategy():
    s = load(SPEC)
    assert isinstance(s, Strategy) and s.name == "hash_ribbon_buy" and not s.kernel
    assert STRATEGIES[SPEC] is STRATEGIES[SPEC]  # loaded once, kept under its spec


def test_a_module_spec_loads_a_strategy():
    assert load("costbt.strategies.below_cost:STRATEGY").name == "below_cost"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nowhere.py:STRATEGY", "no such file"),
        (f"{EXAMPLE}:NOPE", "has no name 'NOPE'"),
        ("costbt.strategies.base:Plan", "not a costbt Strategy"),
        ("no_such_module_xyz:STRATEGY", "cannot import no_such_module_xyz"),
        ("nonsense", "unknown strategy 'nonsense'"),
    ],
)
def test_a_spec_that_cannot_load_says_why(spec, words):
    with pytest.raises(StrategyError, match=words):
        STRATEGIES.resolve(spec)


def test_a_file_that_fails_to_import_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("raise RuntimeError('boom')\n")
    r = runner.invoke(app, ["backtest", "--strategy", f"{bad}:STRATEGY"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "RuntimeError: boom" in lines[0] and "--strategy" in lines[0]


def test_an_installed_plugin_is_found_by_its_entry_point(tmp_path, monkeypatch):
    (tmp_path / "my_rules.py").write_text(EXAMPLE.read_text())
    info = tmp_path / "my_rules-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-rules\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[costbt.strategies]\nribbons = my_rules:STRATEGY\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert STRATEGIES.resolve("ribbons").name == "hash_ribbon_buy"


def test_the_seam_chooses_by_capability_not_by_name(bundled_panel):
    assert isinstance(evaluator_for(bundled_panel, "below_cost"), Evaluator)
    assert isinstance(evaluator_for(bundled_panel, SPEC), EngineEvaluator)
    assert isinstance(evaluator_for(bundled_panel, "confluence"), EngineEvaluator)


def test_the_engine_evaluator_equals_a_backtest_of_the_same_span(bundled_panel):
    from costbt.backtest.engine import EngineConfig, run_strategy

    ev = EngineEvaluator(bundled_panel, SPEC)
    metrics = ev.metrics({"fast_days": 20}, "2019-01-01", "2022-12-31")
    params = STRATEGIES[SPEC].params(fast_days=20)
    frame = bundled_panel.loc[:"2022-12-31"]
    direct = run_strategy(frame, STRATEGIES[SPEC], params, EngineConfig(), "2019-01-01")
    assert metrics["sharpe"] == pytest.approx(direct.metrics()["sharpe"])
    assert metrics["trades"] == len(direct.trades)


def test_the_example_runs_through_backtest_sweep_tune_and_walkforward(tmp_path):
    out = ok(["backtest", "--strategy", SPEC, "--start", "2019-01-01"])
    assert "buy_and_hold" in out and "exits by cause" in out
    sweep_dir = tmp_path / "sweep"
    out = ok(
        ["sweep", "--strategy", SPEC, "--grid", "fast_days=20,30", "--grid", "slow_days=60,90"]
        + ["--start", "2019-01-01", "--out", str(sweep_dir)]
    )
    results = pd.read_parquet(sweep_dir / "results.parquet")
    assert len(results) == 4 and set(results["fast_days"]) == {20, 30}
    assert "evaluated by the vectorbt engine itself" in out
    ok(
        [
            "tune",
            "--strategy",
            SPEC,
            "--n-trials",
            "3",
            "--min-trades",
            "0",
            "--start",
            "2016-01-01",
        ]
    )
    out = ok(
        ["walkforward", "--strategy", SPEC, "--n-trials", "2", "--train", "4y", "--test", "2y"]
        + ["--start", "2016-01-01"]
    )
    assert "walk-forward efficiency" in out
    ledger = json.loads((Path(__import__("os").environ["COSTBT_HOME"]) / "ledger.json").read_text())
    kinds = {e["kind"] for e in ledger["entries"] if e["strategy"] == SPEC}
    assert {"sweep", "tune", "walkforward"} <= kinds
