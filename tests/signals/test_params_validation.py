"""Parameter dataclasses validate on construction (`costbt.signals.params.Validated`)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.backtest.engine import EngineConfig
from costbt.signals.basis import BasisResetParams
from costbt.signals.confluence import ConfluenceParams
from costbt.signals.etf_flows import EtfFlowParams, EtfTrendParams
from costbt.signals.params import ParamError, space
from costbt.signals.production_cost import BelowCostParams, CostAssumptions
from costbt.signals.realised_price import RealisedPriceParams
from costbt.signals.sopr import SoprParams
from costbt.strategies import STRATEGIES

CLASSES = [
    CostAssumptions,
    BelowCostParams,
    BasisResetParams,
    ConfluenceParams,
    EtfFlowParams,
    EtfTrendParams,
    RealisedPriceParams,
    SoprParams,
    EngineConfig,
    *(s.params for s in STRATEGIES.values()),
]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"power_price": 5.0}, "power_price=5.0 is above its maximum"),
        ({"entry_ratio": -1}, "entry_ratio=-1.0 is below its minimum"),
        ({"model": "electrcity"}, "model='electrcity' is not one of"),
        ({"confirm_days": 2.5}, "confirm_days=2.5 is not a valid int"),
        ({"pue": float("nan")}, "pue=nan is not a valid float"),
    ],
)
def test_a_bad_value_is_refused_when_the_parameters_are_built(kwargs, words):
    with pytest.raises(ParamError, match=words.replace("(", r"\(")):
        BelowCostParams(**kwargs)


def test_values_are_converted_to_their_declared_types():
    p = BelowCostParams(entry_ratio="0.9", confirm_days=3.0, include_fees="false")
    assert p.entry_ratio == 0.9 and isinstance(p.entry_ratio, float)
    assert p.confirm_days == 3 and isinstance(p.confirm_days, int)
    assert p.include_fees is False


def test_replace_validates_again():
    with pytest.raises(ParamError):
        dataclasses.replace(BelowCostParams(), exit_ratio=99)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_default_is_valid(cls):
    cls()


GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_garbage_is_a_param_error_never_another_exception(data):
    cls = data.draw(st.sampled_from(CLASSES))
    params = space(cls)
    if not params:
        return
    p = data.draw(st.sampled_from(params))
    value = data.draw(GARBAGE)
    try:
        built = cls(**{p.name: value})
    except ParamError:
        return
    checked = getattr(built, p.name)
    if p.kind in ("int", "float") and p.low is not None:
        assert p.low <= checked <= p.high
    if p.kind == "choice":
        assert checked in p.choices
