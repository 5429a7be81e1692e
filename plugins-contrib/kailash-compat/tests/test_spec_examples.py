"""Every runnable code example of the spec runs verbatim, with only its database URL changed.

The examples are read from the spec (``spec_examples.examples()``), and ``EXPECTED`` classifies each:
runs (on SQLite, and on PostgreSQL where the example is written for it), waits for an issue
(``xfail(strict=True)``: it fails loudly once the feature lands, to be moved to "runs"), or can never
run as written (skipped, with the reason, and listed in the README). Each example runs in a module of
its own, in a folder of its own; on PostgreSQL each gets a database of its own, dropped afterwards,
since the examples use fixed table names (``users``).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import inspect
import re
import sys
import types
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow
from dataflow.testing import raw_execute, server_url
from kailash_compat_spec_examples import (  # type: ignore[import-not-found]
    CONTEXT,
    EXPECTED,
    SPEC,
    STANDARD_IMPORTS,
    Example,
    Never,
    Waits,
    examples,
    with_url,
)

ALL = examples()
BY_NUMBER = {e.number: e for e in ALL}
README = Path(__file__).resolve().parents[1] / "README.md"


def _cases() -> list[Any]:
    cases = []
    for example in ALL:
        expected = EXPECTED.get(example.number)
        if isinstance(expected, Never):
            cases.append(pytest.param(example, "sqlite", id=f"P{example.number}",
                                      marks=pytest.mark.skip(reason=f"cannot run as written: {expected.reason}")))
            continue
        databases = expected.databases if expected is not None else ("sqlite",)
        for database in databases:
            marks: list[Any] = []
            if database == "postgresql":
                marks.append(pytest.mark.postgresql)
            if isinstance(expected, Waits):
                marks.append(pytest.mark.xfail(strict=True, reason=f"waits for issue #{expected.issue}: "
                                                                   f"{expected.reason}"))
            cases.append(pytest.param(example, database, id=f"P{example.number}-{database}", marks=marks))
    return cases


@contextlib.contextmanager
def _database(kind: str, folder: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file in ``folder``, or a fresh PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'spec.db'}"
        return
    if importlib.util.find_spec("dataflow_postgresql") is None:
        pytest.skip("the PostgreSQL dialect plugin (dataflow-postgresql) is not installed")
    admin_url = server_url("postgresql")
    name = f"spec_{uuid.uuid4().hex[:12]}"
    admin = DataFlow(admin_url)
    try:
        raw_execute(admin, f'CREATE DATABASE "{name}"')
        try:
            yield re.sub(r"/[^/?]*(\?|$)", rf"/{name}\1", admin_url.rstrip("/"), count=1) \
                if admin_url.count("/") >= 3 else f"{admin_url}/{name}"
        finally:
            raw_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def _skip_without_providers(example: Example) -> None:
    """Skip (with the reason) an example whose imports need a plugin this environment lacks (``nox -s contrib``
    installs only the core); in the workspace every provider is installed and nothing skips."""
    chain = [BY_NUMBER[n].code for n in (*EXPECTED[example.number].after, example.number)]
    chain += [CONTEXT[name] for n in (*EXPECTED[example.number].after, example.number)
              for name in EXPECTED[n].context]
    if any("dataflow.platform.inspector" in code for code in chain) and importlib.util.find_spec(
            "dataflow_inspector") is None:
        pytest.skip("the example imports dataflow.platform.inspector, served by dataflow-inspector, which is not "
                    "installed")
    if any("dataflow.migrations" in code for code in chain):
        for module, package in (("dataflow_risk", "dataflow-risk"), ("dataflow_locks", "dataflow-locks")):
            if importlib.util.find_spec(module) is None:
                pytest.skip(f"the example imports dataflow.migrations, served by {package}, which is not installed")


def _run_code(code: str, module: types.ModuleType, label: str) -> None:
    compiled = compile(code, label, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    if compiled.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(compiled, module.__dict__))
    else:
        exec(compiled, module.__dict__)


def run_example(example: Example, url: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Run ``example`` (after the examples it continues and its context) in a fresh module; that module."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("DATABASE_URL", url)
    module = types.ModuleType(f"spec_example_{example.number}_{uuid.uuid4().hex[:6]}")
    module.__dict__["TEST_URL"] = url
    sys.modules[module.__name__] = module
    try:
        _run_code(STANDARD_IMPORTS, module, "<spec imports>")
        steps: list[tuple[str, str]] = []
        given: set[str] = set()
        for number in (*EXPECTED[example.number].after, example.number):
            step = EXPECTED[number]
            for name in step.context:
                if name not in given:
                    given.add(name)
                    steps.append((f"context {name}", CONTEXT[name]))
            steps.append((f"P{number}", with_url(BY_NUMBER[number].code, url)))
        with warnings.catch_warnings():
            # The testing examples mark tests with pytest-asyncio's mark, which this suite does not load.
            warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
            for label, code in steps:
                _run_code(code, module, f"<spec {label}, line {example.line}>")
        return module
    finally:
        for value in list(module.__dict__.values()):
            if isinstance(value, DataFlow):
                value.close()
        sys.modules.pop(module.__name__, None)


@pytest.mark.parametrize(("example", "database"), _cases())
def test_spec_example_runs(example: Example, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    _skip_without_providers(example)
    with _database(database, tmp_path) as url:
        run_example(example, url, tmp_path, monkeypatch)
    printed = capsys.readouterr().out.splitlines()
    expected = EXPECTED[example.number]
    for line in getattr(expected, "prints", ()):
        assert line in printed, f"P{example.number} should print {line!r}; it printed {printed}"


NEVER = [pytest.param(e, id=f"P{e.number}") for e in ALL if isinstance(EXPECTED.get(e.number), Never)]


@pytest.mark.parametrize("example", NEVER)
def test_an_example_listed_as_never_running_does_fail(example: Example, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's list is checked, not believed: each of those examples really fails as written."""
    with _database("sqlite", tmp_path) as url, pytest.raises((Exception, SyntaxError)) as failure:
        run_example(example, url, tmp_path, monkeypatch)
    print(f"P{example.number}: {type(failure.value).__name__}: {str(failure.value)[:200]}")


# ---- the table itself ----------------------------------------------------------------------------------
def test_every_example_is_classified_and_nothing_else() -> None:
    assert sorted(EXPECTED) == [e.number for e in ALL], "an example was added to or removed from the spec"


def test_the_vendored_spec_is_the_shared_one() -> None:
    """The examples are read from a copy kept with these tests; it must match the spec when one is at hand."""
    for root in Path(__file__).resolve().parents:
        shared = root / "shared" / "spec" / SPEC.name
        if shared.is_file():
            assert shared.read_text(encoding="utf-8") == SPEC.read_text(encoding="utf-8"), \
                f"the spec changed: copy {shared} over {SPEC} and review EXPECTED"
            return
    pytest.skip("the shared spec is not beside this checkout; the vendored copy is used")


def test_the_readme_lists_every_example_that_cannot_run() -> None:
    text = README.read_text(encoding="utf-8")
    for number, expected in EXPECTED.items():
        if isinstance(expected, Never):
            assert re.search(rf"\|\s*{number}\s*\|", text), f"example {number} is not listed in the README"


def test_server_urls_are_the_only_change() -> None:
    code = 'db = DataFlow("postgresql://user:pass@localhost/db")\nother = "postgresql is nice"\nx = "sqlite:///dev.db"'
    assert with_url(code, "sqlite:///t.db") == code.replace("postgresql://user:pass@localhost/db", "sqlite:///t.db")
