"""PostgreSQL's side of the parity rules: JSONB keeps a float a float (``jsonb_text``)."""

import json

from dataflow_postgresql.dialect import jsonb_text
from hypothesis import given, settings
from hypothesis import strategies as st

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _types(value):
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value)


@settings(max_examples=150, deadline=None)
@given(_json)
def test_jsonb_text_reads_back_with_the_same_values_and_types(value):
    back = json.loads(jsonb_text(value))
    assert back == value and _types(back) == _types(value)


def test_large_floats_are_written_out_with_a_point():
    assert jsonb_text({"x": 1e300}).endswith('.0}')
    assert jsonb_text([1e16, 2.5, 3]) == "[10000000000000000.0,2.5,3]"
    assert jsonb_text({"small": 1e-300, "s": "plain"}) == '{"small":1e-300,"s":"plain"}'
