"""DataFlow's pytest plugin (entry point ``pytest11: dataflow``), loaded in every pytest session.

It stays small on purpose because it is active for every package in the environment: it asks pytest
to rewrite the asserts of the conformance suite and its fixtures (they live in an installed package,
where pytest would otherwise leave bare asserts), and declares the markers the suite uses. It defines
no fixtures: a test module opts into the suite's fixtures by importing them (see
``dataflow.testing``), so nobody's own ``db`` fixture is shadowed.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("dataflow.testing.fixtures", "dataflow.testing.suite")

MARKERS = (
    "postgresql: needs the PostgreSQL test server",
    "mysql: needs the MySQL / MariaDB test server",
    "slow: long-running (load tests)",
    "conformance: a test of the DataFlow dialect conformance suite",
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
