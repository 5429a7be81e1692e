"""The dialect conformance suite: every test, plus the fixtures they use, for one star-import.

A dialect runs the whole suite with one test module::

    import pytest
    from dataflow.testing.suite import *  # noqa: F403

    @pytest.fixture
    def dataflow_url(tmp_path):
        return f"sqlite:///{tmp_path / 'conformance.db'}"

Each ``test_*`` module here may also be star-imported on its own to run one part of the suite
(``from dataflow.testing.suite.test_filters import *`` plus ``from dataflow.testing.fixtures import *``).
Names are checked at import: two suite modules defining the same test name would silently shadow
each other in the importing module, so that is an error here.
"""

from __future__ import annotations

import importlib
from typing import Any

from dataflow.testing import fixtures as _fixtures

MODULES = ("test_nodes", "test_filters", "test_types", "test_safety", "test_schema", "test_workflows",
           "test_hostile", "test_ordering", "test_build_checks", "test_run_order", "test_parity",
           "test_wiring_types", "test_transactions", "test_introspection", "test_ddl", "test_locking",
           "test_instance_transactions", "test_projections", "test_atomic_updates", "test_express",
           "test_rawsql", "test_sqllog", "test_protection", "test_aggregates", "test_relations",
           "test_scopes", "test_list_operators")
"""The suite's modules, in the order their tests are collected."""


def _gather() -> dict[str, Any]:
    exported: dict[str, Any] = {name: getattr(_fixtures, name) for name in _fixtures.FIXTURE_NAMES}
    for module_name in MODULES:
        module = importlib.import_module(f"{__name__}.{module_name}")
        for name in module.__all__:
            if name in exported:
                raise RuntimeError(f"conformance suite: {name!r} of {module_name} is defined twice")
            exported[name] = getattr(module, name)
    return exported


_exported = _gather()
globals().update(_exported)
__all__ = list(_exported)  # not the submodules themselves, which are also named test_*
