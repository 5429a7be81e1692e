"""The pytest plugin as a user meets it: test files using the fixtures run by pytest itself (pytester),
failing and passing as they should, on SQLite, PostgreSQL and MariaDB, with plain, pytest-asyncio and
anyio tests, and with pytest-xdist; the spec's fixture patterns as written; harmless elsewhere."""

from __future__ import annotations

import importlib
import textwrap

import pytest
from dataflow.testing.fixtures import DIALECTS, dialect_url

# pytester's in-process runs forget the modules first imported inside them, and a driver's C extension
# cannot be imported twice in one process: the dialects and their drivers are imported up front.
for _module in ("dataflow_sqlite.dialect", "dataflow_postgresql.dialect", "dataflow_mysql.dialect"):
    importlib.import_module(_module)

USER_TESTS = '''
import uuid

import pytest
from dataflow import AsyncLocalRuntime, LocalRuntime, WorkflowBuilder

TABLE = "{table}"


def declare(db):
    @db.model
    class Member:
        id: str
        name: str
        __tablename__ = TABLE

    return "Member"


def create(node_id, **fields):
    wf = WorkflowBuilder()
    wf.add_node("MemberCreateNode", node_id, fields)
    wf.add_node("MemberCountNode", "count", {{}})
    wf.add_connection(node_id, "id", "count", "input_data")
    return wf.build()


# Two tests write the same ids: each sees only its own rows, because the other's were rolled back.
def test_first_writer(tdd_dataflow):
    declare(tdd_dataflow)
    results, _ = LocalRuntime().execute(create("a", id="u1", name="First"))
    assert results["count"]["count"] == 1


def test_second_writer_same_id(tdd_dataflow):
    declare(tdd_dataflow)
    results, _ = LocalRuntime().execute(create("a", id="u1", name="Second"))
    assert results["count"]["count"] == 1


@pytest.mark.asyncio
async def test_pytest_asyncio(tdd_test_context):
    declare(tdd_test_context.db)
    results, _ = await AsyncLocalRuntime().execute_workflow_async(create("a", id="u1", name="Async"))
    assert results["count"]["count"] == 1
    assert [r["name"] for r in tdd_test_context.rows_written("Member")] == ["Async"]


@pytest.mark.anyio
async def test_anyio(tdd_test_context):
    declare(tdd_test_context.db)
    async with tdd_test_context.savepoint() as savepoint:
        await AsyncLocalRuntime().execute_workflow_async(create("a", id="u2", name="Undone"))
        savepoint.rollback()
    results, _ = await AsyncLocalRuntime().execute_workflow_async(create("b", id="u1", name="Anyio"))
    assert results["count"]["count"] == 1


def test_dataflow_db_is_in_test_mode(dataflow_db):
    assert dataflow_db.get_cleanup_metrics()["test_mode_enabled"] is True


def test_fails_as_it_should(tdd_dataflow):
    declare(tdd_dataflow)
    results, _ = LocalRuntime().execute(create("a", id="u1", name="Wrong"))
    assert results["count"]["count"] == 2
'''

CONFTEST = '''
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"
'''


def _ini(pytester: pytest.Pytester, *lines: str) -> None:
    pytester.makeini("\n".join(["[pytest]", "asyncio_default_fixture_loop_scope = function", *lines]) + "\n")


def _write_user_project(pytester: pytest.Pytester, table: str, *ini: str) -> None:
    pytester.makepyfile(test_members=USER_TESTS.format(table=table), conftest=CONFTEST)
    _ini(pytester, *ini)


@pytest.fixture(params=DIALECTS)
def server(request: pytest.FixtureRequest, tmp_path) -> str:
    return dialect_url(request.param, tmp_path / "user.db")


def _table_gone_or_empty(url: str, table: str) -> None:
    from dataflow import DataFlow
    from dataflow.testing import raw_execute, raw_fetch, table_columns

    db = DataFlow(url)
    try:
        if table_columns(db, table) is not None:
            assert db.dialect.name == "mysql", "the tables of TDD tests are rolled back (MySQL keeps them)"
            assert raw_fetch(db, f"SELECT COUNT(*) FROM {db.dialect.quote(table)}")[0][0] == 0
            raw_execute(db, f"DROP TABLE {db.dialect.quote(table)}")
    finally:
        db.close()


def test_a_users_tests_pass_and_fail_as_they_should_on_every_database(pytester: pytest.Pytester, server: str,
                                                                       table: str) -> None:
    _write_user_project(pytester, table)
    result = pytester.runpytest("-p", "no:cacheprovider", f"--dataflow-url={server}")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*test_fails_as_it_should*", "*assert 1 == 2*"])
    _table_gone_or_empty(server, table)


@pytest.mark.postgresql
def test_tdd_isolates_pytest_xdist_workers_sharing_a_server(pytester: pytest.Pytester, table: str) -> None:
    from dataflow.testing import server_url

    url = server_url("postgresql")
    _write_user_project(pytester, table, f"dataflow_url = {url}")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-k", "not fails")
    result.assert_outcomes(passed=5)
    _table_gone_or_empty(url, table)


def test_the_url_comes_from_the_environment_or_a_sqlite_file_of_the_session(pytester: pytest.Pytester,
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path) -> None:
    _ini(pytester)
    pytester.makepyfile(test_url='''
        def test_url(dataflow_db, dataflow_test_url):
            print("URL", dataflow_test_url)
            assert str(dataflow_db.url.raw) == dataflow_test_url
    ''')
    monkeypatch.delenv("DATAFLOW_TEST_URL", raising=False)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*URL sqlite:///*test.db*"])
    monkeypatch.setenv("DATAFLOW_TEST_URL", f"sqlite:///{tmp_path / 'env.db'}")
    result = pytester.runpytest("-s")
    result.stdout.fnmatch_lines([f"*URL sqlite:///{tmp_path / 'env.db'}*"])


@pytest.mark.postgresql
def test_the_spec_recommended_fixture_pattern_runs_as_written(pytester: pytest.Pytester) -> None:
    from dataflow.testing import server_url

    server = server_url("postgresql")  # the spec writes it against PostgreSQL
    _ini(pytester, "asyncio_mode = auto")
    pytester.makeconftest(textwrap.dedent(f'''
        # tests/conftest.py
        import pytest
        from dataflow import DataFlow

        @pytest.fixture(scope="function")
        async def db():
            """DataFlow with automatic cleanup."""
            db = DataFlow("{server}", test_mode=True)
            yield db
            await db.cleanup_all_pools()
    '''))
    pytester.makepyfile(test_user=textwrap.dedent('''
        # tests/test_user.py
        import pytest

        @pytest.mark.asyncio
        async def test_user_create(db):
            @db.model
            class User:
                id: str
                name: str

            # Test operations...
            # Cleanup automatic via fixture
    '''))
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_spec_global_test_mode_pattern_runs_as_written(pytester: pytest.Pytester, tmp_path) -> None:
    _ini(pytester)
    pytester.makeconftest('''
        # tests/conftest.py
        import pytest
        from dataflow import DataFlow

        @pytest.fixture(scope="session", autouse=True)
        def enable_test_mode():
            DataFlow.enable_test_mode()
            yield
            DataFlow.disable_test_mode()

        # All tests inherit test mode automatically
    ''')
    pytester.makepyfile(test_global=f'''
        from dataflow import DataFlow

        def test_inherits_test_mode():
            with DataFlow("sqlite:///{tmp_path / 'global.db'}") as db:
                assert db.get_cleanup_metrics()["test_mode_enabled"] is True
    ''')
    pytester.runpytest().assert_outcomes(passed=1)


def test_harmless_for_a_project_that_does_not_use_it(pytester: pytest.Pytester) -> None:
    _ini(pytester)
    pytester.makepyfile(test_plain='''
        def test_plain():
            assert 1 + 1 == 2
    ''')
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.runpytest("-p", "no:dataflow_testing").assert_outcomes(passed=1)
    assert pytester.parseconfig("--dataflow-url=sqlite:///x.db").getoption("dataflow_url") == "sqlite:///x.db"


def test_with_the_dataflow_plugin_disabled_dataflow_still_works_and_names_the_package(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DATAFLOW_DISABLE_PLUGINS", "testing")
    pytester.makepyfile(test_disabled=f'''
        import pytest
        from dataflow import DataFlow, LocalRuntime, WorkflowBuilder

        def test_core_works_without_the_testing_plugin():
            with DataFlow("sqlite:///{tmp_path / 'off.db'}") as db:
                @db.model
                class Note:
                    id: str
                    text: str

                wf = WorkflowBuilder()
                wf.add_node("NoteCreateNode", "c", {{"id": "n1", "text": "hi"}})
                assert LocalRuntime().execute(wf.build())[0]["c"]["text"] == "hi"
                with pytest.raises(AttributeError, match="dataflow-testing"):
                    DataFlow.enable_test_mode()
    ''')
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_guides_first_example_runs_as_a_users_test(pytester: pytest.Pytester) -> None:
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[3] / "docs" / "testing.md").read_text()
    first = re.findall(r"```python\n(.*?)```", page, re.S)[0]
    assert "def test_signup(tdd_dataflow)" in first
    _ini(pytester)
    pytester.makepyfile(test_signup=first)
    pytester.runpytest().assert_outcomes(passed=1)
