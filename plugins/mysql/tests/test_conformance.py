"""The shared dialect conformance suite (dataflow.testing.suite) run against MySQL / MariaDB."""

import pytest
from dataflow.testing import server_url
from dataflow.testing.suite import *  # noqa: F403


@pytest.fixture
def dataflow_url():
    return server_url("mysql")

# 50 concurrent first uses of a model: the migrate plugin's first ensure holds a lock connection
# and a DDL connection at once, so 50 of them exhaust a 20-connection pool (DF-507). The same test
# fails on PostgreSQL; the fix belongs in dataflow-migrate / dataflow-locks, not in the dialect.
test_fifty_concurrent_tasks = pytest.mark.xfail(
    reason="dataflow-migrate: concurrent first ensures need two connections each", strict=False
)(test_fifty_concurrent_tasks)  # noqa: F405
