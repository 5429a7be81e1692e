"""The plugin manager: discovery, blocking before import, precedence of the switches, load statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dataflow.errors import DataFlowError
from dataflow.hookspecs import hookimpl
from dataflow.plugins import (
    PluginManager,
    entry_points,
    project_state_file,
    read_state,
    user_state_file,
    write_state,
)

GOOD = '''"""A throwaway plugin that declares one option."""
from dataflow.hookspecs import hookimpl
from dataflow.plugins import OptionInfo


@hookimpl
def dataflow_options():
    return [OptionInfo("{name}_level", "test option", 1)]
'''


def good(name: str) -> str:
    return GOOD.replace("{name}", name)


def status_of(manager: PluginManager, name: str) -> tuple[str, str]:
    status = manager.statuses[name]
    return status.status, status.reason


@pytest.fixture
def three(fake_dists: Any) -> dict[str, str]:
    """Three working plugins, alpha / beta / gamma; name → module."""
    return {name: fake_dists.add(name, good(name)) for name in ("alpha", "beta", "gamma")}


def active(manager: PluginManager, names: dict[str, str]) -> set[str]:
    return {n for n in names if manager.statuses[n].status == "active"}


def test_entry_points_are_read_without_importing(three: dict[str, str]) -> None:
    found = {e.name: e for e in entry_points()}
    assert {"alpha", "beta", "gamma"} <= set(found)
    assert found["alpha"].distribution == "dataflow-alpha"
    assert found["alpha"].version == "1.0"
    assert found["alpha"].value == three["alpha"]
    assert three["alpha"] not in sys.modules


def test_all_installed_plugins_load_by_default(three: dict[str, str]) -> None:
    manager = PluginManager()
    assert active(manager, three) == {"alpha", "beta", "gamma"}
    assert manager.statuses["alpha"].hooks == ("dataflow_options",)
    assert manager.statuses["builtin"].status == "essential"
    assert all(m in sys.modules for m in three.values())


def test_autoload_false_loads_nothing(three: dict[str, str]) -> None:
    manager = PluginManager(autoload=False)
    assert set(manager.statuses) == {"builtin"}
    assert not any(m in sys.modules for m in three.values())


def test_disabled_plugin_is_never_imported(three: dict[str, str]) -> None:
    manager = PluginManager(disable=["beta"])
    assert status_of(manager, "beta") == ("disabled", "disabled by disable_plugins=")
    assert three["beta"] not in sys.modules
    assert manager.plugin("beta") is None
    assert active(manager, three) == {"alpha", "gamma"}


def test_explicit_allow_list(three: dict[str, str]) -> None:
    manager = PluginManager(plugins=["alpha"])
    assert active(manager, three) == {"alpha"}
    assert status_of(manager, "gamma") == ("disabled", "not in plugins=")


def test_allow_list_naming_an_unknown_plugin_is_df401(three: dict[str, str]) -> None:
    with pytest.raises(DataFlowError) as info:
        PluginManager(plugins=["alpah"])
    assert info.value.code == "DF-401"
    assert "Did you mean 'alpha'?" in info.value.message


@pytest.mark.parametrize("setting", ["disable_plugins=", "DATAFLOW_DISABLE_PLUGINS", "DATAFLOW_LOAD_PLUGINS"])
def test_misspelt_plugin_names_are_df401_naming_the_closest(
    three: dict[str, str], monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    if setting == "disable_plugins=":
        def make() -> PluginManager:
            return PluginManager(disable=["gamma", "betta"])
    else:
        monkeypatch.setenv(setting, "gamma,betta")

        def make() -> PluginManager:
            return PluginManager()
    with pytest.raises(DataFlowError) as info:
        make()
    assert info.value.code == "DF-401"
    assert "Did you mean 'beta'?" in info.value.message
    assert setting in info.value.message
    assert not any(m in sys.modules for m in three.values()), "refused before anything was imported"


def test_env_load_plugins_is_an_allow_list(three: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFLOW_LOAD_PLUGINS", "alpha, gamma")
    manager = PluginManager()
    assert active(manager, three) == {"alpha", "gamma"}
    assert status_of(manager, "beta") == ("disabled", "not in DATAFLOW_LOAD_PLUGINS")


def test_empty_env_load_plugins_loads_none(three: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFLOW_LOAD_PLUGINS", "")
    manager = PluginManager()
    assert active(manager, three) == set()
    assert manager.statuses["builtin"].status == "essential"
    assert not any(m in sys.modules for m in three.values())


def test_env_disable_plugins(three: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFLOW_DISABLE_PLUGINS", "alpha,beta")
    manager = PluginManager()
    assert active(manager, three) == {"gamma"}
    assert status_of(manager, "alpha") == ("disabled", "disabled by DATAFLOW_DISABLE_PLUGINS")


def test_explicit_arguments_beat_the_environment(
    three: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAFLOW_LOAD_PLUGINS", "alpha,beta")
    monkeypatch.setenv("DATAFLOW_DISABLE_PLUGINS", "gamma")
    assert active(PluginManager(disable=["alpha"]), three) == {"beta"}
    assert active(PluginManager(plugins=["gamma"]), three) == {"gamma"}


def test_environment_beats_the_project_file(three: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    write_state(project_state_file(), {"enabled": ["alpha"], "disabled": ["beta", "gamma"]})
    assert active(PluginManager(), three) == {"alpha"}
    monkeypatch.setenv("DATAFLOW_LOAD_PLUGINS", "beta")
    assert active(PluginManager(), three) == {"beta"}
    monkeypatch.delenv("DATAFLOW_LOAD_PLUGINS")
    monkeypatch.setenv("DATAFLOW_DISABLE_PLUGINS", "alpha")
    assert active(PluginManager(), three) == set()


def test_project_file_beats_the_user_file(three: dict[str, str], tmp_path: Path) -> None:
    assert user_state_file() == tmp_path / "user" / "plugins.json", "DATAFLOW_USER_DIR moves the user file"
    write_state(user_state_file(), {"enabled": [], "disabled": ["alpha", "beta"]})
    manager = PluginManager()
    assert active(manager, three) == {"gamma"}
    assert "user file" in manager.statuses["alpha"].reason
    write_state(project_state_file(), {"enabled": ["alpha"], "disabled": []})
    manager = PluginManager()
    assert active(manager, three) == {"alpha", "gamma"}
    assert "user file" in manager.statuses["beta"].reason


def test_project_file_is_read_from_the_working_directory(
    three: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(project_state_file(), {"enabled": [], "disabled": ["alpha"]})
    assert active(PluginManager(), three) == {"beta", "gamma"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert active(PluginManager(), three) == {"alpha", "beta", "gamma"}


def test_state_files_round_trip_and_refuse_garbage(tmp_path: Path) -> None:
    path = tmp_path / "state" / "plugins.json"
    write_state(path, {"enabled": ["b", "a", "a"], "disabled": []})
    assert json.loads(path.read_text()) == {"enabled": ["a", "b"], "disabled": []}
    assert read_state(path) == {"enabled": ["a", "b"], "disabled": []}
    assert read_state(tmp_path / "missing.json") == {"enabled": [], "disabled": []}
    # A corrupt file must not silently re-enable what it disabled: it is a DF-401 naming the file.
    for garbage, detail in (("{not json", "Expecting"), ('["x"]', "JSON object"),
                            ('{"enabled": 5}', "enabled"), ('{"disbled": ["x"]}', "disbled")):
        path.write_text(garbage)
        with pytest.raises(DataFlowError) as info:
            read_state(path)
        assert info.value.code == "DF-401" and str(path) in info.value.message and detail in info.value.message


def test_the_essential_builtin_cannot_be_disabled(
    three: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DataFlowError) as info:
        PluginManager(disable=["builtin"])
    assert info.value.code == "DF-404"
    assert "essential" in info.value.message
    monkeypatch.setenv("DATAFLOW_DISABLE_PLUGINS", "builtin")
    monkeypatch.setenv("DATAFLOW_LOAD_PLUGINS", "")
    assert PluginManager().statuses["builtin"].status == "essential"


def test_plugin_failing_to_import_is_failed_with_its_reason(fake_dists: Any) -> None:
    fake_dists.add("broken", 'raise RuntimeError("boom at import")\n')
    fake_dists.add("halfdone", "import fake_halfdone.missing_part\n", module="fake_halfdone.plugin")
    fake_dists.add("fine", good("fine"))
    manager = PluginManager()
    assert status_of(manager, "broken") == ("failed", "RuntimeError: boom at import")
    status, reason = status_of(manager, "halfdone")
    assert status == "failed" and "fake_halfdone.missing_part" in reason
    assert manager.statuses["fine"].status == "active", "one broken plugin never stops the others"


def test_plugin_whose_driver_is_missing_is_unavailable(fake_dists: Any) -> None:
    fake_dists.add("nodriver", "import surely_not_an_installed_driver_xyz\n")
    manager = PluginManager()
    status, reason = status_of(manager, "nodriver")
    assert (status, reason) == ("unavailable", "missing module 'surely_not_an_installed_driver_xyz'")


def test_misspelt_hook_marks_the_plugin_failed(fake_dists: Any) -> None:
    fake_dists.add("typo", "from dataflow.hookspecs import hookimpl\n\n@hookimpl\ndef dataflow_optoins():\n"
                           "    return []\n")
    manager = PluginManager()
    status, reason = status_of(manager, "typo")
    assert status == "failed"
    assert "dataflow_optoins" in reason and "Did you mean 'dataflow_options'?" in reason
    assert manager.plugin("typo") is None


def test_registering_an_object_with_an_unknown_hook_is_df404() -> None:
    class Typo:
        @hookimpl
        def dataflow_confgure(self, db: Any) -> None:
            """Misspelt on purpose."""

    manager = PluginManager(autoload=False)
    with pytest.raises(DataFlowError) as info:
        manager.register(Typo(), name="typo")
    assert info.value.code == "DF-404"
    assert "Did you mean 'dataflow_configure'?" in info.value.message
    assert manager.plugin("typo") is None


def test_register_and_unregister_objects() -> None:
    class Plugin:
        @hookimpl
        def dataflow_runtimes(self) -> list[Any]:
            return []

    plugin = Plugin()
    manager = PluginManager(autoload=False, plugins=[plugin])
    name = next(n for n in manager.statuses if n != "builtin")
    assert manager.statuses[name].hooks == ("dataflow_runtimes",)
    assert manager.has_impls("dataflow_runtimes")
    with pytest.raises(DataFlowError):
        manager.register(plugin)
    manager.unregister(name)
    assert not manager.has_impls("dataflow_runtimes")
    assert name not in manager.statuses


def test_no_module_global_manager_and_no_plugin_import_at_import(fake_dists: Any) -> None:
    module = fake_dists.add("sideeffect", "import os\nos.environ['SIDE_EFFECT_RAN'] = '1'\n")
    code = (
        "import os, sys\n"
        "import dataflow, dataflow.plugins, dataflow.facade, dataflow.runtime, dataflow.cli\n"
        "from dataflow.plugins import PluginManager\n"
        "import gc\n"
        "managers = [o for o in gc.get_objects() if isinstance(o, PluginManager)]\n"
        f"assert {module!r} not in sys.modules, 'imported at import time'\n"
        "assert 'SIDE_EFFECT_RAN' not in os.environ\n"
        "assert not managers, managers\n"
        "PluginManager()\n"
        f"assert {module!r} in sys.modules\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake_dists.root), *sys.path]),
           "DATAFLOW_LOAD_PLUGINS": "sideeffect"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_quick_hook_lookup_agrees_with_pluggy_on_every_installed_plugin_module() -> None:
    """The manager answers for a module's attributes without pluggy's search; the answers are pluggy's."""
    import types

    import pluggy
    from dataflow import hookspecs
    from dataflow.plugins import PluginManager

    manager = PluginManager()
    plain = pluggy.PluginManager(hookspecs.PROJECT)
    modules = [p for p in manager.pm.get_plugins() if isinstance(p, types.ModuleType)]
    assert len(modules) > 5
    found = 0
    for module in modules:
        for name in dir(module):
            ours = manager.pm.parse_hookimpl_opts(module, name)
            assert ours == plain.parse_hookimpl_opts(module, name), (module.__name__, name)
            found += ours is not None
    assert found >= len(modules)  # every plugin module implements at least one hook
