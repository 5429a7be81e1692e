"""Caller-described operations: type names and default values that DDL cannot bind are checked."""

from __future__ import annotations

import pytest
from dataflow import DataFlow, DataFlowError
from dataflow.loop import run_sync
from dataflow_risk.catalog import catalog_for
from dataflow_risk.not_null_handler import checked_type
from dataflow_risk.operations import operation_statements


@pytest.fixture
def db(tmp_path):
    instance = DataFlow(f"sqlite:///{tmp_path / 'ops.db'}")
    yield instance
    instance.close()


@pytest.mark.parametrize("name", ["TEXT", "VARCHAR(255)", "NUMERIC(10, 2)", "DOUBLE PRECISION", "INTEGER[]"])
def test_type_names_pass(db, name):
    assert checked_type(db, name) == name


@pytest.mark.parametrize("name", ["TEXT; DROP TABLE users", "int) --", "", None, 5, "TEXT DEFAULT 'x'"])
def test_hostile_type_names_are_df102(db, name):
    with pytest.raises(DataFlowError) as info:
        checked_type(db, name)
    assert info.value.code == "DF-102"


def test_described_operations_refuse_hostile_types_and_missing_columns(db):
    catalog = catalog_for(db)
    with pytest.raises(DataFlowError) as info:
        run_sync(operation_statements(catalog, "add_column", "users",
                                      {"column_name": "x", "data_type": "TEXT); DROP TABLE t"}))
    assert info.value.code == "DF-102"
    with pytest.raises(DataFlowError) as info:
        run_sync(operation_statements(catalog, "drop_column", "users", {}))
    assert info.value.code == "DF-101"
    with pytest.raises(DataFlowError) as info:
        run_sync(operation_statements(catalog, "drop_column", "users", {"column_name": "x"}))
    assert info.value.code == "DF-304" and "users" in info.value.message


@pytest.mark.parametrize(("url", "backslash"), [("sqlite:///:memory:", "'a\\'"),
                                              ("postgresql://root@127.0.0.1/test", "'a\\'"),
                                              ("mysql://root@127.0.0.1/test", "'a\\\\'")])
def test_each_dialect_escapes_its_ddl_literals(url, backslash):
    with DataFlow(url) as instance:  # no connection is made: literals need none
        dialect = instance.dialect
        assert dialect.literal("it's") == "'it''s'"
        assert dialect.literal("a\\") == backslash
        assert dialect.literal(None) == "NULL" and dialect.literal(2.5) == "2.5"
        assert dialect.literal(float("nan")) is None and dialect.literal({"a": 1}) is None
