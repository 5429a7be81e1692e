"""The guide's examples marked ``<!-- runs -->`` (docs/guide.md and the pages it links to, such as
docs/testing.md) run as written (each in a fresh process and folder).

An example whose output a test below checks (run twice there) is not run a third time by
``test_guide_example_runs``: each run starts a Python process, the biggest cost of this file.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDE = "\n".join((DOCS / page).read_text() for page in ("guide.md", "testing.md"))
RUNNABLE = re.findall(r"<!-- runs -->\n```python\n(.*?)```", GUIDE, re.S)


def _run(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "example.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)


LOGGING = "dataflow.sql"
"""Marks the logging example (``test_the_logging_example_logs_statements_without_values``)."""
PRINTED = {
    "transaction-example.db": ["DF-802", "[('a', 100), ('b', 0)]"],
    "transaction-nodes-example.db": ["committed", "['Ann']"],
    "express-example.db": ["Ann", "['Ann', 'Cy']", "3", "updated", "DF-102", "Ann B."],
    "raw-sql-example.db": ["[{'customer': 'ann', 'spent': 35}, {'customer': 'bob', 'spent': 12}]",
                           "True 2024-03-01T09:30:00+00:00", "2", "DF-719"],
}
"""What each example with that database file name prints (``test_the_transaction_examples_print_what_they_say``)."""
CHECKED = [LOGGING, *PRINTED]


def test_the_guide_has_runnable_examples() -> None:
    assert RUNNABLE
    for marker in CHECKED:
        assert len([c for c in RUNNABLE if marker in c]) == 1, f"one runnable example has {marker!r}"


@pytest.mark.parametrize("code", [pytest.param(code, id=f"example{i}") for i, code in enumerate(RUNNABLE)
                                  if not any(marker in code for marker in CHECKED)])
def test_guide_example_runs(tmp_path: Path, code: str) -> None:
    done = _run(tmp_path, code)
    assert done.returncode == 0, done.stderr


def test_the_logging_example_logs_statements_without_values(tmp_path: Path) -> None:
    (code,) = [c for c in RUNNABLE if LOGGING in c]
    for _ in range(2):  # the second run finds the table made by the first
        done = _run(tmp_path, code)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["1"]
        assert re.search(r'DEBUG dataflow\.sql: INSERT INTO "notes" .* \[\d+\.\d{3} ms, 3 params\]', done.stderr)
        assert re.search(r'SELECT COUNT\(\*\) FROM "notes" WHERE "id" = \? \[\d+\.\d{3} ms, 1 params\]', done.stderr)
        assert "secret plans" not in done.stderr


@pytest.mark.parametrize(("marker", "printed"), PRINTED.items())
def test_the_transaction_examples_print_what_they_say(tmp_path: Path, marker: str, printed: list[str]) -> None:
    (code,) = [c for c in RUNNABLE if marker in c]
    for _ in range(2):  # the second run starts from the first one's database
        done = _run(tmp_path, code)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == printed
