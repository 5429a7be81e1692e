"""The testing plugin's pytest plugin (entry point ``pytest11: dataflow_testing``).

Fixtures (each function-scoped; sync, so they serve plain, pytest-asyncio and anyio tests alike):

- ``dataflow_db``: a ``DataFlow`` in test mode on the test URL, closed after the test;
- ``tdd_dataflow``: the same in TDD mode: whatever the test writes is rolled back at its end;
- ``tdd_test_context``: a ``TDDTestContext`` on ``tdd_dataflow``: its transaction, savepoints, the
  rows the test changed.

The test URL is ``--dataflow-url``, else ``DATAFLOW_TEST_URL``, else the ini option ``dataflow_url``,
else a SQLite file of the session (one per pytest-xdist worker).

At the end of every test, instances made in TDD mode outside these fixtures are rolled back, and
instances in test mode release the pools of event loops that have closed (every pool, with
``test_mode_aggressive_cleanup=True``). Nothing else happens in a project that makes no DataFlow
instance: the module imports nothing heavy until a fixture is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from dataflow_testing import mode

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

    from dataflow_testing.tdd import TDDTestContext

URL_ENV = "DATAFLOW_TEST_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dataflow", "DataFlow testing")
    group.addoption("--dataflow-url", dest="dataflow_url", default=None, metavar="URL",
                    help=f"Database URL of the dataflow_db / tdd_dataflow fixtures (else ${URL_ENV}, else the "
                         "dataflow_url ini option, else a SQLite file of the session).")
    parser.addini("dataflow_url", "Database URL of the dataflow_db / tdd_dataflow fixtures.", default="")


def pytest_configure(config: pytest.Config) -> None:
    mode.pytest_started()


def pytest_unconfigure(config: pytest.Config) -> None:
    mode.pytest_stopped()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    try:
        return (yield)
    finally:
        if len(mode.instances):
            from dataflow_testing.session import end_of_test

            end_of_test()


@pytest.fixture(scope="session")
def dataflow_test_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL the DataFlow fixtures use (see the module docstring for where it comes from)."""
    url = (request.config.getoption("dataflow_url") or os.environ.get(URL_ENV)
           or request.config.getini("dataflow_url"))
    if url:
        return str(url)
    return f"sqlite:///{tmp_path_factory.mktemp('dataflow') / 'test.db'}"


@pytest.fixture
def dataflow_db(dataflow_test_url: str) -> Iterator[DataFlow]:
    """A DataFlow in test mode on the test URL; its pools are released and it is closed after the test."""
    from dataflow.facade import DataFlow

    db = DataFlow(dataflow_test_url, test_mode=True)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def tdd_dataflow(dataflow_test_url: str) -> Iterator[DataFlow]:
    """A DataFlow in TDD mode on the test URL: everything the test writes is rolled back at its end
    (tables made by auto-migration too, except on MySQL, where they stay, empty)."""
    from dataflow.facade import DataFlow
    from dataflow.loop import run_sync

    from dataflow_testing.tdd import end_transaction

    db = DataFlow(dataflow_test_url, test_mode=True, tdd_mode=True)
    try:
        yield db
    finally:
        try:
            run_sync(end_transaction(db))
        finally:
            db.close()


@pytest.fixture
def tdd_test_context(tdd_dataflow: DataFlow) -> TDDTestContext:
    """The test's TDD transaction: ``db``, ``transaction``, ``savepoint()``, ``rollback()``,
    ``changes()`` and ``rows_written(model)``."""
    from dataflow_testing.tdd import TDDTestContext

    return TDDTestContext(tdd_dataflow)


FIXTURES = ("dataflow_test_url", "dataflow_db", "tdd_dataflow", "tdd_test_context")
"""The fixtures this plugin offers (kept clear of the kernel conformance suite's ``db``, ``make_model`` …)."""
