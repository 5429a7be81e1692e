"""The row-level parts of the conformance suite against ``duckdb:///:memory:`` (a private in-memory
database per instance; the migration tests that need two instances on one database skip themselves)."""

import pytest
from dataflow.testing.fixtures import db, make_model, run, run_node  # noqa: F401
from dataflow.testing.suite.test_filters import *  # noqa: F403
from dataflow.testing.suite.test_nodes import *  # noqa: F403
from dataflow.testing.suite.test_safety import test_hostile_strings_are_stored_exactly  # noqa: F401
from dataflow.testing.suite.test_types import *  # noqa: F403
from dataflow.testing.suite.test_workflows import test_async_runtime_across_event_loops  # noqa: F401


@pytest.fixture
def dataflow_url():
    return "duckdb:///:memory:"
