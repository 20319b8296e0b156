"""docs/python-api.md runs: its ``python`` blocks execute in order in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_page_has_an_example_for_each_task():
    text = "\n".join(blocks())
    for needle in (
        "load_panel()",
        "cost_models(",
        "run_backtest(",
        "run.pf",
        "run.trades",
        "write_report(",
        "run_sweep(",
    ):
        assert needle in text, needle


def test_every_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("costbt.reports.html.tearsheet_html", lambda *a, **k: "<div>stub</div>")
    namespace: dict = {}
    for i, code in enumerate(blocks()):
        exec(compile(code, f"{DOC.name}[{i}]", "exec"), namespace)  # noqa: S102 - the doc's own code
    out = capsys.readouterr().out
    assert "refused: power_price=5.0 is above its maximum" in out
    assert "combinations" in out and (tmp_path / "out" / "below_cost.html").exists()
