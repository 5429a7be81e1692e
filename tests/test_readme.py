"""The README's examples run as written, and CI runs the README's test command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_python_example_runs_twice(tmp_path):
    (example,) = _blocks("python")
    script = tmp_path / "example.py"
    script.write_text(example)
    outputs = [
        subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        for _ in range(2)
    ]
    for done in outputs:
        assert done.returncode == 0, done.stderr
    assert outputs[0].stdout.split() == ["created", "dark", "1"]
    assert outputs[1].stdout.split() == ["updated", "dark", "1"]


def test_quick_start_is_two_commands_and_ci_runs_the_test_ones():
    install, test = (block.strip() for block in _blocks("bash")[:2])
    assert "uv sync --all-packages" in install and "dataflow demo" in install
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = test.splitlines()
    assert commands and all(command in ci for command in commands)
    assert [line for line in ci if line.startswith("uv run pytest")] == commands, "CI runs exactly the README's"


def test_demo_runs(tmp_path, monkeypatch, capsys):
    from dataflow.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--rows", "2000", "--json"]) == 0, capsys.readouterr().err
    assert '"upsert": "created"' in capsys.readouterr().out


CORE = "sqlite,crud,runtime"
OPTIONAL = ("errors", "migrate", "locks", "risk", "postgresql", "mysql", "export", "kailash-compat", "inspector")


@pytest.mark.parametrize("switch", [("DATAFLOW_LOAD_PLUGINS", CORE),
                                    *[("DATAFLOW_DISABLE_PLUGINS", name) for name in OPTIONAL]],
                         ids=lambda s: f"{s[0]}={s[1]}")
def test_the_core_alone_and_each_optional_plugin_disabled_still_work(tmp_path, switch):
    """The kernel with sqlite, crud and runtime is the product; no other plugin is load-bearing."""
    (example,) = _blocks("python")
    script = tmp_path / "example.py"
    script.write_text(example)
    env = {**os.environ, switch[0]: switch[1]}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["created", "dark"]
