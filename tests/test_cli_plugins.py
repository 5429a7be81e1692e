"""``dataflow plugins list | info | enable | disable``: the installed console script, run for real.

Most tests run ``/work/main/.venv/bin/dataflow`` (the script of this environment) in a subprocess
with ``tmp_path`` as working directory and the user directory pointed into ``tmp_path``, so the
project and user state files are the test's own. A few run ``dataflow.cli.main`` in-process.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from dataflow import hookspecs
from dataflow.cli import main, plugins_disable, plugins_info, plugins_list

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("dataflow")
FIRST_PARTY = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
STATUSES = {"active", "disabled", "failed", "unavailable", "essential"}
KEYS = {"name", "distribution", "version", "status", "hooks", "reason"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a clean user: no plugin switches, a private user directory."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_") and k != "DATABASE_URL"}
    clean["DATAFLOW_USER_DIR"] = str(tmp_path / "user")
    clean["COLUMNS"] = "200"  # rich wraps narrower tables; keep rows on one line
    return clean


@attrs.frozen
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``cli(*args, **env_overrides)``: ``dataflow.cli.main(args)`` run in ``tmp_path`` with ``env``.

    In-process, so the many invocations stay fast; the console script itself and everything about
    what gets imported are checked in subprocesses below.
    """
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("DATAFLOW_") or k == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    for key in ("DATAFLOW_USER_DIR", "COLUMNS"):
        monkeypatch.setenv(key, env[key])

    def invoke(*args: str, **overrides: str) -> Result:
        with monkeypatch.context() as scoped:
            for key, value in overrides.items():
                scoped.setenv(key, value)
            capsys.readouterr()
            code = main(list(args))
            out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


def run_script(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``dataflow`` console script, in a subprocess."""
    return subprocess.run([str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def listing(cli: Any, **overrides: str) -> dict[str, dict[str, Any]]:
    result = cli("plugins", "list", "--json", **overrides)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def declared_hooks(plugin: str) -> list[str]:
    """The hooks a first-party plugin module implements, read from the module itself."""
    module = __import__(f"dataflow_{plugin.replace('-', '_')}.plugin", fromlist=["plugin"])
    return sorted(name for name, value in vars(module).items()
                  if name in vars(hookspecs) and hasattr(value, "dataflow_impl"))


def test_list_is_a_rich_table_of_every_plugin(cli: Any) -> None:
    result = cli("plugins", "list")
    assert result.returncode == 0, result.stderr
    assert "DataFlow plugins" in result.stdout
    for column in ("Name", "Distribution", "Version", "Status", "Hooks"):
        assert column in result.stdout
    for name in FIRST_PARTY:
        assert f"dataflow-{name}" in result.stdout
    assert "essential" in result.stdout


def test_list_json_shows_every_first_party_plugin_active_with_its_hooks(cli: Any) -> None:
    rows = listing(cli)
    for row in rows.values():
        assert set(row) == KEYS
        assert row["status"] in STATUSES
        assert isinstance(row["hooks"], list)
    assert rows["builtin"]["status"] == "essential"
    assert rows["builtin"]["distribution"] == "dataflow-kernel"
    for name in FIRST_PARTY:
        row = rows[name]
        assert row["distribution"] == f"dataflow-{name}"
        assert row["status"] == "active", row
        assert row["version"]
        assert row["hooks"] == declared_hooks(name)
    assert "dataflow_dialects" in rows["sqlite"]["hooks"]
    assert "dataflow_generate_nodes" in rows["crud"]["hooks"]


def test_info_shows_one_plugin(cli: Any) -> None:
    result = cli("plugins", "info", "sqlite", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["name"] == "sqlite"
    assert info["status"] == "active"
    assert info["distribution"] == "dataflow-sqlite"
    assert info["entry_point"] == "dataflow_sqlite.plugin"
    assert "dataflow_dialects" in info["hooks"]
    assert info["description"]
    table = cli("plugins", "info", "sqlite")
    assert table.returncode == 0
    assert "dataflow-sqlite" in table.stdout


def test_info_of_a_disabled_plugin_reads_metadata_without_importing(cli: Any) -> None:
    result = cli("plugins", "info", "postgresql", "--json", DATAFLOW_DISABLE_PLUGINS="postgresql")
    info = json.loads(result.stdout)
    assert info["status"] == "disabled"
    assert info["reason"] == "disabled by DATAFLOW_DISABLE_PLUGINS"
    assert info["location"] == ""
    assert info["description"], "the distribution's summary stands in for the module docstring"


def test_disable_and_enable_round_trip_in_the_project_file(cli: Any, tmp_path: Path) -> None:
    state = tmp_path / ".dataflow" / "plugins.json"
    result = cli("plugins", "disable", "postgresql")
    assert result.returncode == 0, result.stderr
    assert str(state) in result.stdout
    assert json.loads(state.read_text()) == {"enabled": [], "disabled": ["postgresql"]}
    row = listing(cli)["postgresql"]
    assert row["status"] == "disabled"
    assert "project file" in row["reason"]
    assert row["hooks"] == []

    result = cli("plugins", "enable", "postgresql")
    assert result.returncode == 0, result.stderr
    assert json.loads(state.read_text()) == {"enabled": ["postgresql"], "disabled": []}
    assert listing(cli)["postgresql"]["status"] == "active"


def test_user_flag_writes_the_user_file(cli: Any, tmp_path: Path) -> None:
    result = cli("plugins", "disable", "mysql", "--user")
    assert result.returncode == 0, result.stderr
    user_file = tmp_path / "user" / "plugins.json"
    assert json.loads(user_file.read_text())["disabled"] == ["mysql"]
    assert not (tmp_path / ".dataflow").exists()
    assert "user file" in listing(cli)["mysql"]["reason"]
    assert cli("plugins", "enable", "mysql").returncode == 0
    assert listing(cli)["mysql"]["status"] == "active", "the project file wins over the user file"


def test_enabling_what_the_environment_disables_says_so(cli: Any) -> None:
    result = cli("plugins", "enable", "mysql", DATAFLOW_DISABLE_PLUGINS="mysql")
    assert result.returncode == 0
    assert "stays disabled" in result.stderr
    assert "DATAFLOW_DISABLE_PLUGINS" in result.stderr


@pytest.mark.parametrize("action", ["enable", "disable", "info"])
def test_unknown_plugin_is_a_clear_error(cli: Any, action: str) -> None:
    result = cli("plugins", action, "sqlit")
    assert result.returncode != 0
    assert "DF-404" in result.stderr
    assert "Did you mean 'sqlite'?" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_the_essential_plugin_cannot_be_toggled(cli: Any, tmp_path: Path, action: str) -> None:
    result = cli("plugins", action, "builtin")
    assert result.returncode != 0
    assert "essential" in result.stderr
    assert not (tmp_path / ".dataflow").exists()


def test_disabled_plugin_is_not_imported_by_list_nor_by_dataflow(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_script(tmp_path, env, "plugins", "disable", "sqlite").returncode == 0
    code = textwrap.dedent("""
        import sys
        from dataflow.cli import main
        from dataflow import DataFlow, DataFlowError
        assert main(["plugins", "list"]) == 0
        assert "dataflow_sqlite" not in sys.modules, "imported by plugins list"
        try:
            DataFlow()
        except DataFlowError as exc:
            print(exc.code, exc.message)
        assert "dataflow_sqlite" not in sys.modules, "imported by DataFlow()"
        assert "dataflow_crud" in sys.modules, "the other plugins still load"
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("DF-403")
    assert "dataflow-sqlite" in last
    assert "disabled" in last


def test_empty_load_plugins_loads_nothing(cli: Any, tmp_path: Path, env: dict[str, str]) -> None:
    rows = listing(cli, DATAFLOW_LOAD_PLUGINS="")
    assert {r["status"] for n, r in rows.items() if n != "builtin"} == {"disabled"}
    assert all(r["reason"] == "not in DATAFLOW_LOAD_PLUGINS" for n, r in rows.items() if n != "builtin")
    code = textwrap.dedent("""
        import sys
        from dataflow import DataFlow, DataFlowError
        try:
            DataFlow()
        except DataFlowError as exc:
            print(exc.code, exc.message)
        # kailash-compat's import-path finder is put in place by its .pth file at interpreter start-up,
        # before any plugin selection exists; disabled, it serves nothing. Its plugin module never loads.
        start_up = {"dataflow_kailash_compat", "dataflow_kailash_compat.aliases", "dataflow_kailash_compat.finder"}
        loaded = sorted(m for m in sys.modules if m.startswith("dataflow_") and m not in start_up)
        assert not loaded, loaded
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                            env={**env, "DATAFLOW_LOAD_PLUGINS": ""}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("DF-403")
    assert "dataflow-sqlite" in result.stdout


def test_load_plugins_allow_list_in_the_cli(cli: Any) -> None:
    rows = listing(cli, DATAFLOW_LOAD_PLUGINS="sqlite,crud")
    assert {n for n, r in rows.items() if r["status"] == "active"} == {"sqlite", "crud"}


def test_help_texts_come_from_docstrings(cli: Any) -> None:
    top = cli("plugins", "--help")
    assert top.returncode == 0
    for command in (plugins_list, plugins_info, plugins_disable):
        first_line = inspect.getdoc(command).splitlines()[0]  # type: ignore[union-attr]
        assert first_line.split(":")[0].removesuffix(".") in " ".join(top.stdout.split())
    sub = cli("plugins", "list", "--help")
    assert "Print a JSON array" in sub.stdout
    assert "--json" in sub.stdout
    assert "plugins" in cli("--help").stdout


def test_the_console_script(tmp_path: Path, env: dict[str, str]) -> None:
    """The one test of the installed script itself (everything else calls ``main`` in-process)."""
    listed = run_script(tmp_path, env, "plugins", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {r["name"] for r in rows} >= {"builtin", *FIRST_PARTY}
    failed = run_script(tmp_path, env, "plugins", "disable", "nosuchplugin")
    assert failed.returncode == 2
    assert "DF-404" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert run_script(tmp_path, env, "plugins", "frobnicate").returncode != 0


# ---- the CLI as a newcomer meets it ----------------------------------------------------------------
def test_hook_names_are_the_same_in_the_table_and_in_json(cli: Any) -> None:
    table = cli("plugins", "list").stdout
    assert "dataflow_execute_node" in table and "dataflow_generate_nodes" in table
    rows = listing(cli)
    assert "dataflow_execute_node" in rows["builtin"]["hooks"]


def test_a_plugin_is_found_by_its_distribution_name(cli: Any, tmp_path: Path) -> None:
    info = cli("plugins", "info", "dataflow-crud", "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["name"] == "crud"
    assert cli("plugins", "disable", "dataflow-risk").returncode == 0
    assert json.loads((tmp_path / ".dataflow" / "plugins.json").read_text())["disabled"] == ["risk"]
    assert json.loads(cli("plugins", "info", "dataflow-kernel", "--json").stdout)["name"] == "builtin"


def test_a_command_of_a_plugin_that_is_off_says_which_plugin_provides_it(cli: Any) -> None:
    minimal = cli("errors", "list", DATAFLOW_LOAD_PLUGINS="sqlite,crud,runtime")
    assert minimal.returncode == 2
    assert "DF-408" in minimal.stderr and "dataflow-errors" in minimal.stderr
    assert "not in DATAFLOW_LOAD_PLUGINS" in minimal.stderr
    assert "Unknown command" not in minimal.stderr
    unknown = cli("frobnicate")
    assert unknown.returncode != 0 and "DF-408" not in unknown.stderr


def test_a_command_of_a_plugin_that_is_not_installed_names_its_package() -> None:
    from cyclopts import App
    from dataflow.cli import check_command
    from dataflow.errors import DataFlowError
    from dataflow.plugins import PluginManager

    with pytest.raises(DataFlowError) as caught:
        check_command(App(name="dataflow"), ["errors", "list"], PluginManager(autoload=False))
    assert caught.value.code == "DF-408" and "pip install dataflow-errors" in caught.value.solutions


def test_p_no_name_disables_a_plugin_for_one_command(cli: Any) -> None:
    result = cli("-p", "no:risk", "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["risk"]["status"] == "disabled" and rows["errors"]["status"] == "active"
    assert "DATAFLOW_DISABLE_PLUGINS" not in os.environ, "only for that command"
    assert {r["name"]: r["status"] for r in json.loads(cli("plugins", "list", "--json").stdout)}["risk"] == "active"
    off = cli("-pno:errors", "errors", "list")
    assert off.returncode == 2 and "DF-408" in off.stderr
    typo = cli("-p", "no:rsik", "plugins", "list")
    assert typo.returncode == 2 and "DF-401" in typo.stderr and "Did you mean 'risk'?" in typo.stderr
    assert cli("-p", "risk", "plugins", "list").returncode == 2


def test_errors_print_with_their_title_and_never_a_bare_code(cli: Any) -> None:
    titled = cli("plugins", "info", "nope")
    assert titled.stderr.startswith("DF-404: Plugin error")
    bare = cli("plugins", "info", "nope", DATAFLOW_DISABLE_PLUGINS="errors")
    assert bare.stderr.startswith("DF-404: No plugin named 'nope'")


def test_help_lists_every_command_without_importing_them(tmp_path: Path, env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dataflow.cli", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("analyze", "debug", "validate", "perf", "generate", "demo", "errors", "plugins"):
        assert f" {command} " in done.stdout
    imported = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines()}
    for lazy in ("dataflow_inspector.cli", "dataflow_errors.cli", "dataflow_crud.demo", "dataflow_crud.nodes",
                 "dataflow_runtime.runtimes", "rich.markdown", "dataflow.workflow",
                 # What loading a plugin must not pull in (a plugin imports its heavy parts in its hooks):
                 "dataflow.dialect", "dataflow.query", "dataflow.models", "asyncio", "ssl",
                 "dataflow_errors.catalogue"):
        assert lazy not in imported, f"{lazy} is imported by dataflow --help"


def test_the_demo_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3
    import tempfile

    from dataflow_crud.demo import demo

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    demo(rows=500, json_output=True)
    assert not list(tmp_path.glob("dataflow-demo-*")), "the temporary folder is removed"
    with pytest.raises(TypeError):
        demo(rows="many", json_output=True)  # type: ignore[arg-type]
    assert not list(tmp_path.glob("dataflow-demo-*")), "even when the demo fails"
    database = tmp_path / "mine.db"
    sqlite3.connect(database).execute("CREATE TABLE customers (id TEXT)").connection.close()
    demo(rows=500, database=f"sqlite:///{database}", json_output=True)
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"customers"}, "the user's own table is untouched and the demo's is dropped"
