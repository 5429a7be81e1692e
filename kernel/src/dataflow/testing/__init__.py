"""DataFlow's testing package: the dialect conformance suite and the helpers dialect tests share.

Run the whole conformance suite against a dialect with one test module (``tests/test_conformance.py``)::

    import pytest
    from dataflow.testing.suite import *  # noqa: F403  (the tests and their fixtures)

    @pytest.fixture
    def dataflow_url(tmp_path):
        return f"sqlite:///{tmp_path / 'conformance.db'}"

For a server dialect, ``server_url`` gives the test server's URL, skipping when it is unreachable
locally and failing under ``CI=true``::

    from dataflow.testing import server_url

    @pytest.fixture
    def dataflow_url():
        return server_url("postgresql")

Helpers for a dialect's own tests: ``raises_df`` (expect a DF code, looking through DF-802),
``raw_fetch`` / ``raw_execute`` / ``raw_rows`` (SQL through the instance's connection),
``unique_table`` and ``ModelFactory``. The fixtures alone (``db``, ``make_model``, ``run``,
``run_node``) come with ``from dataflow.testing.fixtures import db, make_model, run, run_node``.
Shared model and workflow building blocks (``ScalarFields``, ``person_model``, ``create_then_read``,
``run_nodes``) are in ``dataflow.testing.helpers``.

Attributes load lazily so that importing the pytest plugin (``dataflow.testing.pytest_plugin``)
does not import the fixtures before pytest can rewrite their asserts. See README.md here.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ModelFactory",
    "probe_server",
    "raises_df",
    "raw_execute",
    "raw_fetch",
    "raw_rows",
    "server_url",
    "table_columns",
    "unique_table",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("dataflow.testing.fixtures"), name)
    raise AttributeError(f"module 'dataflow.testing' has no attribute {name!r}")
