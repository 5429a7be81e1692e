"""Without the plugin: the kernel's own memo still checks each table once; the options name the package."""

from __future__ import annotations

import pytest
from dataflow import DataFlow
from dataflow.testing import raises_df

from .conftest import declare
from .test_schema_cache import create


def test_the_kernel_checks_each_table_once_without_the_plugin(make_instance, sqlite_url):
    db, counting = make_instance(sqlite_url, disable_plugins=["schema-cache"])
    model = declare(db)
    for i in range(3):
        create(db, model, str(i))
    assert counting.ensured == [model]
    with pytest.raises(AttributeError, match="dataflow-schema-cache"):
        db._schema_cache.get_metrics()


def test_its_options_name_the_package(sqlite_url):
    with raises_df("DF-401", match="dataflow-schema-cache"):
        DataFlow(sqlite_url, disable_plugins=["schema-cache"], schema_cache_ttl=300)
