"""The target of the spawned processes of tests/backtest/test_tuning.py's ticket test.

In a module of its own so that each spawned process imports only this and `backtest.tuning`
(for the tickets it is given), not the test module with optuna, numba and the CLI.
"""


def take_all(tickets, counts, i):
    """Take tickets until none is left, counting them in ``counts[i]``."""
    while tickets.take():
        counts[i] += 1
