"""Fixtures of the export plugin's tests: a URL per real database, through the kernel's conformance fixtures.

With only the core installed (``nox -s contrib``), the server databases skip: their dialect plugins are
not there. In the workspace every database runs (an unreachable server skips locally, fails with CI=true).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from dataflow.testing.fixtures import DIALECTS, db, dialect_url, make_model, run, run_node  # noqa: F401  (fixtures)


@pytest.fixture(params=DIALECTS)
def dataflow_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = request.param
    if kind != "sqlite" and importlib.util.find_spec(f"dataflow_{kind}") is None:
        pytest.skip(f"the {kind} dialect plugin (dataflow-{kind}) is not installed")
    return dialect_url(kind, tmp_path / "export.db")
