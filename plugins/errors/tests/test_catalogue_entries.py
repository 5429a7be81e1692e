"""The errors plugin on its own: a well-formed catalogue, hints from the hook, rendering per mode."""

from __future__ import annotations

import re

import pytest
from dataflow.errors import DataFlowError
from dataflow_errors import CATALOGUE, by_code, lookup, render_text
from dataflow_errors.plugin import dataflow_error_hints

RANGES = {"1": "parameters", "2": "connections", "3": "migrations", "4": "configuration", "5": "runtime",
          "6": "models", "7": "nodes", "8": "workflows"}


def test_every_entry_is_complete_and_in_its_range():
    codes = [entry.code for entry in CATALOGUE]
    assert len(codes) == len(set(codes)) == len(by_code())
    assert codes == sorted(codes)
    for entry in CATALOGUE:
        assert re.fullmatch(r"DF-[1-8]\d\d", entry.code)
        assert entry.title and entry.summary and entry.causes and entry.solutions
        assert any(s.example for s in entry.solutions), entry.code
        assert entry.docs.endswith(f"#{entry.code.lower()}")
        assert entry.code[3] in RANGES


@pytest.mark.parametrize("code", ["DF-101", "DF-102", "DF-403", "DF-703", "DF-802"])
def test_the_hook_answers_with_the_catalogue_hint(code):
    (hint,) = dataflow_error_hints(DataFlowError(code, "boom"))
    entry = lookup(code)
    assert hint.code == code and hint.title == entry.title
    assert list(hint.solutions) == [s.text for s in entry.solutions]


def test_unknown_codes_get_no_hint():
    assert dataflow_error_hints(DataFlowError("DF-999", "no such code")) is None
    assert lookup("DF-999") is None


@pytest.mark.parametrize("mode", ["FULL", "MINIMAL", "DISABLED"])
def test_rendering_keeps_the_code_in_every_mode(mode):
    error = DataFlowError("DF-101", "Field 'id' is required.", solutions=["Add 'id'."])
    (hint,) = dataflow_error_hints(error)
    error.add_hint(hint)
    error.render_mode = mode
    text = render_text(error)
    assert "DF-101" in text
    if mode == "FULL":
        assert lookup("DF-101").title in text
    else:
        assert len(text.strip().splitlines()) == 1


def test_a_full_panel_keeps_to_about_thirty_lines_however_much_the_error_carries():
    error = DataFlowError(
        "DF-102", "Model 'User' has no field 'emial'.",
        context={f"key{i}": "value " * 5 for i in range(40)},
        causes=[f"cause {i}" for i in range(20)],
        solutions=[*(s.text for s in lookup("DF-102").solutions), *(f"fix {i}" for i in range(20))],
    )
    error.mode = "FULL"
    lines = render_text(error, width=100).splitlines()
    assert len(lines) <= 34, "\n".join(lines)
    text = "\n".join(lines)
    assert "key0" in text and "key39" not in text and "cause 2" in text and "cause 3" not in text
    assert lookup("DF-102").solutions[0].text[:40] in text
