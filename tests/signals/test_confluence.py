"""Confluence: truth tables for every mode and unknown policy, windows, exits, no look-ahead."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.signals.confluence import UNKNOWN_POLICIES, ConfluenceParams, combine, confluence
from costbt.signals.etf_flows import etf_reversal
from costbt.signals.lookahead import check_point_in_time
from costbt.signals.output import SignalOutput
from costbt.signals.params import ParamError, build, space
from costbt.signals.sopr import sopr_signal

LO, HI = pd.Timestamp("2023-10-01"), pd.Timestamp("2026-05-01")
CUTOFFS = st.lists(
    st.integers(0, (HI - LO).days).map(lambda k: LO + pd.Timedelta(days=k)),
    min_size=1,
    max_size=3,
)
PIT = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
V = {"T": True, "F": False, "N": pd.NA}


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


def member(name: str, entries: str, exits: str | None = None, start: str = "2024-01-01"):
    """FIXTURE signal: one day per letter (T true, F false, N unknown)."""
    idx = pd.date_range(start, periods=len(entries), freq="D", name="date")
    entry = pd.Series([V[c] for c in entries], index=idx, dtype="boolean")
    exit_ = pd.Series([V[c] for c in (exits or "F" * len(entries))], index=idx, dtype="boolean")
    return SignalOutput(name, pd.Series(0.0, index=idx), entry, exit_)


def letters(rule: pd.Series) -> str:
    return "".join("N" if v is pd.NA else ("T" if v else "F") for v in rule)


# Two members; day i holds the pair (A[i], B[i]): TT TF TN FT FF FN NT NF NN.
A2, B2 = "TTTFFFNNN", "TFNTFNTFN"
TABLE_2 = {
    ("all", "false"): "TFFFFFFFN",
    ("all", "true"): "TFTFFFTFN",
    ("all", "skip"): "TFTFFFTFN",
    ("all", "propagate"): "TFNFFFNFN",
    ("any", "false"): "TTTTFFTFN",
    ("any", "true"): "TTTTFTTTN",
    ("any", "skip"): "TTTTFFTFN",
    ("any", "propagate"): "TTTTFNTNN",
}
# Three members, k = 2; day i holds (A[i], B[i], C[i]): TTF TFF TNN TTN FNN NNN TFN.
A3, B3, C3 = "TTTTFNT", "TFNTNNF", "FFNNNNN"
TABLE_K = {
    "false": "TFFTFNF",
    "true": "TFTTTNT",
    "skip": "TFFTFNF",
    "propagate": "TFNTNNN",
}


# ------------------------------------------------------------------------------ truth tables


@pytest.mark.parametrize(("mode", "unknown"), sorted(TABLE_2))
def test_entry_truth_table_two_members(mode, unknown):
    out = combine([member("a", A2), member("b", B2)], mode=mode, unknown=unknown)
    assert letters(out.entry) == TABLE_2[(mode, unknown)]


@pytest.mark.parametrize("unknown", sorted(TABLE_K))
def test_entry_truth_table_two_of_three(unknown):
    members = [member("a", A3), member("b", B3), member("c", C3)]
    out = combine(members, mode="k_of_n", k=2, unknown=unknown)
    assert letters(out.entry) == TABLE_K[unknown]


@pytest.mark.parametrize(("exit_mode", "unknown"), sorted(TABLE_2))
def test_exit_truth_table_two_members(exit_mode, unknown):
    a, b = member("a", "F" * 9, A2), member("b", "F" * 9, B2)
    out = combine([a, b], exit_mode=exit_mode, unknown=unknown)
    assert letters(out.exit) == TABLE_2[(exit_mode, unknown)]


@pytest.mark.parametrize("unknown", UNKNOWN_POLICIES)
@pytest.mark.parametrize(("mode", "k"), [("all", None), ("any", None), ("k_of_n", 1)])
def test_a_day_no_member_covers_is_unknown_whatever_the_policy(mode, k, unknown):
    members = [member("a", "NN", "NN"), member("b", "NN", "NN")]
    out = combine(members, mode=mode, k=k, unknown=unknown)
    assert letters(out.entry) == "NN" and letters(out.exit) == "NN"


def test_k_of_n_with_k_equal_one_is_any_and_k_equal_n_is_all():
    members = [member("a", A2), member("b", B2)]
    for unknown in ("false", "true", "propagate"):
        any_ = combine(members, mode="any", unknown=unknown).entry
        all_ = combine(members, mode="all", unknown=unknown).entry
        assert letters(combine(members, "k_of_n", 1, unknown=unknown).entry) == letters(any_)
        assert letters(combine(members, "k_of_n", 2, unknown=unknown).entry) == letters(all_)


# ------------------------------------------------------------------------------------ window


def test_an_entry_counts_for_window_days():
    a, b = member("a", "TFFFF"), member("b", "FFFTF")
    assert letters(combine([a, b], window_days=4).entry) == "FFFTF"
    assert letters(combine([a, b], window_days=3).entry) == "FFFFF"


def test_unknown_inside_the_window_keeps_a_member_unknown():
    a, b = member("a", "NFF"), member("b", "TTT")
    out = combine([a, b], window_days=2, unknown="propagate")
    assert letters(out.entry) == "NNF"


def test_members_on_different_days_are_unknown_where_they_have_none():
    a = member("a", "TT", start="2024-01-01")
    b = member("b", "TT", start="2024-01-02")
    out = combine([a, b], unknown="propagate")
    assert letters(out.entry) == "NTN"


def test_indicator_counts_fired_and_known_members():
    out = combine([member("a", A2), member("b", B2)])
    assert list(out.indicator["n_fired"]) == [2, 1, 1, 1, 0, 0, 1, 0, 0]
    assert list(out.indicator["n_known"]) == [2, 2, 1, 2, 2, 1, 1, 1, 0]
    assert {"a_fired", "b_fired"} <= set(out.indicator.columns)


def test_duplicate_member_names_get_distinct_columns():
    out = combine([member("a", "TF"), member("a", "FT")], mode="any")
    assert {"a_fired", "a_1_fired"} <= set(out.indicator.columns)


# ------------------------------------------------------------------------------ parameters


def test_params_drive_combine():
    members = [member("a", A3), member("b", B3), member("c", C3)]
    params = build(ConfluenceParams, {"mode": "k_of_n", "k": "2", "unknown": "propagate"})
    assert letters(confluence(members, params).entry) == TABLE_K["propagate"]


def test_parameter_space_declares_defaults_and_ranges():
    names = {p.name: p for p in space(ConfluenceParams)}
    assert (names["window_days"].low, names["window_days"].high) == (1, 60)
    assert set(names["unknown"].choices) == {"false", "true", "skip", "propagate"}
    assert set(names["mode"].choices) == {"all", "any", "k_of_n"}


@pytest.mark.parametrize(
    "override",
    [{"window_days": 0}, {"window_days": 61}, {"unknown": "maybe"}, {"mode": "most"}, {"k": 0}],
)
def test_out_of_range_parameters_are_refused(override):
    with pytest.raises(ParamError):
        build(ConfluenceParams, override)


@pytest.mark.parametrize(
    "kwargs", [{"mode": "k_of_n"}, {"mode": "k_of_n", "k": 3}, {"window_days": 0}]
)
def test_inconsistent_combine_arguments_are_refused(kwargs):
    with pytest.raises(ParamError):
        combine([member("a", "T"), member("b", "T")], **kwargs)


def test_an_empty_confluence_is_refused():
    with pytest.raises(ParamError):
        combine([])


# --------------------------------------------------------------------------- point in time


@PIT
@given(
    cutoffs=CUTOFFS,
    unknown=st.sampled_from(UNKNOWN_POLICIES),
    mode=st.sampled_from(["all", "any", "k_of_n"]),
    window=st.integers(1, 60),
)
def test_confluence_of_etf_reversal_and_real_sth_sopr_is_point_in_time(
    panel, cutoffs, unknown, mode, window
):
    def fn(p: pd.DataFrame):
        return combine(
            [etf_reversal(p), sopr_signal(p)],
            mode=mode,
            k=1 if mode == "k_of_n" else None,
            window_days=window,
            unknown=unknown,
        )

    assert check_point_in_time(fn, panel, cutoffs) == []


def test_the_confluence_strategys_vote_on_its_four_real_members_is_point_in_time(panel):
    # Cost (electricity), the bundled 3-month basis, ETF flows and STH-SOPR, as traded; cutoffs
    # where every member has data, and one inside the 2021 basis reset.
    from costbt.strategies.confluence import ConfluenceStrategyParams, plan

    def fn(p: pd.DataFrame):
        return plan(p, ConfluenceStrategyParams()).entry_rule

    cutoffs = ["2021-07-01", "2024-08-05", "2025-11-22"]
    assert check_point_in_time(fn, panel, cutoffs) == []


def test_the_check_catches_a_member_that_peeks_one_day_ahead(panel):
    def leaky(p: pd.DataFrame):
        etf = etf_reversal(p)
        peek = SignalOutput("peek", etf.indicator, etf.entry.shift(-1), etf.exit)
        return combine([peek, sopr_signal(p)], mode="any", window_days=5)

    days = etf_reversal(panel).entry
    firing = days.fillna(False).to_numpy(dtype=bool)
    before_firing = [days.index[i - 1] for i in range(1, len(days)) if firing[i]]
    assert check_point_in_time(leaky, panel, before_firing[:3]) != []
