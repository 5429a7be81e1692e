"""Caller-described operations: type names and default values that DDL cannot bind are checked."""

from __future__ import annotations

import pytest
from dataflow import DataFlow, DataFlowError
from dataflow_risk.catalog import catalog_for
from dataflow_risk.not_null_handler import checked_type, sql_literal
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
        operation_statements(catalog, "add_column", "users", {"column_name": "x", "data_type": "TEXT); DROP TABLE t"})
    assert info.value.code == "DF-102"
    with pytest.raises(DataFlowError) as info:
        operation_statements(catalog, "drop_column", "users", {})
    assert info.value.code == "DF-101"


def test_literals_escape_quotes_and_mysql_backslashes():
    assert sql_literal("it's") == "'it''s'"
    assert sql_literal("a\\", "postgresql") == "'a\\'"
    assert sql_literal("a\\", "mysql") == "'a\\\\'"
    assert sql_literal(None) == "NULL" and sql_literal(True) == "1" and sql_literal(2.5) == "2.5"
    with pytest.raises(ValueError):
        sql_literal(float("nan"))
