"""One configuration merge (TOML plus --param) for every command (`backtest.config.merge`)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.backtest.config import merge

runner = CliRunner()
TOML = """strategy = "below_cost"
start = "2019-01-01"
[params]
entry_ratio = 0.9
exit_ratio = 1.8
[engine]
fees_bps = 25
"""


def test_flags_override_the_file_and_both_tables_merge():
    file_cfg = {"params": {"entry_ratio": 0.9}, "engine": {"fees_bps": 25}}
    out = merge(file_cfg, {"entry_ratio": "0.8", "engine.slippage_bps": "3"})
    assert out == {"entry_ratio": "0.8", "fees_bps": 25, "slippage_bps": "3"}


def test_a_sweep_takes_its_fixed_values_and_span_from_the_config(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(TOML.replace("exit_ratio = 1.8\n", ""))
    out = tmp_path / "sweep"
    r = runner.invoke(
        app, ["sweep", "--config", str(cfg), "--grid", "exit_ratio=1.5,2.0", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    rows = pd.read_parquet(out / "results.parquet")
    assert set(rows["entry_ratio"]) == {0.9} and set(rows["fees_bps"]) == {25.0}


@pytest.mark.parametrize(
    "command",
    [
        ["sweep", "--grid", "exit_ratio=1.5,2.0"],
        ["tune", "--n-trials", "2"],
        ["walkforward", "--n-trials", "2"],
        ["attribution"],
        ["lookahead"],
    ],
    ids=lambda c: c[0],
)
def test_every_command_reads_the_config_and_refuses_a_bad_one(tmp_path, command):
    bad = tmp_path / "bad.toml"
    bad.write_text("strategy = [\n")
    r = runner.invoke(app, [*command, "--config", str(bad)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--config" in lines[0] and str(bad) in lines[0]


def test_tune_and_lookahead_use_the_configs_strategy_and_values(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        TOML.replace('strategy = "below_cost"', 'strategy = "below_cost"\nend = "2021-12-31"')
    )
    r = runner.invoke(app, ["lookahead", "--config", str(cfg), "--cutoffs", "1"])
    assert r.exit_code == 0 and "point in time" in r.output, r.output
    r = runner.invoke(
        app, ["tune", "--config", str(cfg), "--n-trials", "2", "--include", "confirm_days"]
    )
    assert r.exit_code == 0, r.output
    assert "below_cost" in r.output
