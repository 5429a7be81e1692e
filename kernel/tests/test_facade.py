"""The DataFlow facade with the kernel alone: options, dialect resolution, plugin-provided parts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from dataflow import DataFlow
from dataflow.dialect import DialectInfo
from dataflow.errors import DataFlowError
from dataflow.hookspecs import hookimpl
from dataflow.plugins import OptionInfo


@pytest.mark.parametrize("url", [None, "sqlite:///app.db", "sqlite://"])
def test_no_dialect_plugin_is_df403_naming_dataflow_sqlite(url: str | None) -> None:
    with pytest.raises(DataFlowError) as info:
        DataFlow(url, autoload=False)
    err = info.value
    assert err.code == "DF-403"
    assert "dataflow-sqlite" in err.message
    assert any("pip install dataflow-sqlite" in s for s in err.solutions)


@pytest.mark.parametrize(
    ("url", "package"),
    [("postgresql://u:secret@localhost/db", "dataflow-postgresql"), ("postgres://localhost/db", "dataflow-postgresql"),
     ("mysql://root@localhost/db", "dataflow-mysql"), ("mariadb://root@localhost/db", "dataflow-mysql")],
)
def test_server_dialects_name_their_package(url: str, package: str) -> None:
    with pytest.raises(DataFlowError) as info:
        DataFlow(url, autoload=False)
    assert info.value.code == "DF-403"
    assert package in info.value.message
    assert "secret" not in str(info.value)


def test_unknown_scheme_suggests_an_offered_one(make_db: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        make_db(url="oflfine://")
    assert info.value.code == "DF-403"
    assert "Did you mean 'offline'?" in info.value.message


def test_database_url_from_the_environment(make_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "offline:///from-env.db")
    db = make_db(url=None)
    assert db.url.scheme == "offline"
    assert db.url.database == "from-env.db"


def test_default_url_is_an_embedded_sqlite_file(make_db: Any) -> None:
    db = make_db(url=None)
    assert db.url.scheme == "sqlite"
    assert db.url.database == "dataflow.db"
    assert db.dialect.name == "offline"


def test_unavailable_dialect_is_df403_naming_its_package() -> None:
    class Missing:
        @hookimpl
        def dataflow_dialects(self) -> Iterable[DialectInfo]:
            return [DialectInfo("duck", ("duck",), lambda url, options: None, "dataflow-duck", False,
                                "duckdb is not installed")]

    with pytest.raises(DataFlowError) as info:
        DataFlow("duck://", autoload=False, plugins=[Missing()])
    assert info.value.code == "DF-403"
    assert "duckdb is not installed" in info.value.message
    assert any("dataflow-duck" in s for s in info.value.solutions)


def test_spec_options_are_accepted_with_defaults(make_db: Any) -> None:
    db = make_db(pool_size=5, auto_migrate=False, connect_timeout=2.5)
    assert db.options["pool_size"] == 5
    assert db.options["auto_migrate"] is False
    assert db.options["max_overflow"] == 10
    assert db.dialect.options.pool_size == 5


@pytest.mark.parametrize(("given", "closest"), [("pool_sise", "pool_size"), ("auto_migrat", "auto_migrate"),
                                               ("enable_metric", "enable_metrics")])
def test_unknown_option_is_df401_naming_the_closest(make_db: Any, given: str, closest: str) -> None:
    with pytest.raises(DataFlowError) as info:
        make_db(**{given: 1})
    assert info.value.code == "DF-401"
    assert f"Did you mean '{closest}'?" in info.value.message


@pytest.mark.parametrize(("option", "value"), [("pool_size", "10"), ("pool_size", True), ("auto_migrate", "yes"),
                                              ("pool_timeout", "30"), ("pool_size", -1)])
def test_wrong_option_type_or_value_is_df401(make_db: Any, option: str, value: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        make_db(**{option: value})
    assert info.value.code == "DF-401"
    assert option in info.value.message


def test_option_of_a_missing_first_party_plugin_names_the_package(make_db: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        make_db(use_native_arrays=True)
    assert info.value.code == "DF-401"
    assert "dataflow-native-arrays" in info.value.message


def test_plugin_declared_options_are_accepted(make_db: Any) -> None:
    class Audit:
        @hookimpl
        def dataflow_options(self) -> Iterable[OptionInfo]:
            return [OptionInfo("audit_table", "Where audit rows go.", "audit_log")]

    db = make_db(Audit(), audit_table="trail")
    assert db.options["audit_table"] == "trail"
    db = make_db(Audit())
    assert db.options["audit_table"] == "audit_log"


def test_bad_error_mode_and_name_are_df401(make_db: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        make_db(error_enhancement_mode="LOUD")
    assert info.value.code == "DF-401"
    with pytest.raises(DataFlowError) as info:
        make_db(name=5)
    assert info.value.code == "DF-401"


def test_instances_are_named_and_repr_hides_the_password(make_db: Any) -> None:
    db = make_db(url="offline://user:hunter2@host/db", name="main")
    assert db.name == "main"
    assert "hunter2" not in repr(db)
    assert make_db().name != make_db().name


def test_unknown_attribute_is_an_attribute_error(make_db: Any) -> None:
    with pytest.raises(AttributeError):
        _ = make_db().discover_schema


def test_close_and_context_managers(make_db: Any) -> None:
    closed: list[str] = []

    class Closer:
        @hookimpl
        def dataflow_close(self, db: DataFlow) -> None:
            closed.append(db.name)

    with make_db(Closer(), name="ctx") as db:
        assert db.name == "ctx"
    assert closed == ["ctx"]

