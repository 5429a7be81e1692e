"""``dataflow plugins disable inspector`` removes the five commands and nothing else.

Run as a user would: the console script in a project folder whose ``.dataflow/plugins.json`` the
``disable`` command writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("dataflow")
COMMANDS = ("analyze", "debug", "validate", "perf", "generate")


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_") and k != "DATABASE_URL"}
    env.update(DATAFLOW_USER_DIR=str(folder / "user"), COLUMNS="200", INSPECT_URL=f"sqlite:///{folder / 'x.db'}")
    return subprocess.run([str(SCRIPT), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path, good_file: Path) -> Path:
    assert _run(tmp_path, "validate", str(good_file)).returncode == 0, "enabled, the commands work"
    done = _run(tmp_path, "plugins", "disable", "inspector")
    assert done.returncode == 0, done.stderr
    return tmp_path


def test_disabling_removes_the_commands(project: Path, good_file: Path) -> None:
    listing = _run(project, "--help")
    assert listing.returncode == 0
    rows = [line.split() for line in listing.stdout.splitlines() if line.startswith("│ ")]
    listed = {row[1] for row in rows if len(row) > 1}
    assert "plugins" in listed and not listed.intersection(COMMANDS)
    refused = _run(project, "validate", str(good_file))
    assert refused.returncode == 2
    assert "DF-408" in refused.stderr and "'inspector'" in refused.stderr
    assert "plugins enable inspector" in refused.stderr


def test_everything_else_still_works(project: Path) -> None:
    listed = _run(project, "plugins", "list")
    assert listed.returncode == 0 and "disabled" in listed.stdout
    demo = _run(project, "demo", "--rows", "300", "--json")
    assert demo.returncode == 0, demo.stderr
    script = project / "app.py"
    script.write_text(
        "from dataflow import DataFlow, LocalRuntime, WorkflowBuilder\n"
        "import sys\n"
        "db = DataFlow('sqlite:///app.db')\n"
        "@db.model\n"
        "class Note:\n"
        "    id: str\n"
        "    text: str\n"
        "wf = WorkflowBuilder()\n"
        "wf.add_node('NoteCreateNode', 'c', {'id': 'n1', 'text': 'hi'})\n"
        "print(LocalRuntime().execute(wf.build())[0]['c']['text'])\n"
        "assert 'dataflow_inspector' not in sys.modules\n"
        "db.close()\n")
    ran = subprocess.run([sys.executable, str(script)], cwd=project, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "hi"
    enabled = _run(project, "plugins", "enable", "inspector")
    assert enabled.returncode == 0 and "│ analyze " in _run(project, "--help").stdout
