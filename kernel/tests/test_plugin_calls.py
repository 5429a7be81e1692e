"""How the kernel calls hooks: through pluggy one plugin at a time, wrappers refused where they cannot work,
failures logged (and, for ``dataflow_db_methods``, fatal with a DF code naming the plugin); and the
options of ``DataFlow(...)`` as one typed record."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Mapping
from typing import Any

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError, ErrorHint
from dataflow.hookspecs import PER_PLUGIN_HOOKS, hookimpl
from dataflow.options import KERNEL_OPTIONS, KernelOptions, Options
from dataflow.plugins import PluginManager
from dataflow.types import DialectInfo, OptionInfo


class Greeting:
    @hookimpl
    def dataflow_options(self) -> Iterable[OptionInfo]:
        return [OptionInfo("greeting", "How to greet.", "hello")]


class WrappedOptions:
    @hookimpl(wrapper=True)
    def dataflow_options(self) -> Generator[None, Any, Any]:
        result = yield
        return result


def test_collection_goes_through_pluggy_and_keeps_each_plugins_name() -> None:
    class Other:
        @hookimpl
        def dataflow_options(self) -> Iterable[OptionInfo]:
            return [OptionInfo("farewell", "How to part.", "bye"), OptionInfo("wave", "", True)]

    traced: list[str] = []
    manager = PluginManager(autoload=False, plugins=[Greeting(), Other()])
    undo = manager.pm.add_hookcall_monitoring(lambda name, impls, kwargs: traced.append(name),
                                              lambda outcome, name, impls, kwargs: None)
    try:
        found = manager.collect("dataflow_options")
    finally:
        undo()
    by_plugin: dict[str, list[str]] = {}
    for plugin, option in found:
        by_plugin.setdefault(plugin, []).append(option.name)
    assert sorted(by_plugin.values()) == [["farewell", "wave"], ["greeting"]]
    assert traced.count("dataflow_options") == 2, "one pluggy call per plugin"


def test_a_wrapper_on_a_collection_hook_is_refused_with_the_reason() -> None:
    with pytest.raises(DataFlowError) as info:
        PluginManager(autoload=False, plugins=[WrappedOptions()])
    assert info.value.code == "DF-404"
    assert "dataflow_options is a collection hook" in info.value.message
    assert "wrapper=True" in info.value.message


def test_an_installed_plugin_with_such_a_wrapper_is_failed_not_fatal(fake_dists: Any) -> None:
    fake_dists.add("wrapped", (
        "from dataflow.hookspecs import hookimpl\n\n"
        "@hookimpl(wrapper=True)\n"
        "def dataflow_dialects():\n"
        "    return (yield)\n"
    ))
    manager = PluginManager()
    status = manager.statuses["wrapped"]
    assert status.status == "failed"
    assert "dataflow_dialects is a collection hook" in status.reason


def test_wrappers_stay_allowed_where_pluggy_calls_the_hook_whole() -> None:
    assert "dataflow_execute_node" not in PER_PLUGIN_HOOKS

    class Timing:
        @hookimpl(wrapper=True)
        def dataflow_execute_node(self, node: Any, params: Any, ctx: Any) -> Generator[None, Any, Any]:
            return (yield)

    manager = PluginManager(autoload=False, plugins=[Timing()])
    assert manager.statuses[next(n for n in manager.statuses if n != "builtin")].status == "active"


def test_every_isolated_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hookimpl
        def dataflow_error_hints(self, error: DataFlowError) -> Iterable[ErrorHint]:
            raise RuntimeError("hint provider broke")

    class Fine:
        @hookimpl
        def dataflow_error_hints(self, error: DataFlowError) -> Iterable[ErrorHint]:
            return [ErrorHint(error.code, title="Fine title")]

    manager = PluginManager(autoload=False, plugins=[Broken(), Fine()])
    told: list[str] = []
    with caplog.at_level(logging.WARNING, logger="dataflow.plugins"):
        found = manager.call_isolated("dataflow_error_hints", error=DataFlowError("DF-101", "x"),
                                      on_error=lambda plugin, exc: told.append(str(exc)))
    assert [hint.title for _, hints in found for hint in hints] == ["Fine title"]
    assert told == ["hint provider broke"]
    assert any("dataflow_error_hints" in r.getMessage() and "hint provider broke" in r.getMessage()
               for r in caplog.records)


def test_a_failing_db_methods_provider_is_df405_naming_the_plugin(make_db: Any) -> None:
    class Broken:
        @hookimpl
        def dataflow_db_methods(self, db: DataFlow) -> Mapping[str, Any]:
            raise KeyError("missing_setting")

    with pytest.raises(DataFlowError) as info:
        make_db(Broken())
    err = info.value
    assert err.code == "DF-405"
    assert err.context["plugin"] in err.message
    assert "KeyError" in err.message
    assert isinstance(err.__cause__, KeyError)


def test_chained_register_model_goes_through_each_plugin_in_turn(make_db: Any) -> None:
    import attrs

    seen: list[str] = []

    def suffixer(suffix: str) -> Any:
        class Suffix:
            @hookimpl
            def dataflow_register_model(self, model: Any) -> Any:
                seen.append(model.table)
                return attrs.evolve(model, table=model.table + suffix)

        return Suffix()

    class Keeper:
        @hookimpl
        def dataflow_register_model(self, model: Any) -> Any:
            seen.append(model.table)
            return None  # keeps the previous plugin's result

    db = make_db(suffixer("_a"), suffixer("_b"), Keeper())

    @db.model
    class Item:
        name: str

    # Plugin objects are named by pluggy, so their order varies; each still sees the previous result.
    assert db.models["Item"].table in ("items_a_b", "items_b_a")
    assert len(seen) == 3 and seen[0] == "items"
    assert {"items_a", "items_b"} & set(seen), "a later plugin saw an earlier one's result"


# ---- options --------------------------------------------------------------------------------


def test_options_are_one_typed_record_plus_the_plugins(make_db: Any) -> None:
    db = make_db(Greeting(), pool_size=3, greeting="hi")
    assert isinstance(db.options, Options)
    assert isinstance(db.options.kernel, KernelOptions)
    assert db.options.kernel.pool_size == 3
    assert db.options["pool_size"] == 3
    assert db.options["greeting"] == "hi"
    assert set(KERNEL_OPTIONS) <= set(db.options)
    assert db.options.get("auto_migrate") is True
    with pytest.raises(TypeError):
        db.options["pool_size"] = 4  # type: ignore[index]


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("pool_size", "10", "expects int"), ("pool_size", True, "expects int"), ("pool_size", -1, "must not be negative"),
    ("pool_timeout", None, "must not be negative"), ("auto_migrate", 1, "expects bool"),
    ("error_enhancement_mode", "LOUD", "FULL, MINIMAL or DISABLED"),
])
def test_bad_option_values_are_df401(make_db: Any, option: str, value: Any, expected: str) -> None:
    with pytest.raises(DataFlowError) as info:
        make_db(**{option: value})
    assert info.value.code == "DF-401"
    assert expected in info.value.message


def test_every_kernel_option_is_documented_in_its_field() -> None:
    import attrs

    for field in attrs.fields(KernelOptions):
        assert field.metadata["help"], f"option {field.name} has no help text"
    assert KernelOptions().dialect_options().pool_size == 10


def test_dialect_records_come_from_dataflow_types() -> None:
    import dataflow.dialect
    import dataflow.migration
    import dataflow.plugins
    import dataflow.types

    assert dataflow.dialect.DialectInfo is DialectInfo is dataflow.types.DialectInfo
    assert dataflow.plugins.OptionInfo is OptionInfo
    assert dataflow.migration.MigrationPlan is dataflow.types.MigrationPlan
