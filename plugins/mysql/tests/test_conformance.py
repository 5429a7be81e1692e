"""The shared dialect conformance suite (dataflow.testing.suite) run against MySQL / MariaDB."""

import pytest
from dataflow.testing import server_url
from dataflow.testing.suite import *  # noqa: F403


@pytest.fixture
def dataflow_url():
    return server_url("mysql")
