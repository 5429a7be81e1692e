"""The dialect conformance suite against SQLite: a database file per test, in tmp_path."""

import pytest
from dataflow.testing.suite import *  # noqa: F403


@pytest.fixture
def dataflow_url(tmp_path):
    return f"sqlite:///{tmp_path / 'conformance.db'}"
