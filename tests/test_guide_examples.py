"""The guide's examples marked ``<!-- runs -->`` (docs/guide.md and the pages it links to, such as
docs/testing.md) run as written (each in a fresh process and folder)."""

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


def test_the_guide_has_runnable_examples() -> None:
    assert RUNNABLE


@pytest.mark.parametrize("code", RUNNABLE, ids=[f"example{i}" for i in range(len(RUNNABLE))])
def test_guide_example_runs(tmp_path: Path, code: str) -> None:
    done = _run(tmp_path, code)
    assert done.returncode == 0, done.stderr


def test_the_logging_example_logs_statements_without_values(tmp_path: Path) -> None:
    (code,) = [c for c in RUNNABLE if "dataflow.sql" in c]
    for _ in range(2):  # the second run finds the table made by the first
        done = _run(tmp_path, code)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["1"]
        assert re.search(r'DEBUG dataflow\.sql: INSERT INTO "notes" .* \[\d+\.\d{3} ms, 3 params\]', done.stderr)
        assert re.search(r'SELECT COUNT\(\*\) FROM "notes" WHERE "id" = \? \[\d+\.\d{3} ms, 1 params\]', done.stderr)
        assert "secret plans" not in done.stderr


@pytest.mark.parametrize(("marker", "printed"), [
    ("transaction-example.db", ["DF-802", "[('a', 100), ('b', 0)]"]),
    ("transaction-nodes-example.db", ["committed", "['Ann']"]),
    ("express-example.db", ["Ann", "['Ann', 'Cy']", "3", "updated", "DF-102", "Ann B."]),
    ("raw-sql-example.db", ["[{'customer': 'ann', 'spent': 35}, {'customer': 'bob', 'spent': 12}]",
                            "True 2024-03-01T09:30:00+00:00", "2", "DF-719"]),
])
def test_the_transaction_examples_print_what_they_say(tmp_path: Path, marker: str, printed: list[str]) -> None:
    (code,) = [c for c in RUNNABLE if marker in c]
    for _ in range(2):  # the second run starts from the first one's database
        done = _run(tmp_path, code)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == printed
