"""The trial ledger: concurrent records are all kept; an unreadable ledger is refused, untouched."""

from __future__ import annotations

import multiprocessing

import pytest

from backtest import ledger
from data.errors import DataError


def _record_many(root: str, n: int) -> None:
    for _ in range(n):
        ledger.record("below_cost", "tune", 1, {}, root)


def test_processes_recording_at_once_lose_no_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_many, args=(str(tmp_path), 40)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert ledger.trials("below_cost", tmp_path) == 120


@pytest.mark.parametrize("text", ["{not json", '{"entries": 3}', "[]", "\xff\xfe"])
def test_an_unreadable_ledger_is_a_data_error_naming_it_and_is_left_as_it_was(tmp_path, text):
    path = ledger.ledger_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match="ledger"):
        ledger.record("below_cost", "tune", 1, {}, tmp_path)
    assert path.read_bytes() == text.encode("latin-1")
    with pytest.raises(DataError) as info:
        ledger.trials("below_cost", tmp_path)
    assert str(path) in info.value.message
