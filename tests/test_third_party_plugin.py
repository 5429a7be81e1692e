"""A third-party plugin adds a node type and a CLI command without touching the kernel.

The plugin is a tiny package written into ``tmp_path`` with its own ``*.dist-info`` (METADATA and
``entry_points.txt`` declaring group ``dataflow``): once its folder is on ``sys.path``, the
``dataflow`` entry-point scan finds it exactly as it finds a pip-installed plugin; the CLI runs
in-process (``dataflow.cli.main``), as the console script would. The same plugin is then given as an
object through the public API, ``DataFlow(plugins=[...])``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from dataflow import DataFlow, LocalRuntime, Node, NodeContext, Param, WorkflowBuilder, hookimpl
from dataflow.cli import main, make_app
from dataflow.plugins import PluginManager, entry_points

CORE = ["sqlite", "crud", "runtime"]

PLUGIN_SOURCE = '''
"""Acme's DataFlow plugin: a ``HelloNode`` for workflows and a ``dataflow hello`` command."""

from dataflow import Node, NodeContext, Param, hookimpl


class HelloNode(Node):
    """Greets someone by name."""

    type_name = "HelloNode"
    parameters = {"name": Param("name", str, required=True)}

    async def run(self, params, ctx: NodeContext):
        return {"greeting": f"Hello, {params['name']}!"}


@hookimpl
def dataflow_node_types(register):
    register("HelloNode", HelloNode)


def hello(name: str = "world") -> None:
    """Print a greeting from the Acme plugin.

    Parameters
    ----------
    name
        Who to greet.
    """
    print(f"Hello, {name}!")


@hookimpl
def dataflow_register_commands(app):
    app.command(hello, name="hello")
'''


def write_plugin(root: Path) -> Path:
    """The package ``acme_dataflow_hello`` and its distribution ``acme-dataflow-hello`` 0.3.0."""
    package = root / "acme_dataflow_hello"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Acme\'s DataFlow plugin."""\n')
    (package / "plugin.py").write_text(PLUGIN_SOURCE)
    dist = root / "acme_dataflow_hello-0.3.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-dataflow-hello\nVersion: 0.3.0\n"
                                   "Summary: Greetings for DataFlow workflows.\n")
    (dist / "entry_points.txt").write_text("[dataflow]\nacme-hello = acme_dataflow_hello.plugin\n")
    return root


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_plugin(tmp_path / "site")


@pytest.fixture
def on_path(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugin discoverable in this process; forgotten (path, modules, entry-point cache) afterwards."""
    monkeypatch.syspath_prepend(str(site))
    entry_points(refresh=True)
    yield
    sys.path.remove(str(site))
    for name in [m for m in sys.modules if m.startswith("acme_dataflow_hello")]:
        del sys.modules[name]
    entry_points(refresh=True)


@pytest.fixture
def cli(tmp_path: Path, on_path: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``cli(*args) -> (exit code, stdout, stderr)``: ``dataflow.cli.main`` in-process, as a user with the
    plugin installed would run the console script (their own working directory and user directory)."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("DATAFLOW_") or k == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATAFLOW_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_the_plugin_is_listed_with_its_distribution_and_hooks(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli("plugins", "list", "--json")
    assert code == 0, err
    row = {r["name"]: r for r in json.loads(out)}["acme-hello"]
    assert row == {"name": "acme-hello", "distribution": "acme-dataflow-hello", "version": "0.3.0",
                   "status": "active", "hooks": ["dataflow_node_types", "dataflow_register_commands"],
                   "reason": ""}


def test_its_command_joins_the_cli(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli("hello", "--name", "Ann")
    assert code == 0, err
    assert out.strip() == "Hello, Ann!"
    assert "Print a greeting from the Acme plugin." in cli("--help")[1]
    assert "Who to greet." in cli("hello", "--help")[1]


def test_its_node_type_runs_in_a_workflow_with_generated_nodes(tmp_path: Path, on_path: None) -> None:
    db = DataFlow(f"sqlite:///{tmp_path / 'acme.db'}")
    try:

        @db.model
        class AcmeCustomer:
            name: str

        wf = WorkflowBuilder()
        wf.add_node("AcmeCustomerCreateNode", "create", {"name": "Ann"})
        wf.add_node("HelloNode", "greet", {"name": "${create.name}", "db_instance": db})
        results, _ = LocalRuntime().execute(wf.build())
        assert results["greet"]["greeting"] == "Hello, Ann!"
    finally:
        db.close()


def test_disabling_it_removes_node_and_command_without_importing_it(
        tmp_path: Path, site: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    assert cli("plugins", "disable", "acme-hello")[0] == 0
    assert cli("hello")[0] != 0
    # What a later program imports needs a fresh interpreter: this one already loaded the plugin.
    code = textwrap.dedent("""
        import sys
        from dataflow import WorkflowBuilder, DataFlowError
        from dataflow.cli import main
        main(["plugins", "list"])
        wf = WorkflowBuilder()
        wf.add_node("HelloNode", "greet", {"name": "x"})
        try:
            wf.build()
        except DataFlowError as exc:
            print(exc.code)
        assert "acme_dataflow_hello" not in sys.modules
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "DF-701"


@pytest.mark.usefixtures("on_path")
def test_found_in_process_through_entry_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = {e.name: e for e in entry_points(refresh=True)}
    assert found["acme-hello"].value == "acme_dataflow_hello.plugin"
    assert found["acme-hello"].distribution == "acme-dataflow-hello"
    manager = PluginManager(plugins=["acme-hello"])
    assert manager.statuses["acme-hello"].status == "active"
    make_app(manager)(["hello", "--name", "Bo"], result_action="return_value")
    assert capsys.readouterr().out.strip() == "Hello, Bo!"
    db = DataFlow(f"sqlite:///{tmp_path / 'in-process.db'}", plugins=[*CORE, "acme-hello"])
    try:
        wf = WorkflowBuilder()
        wf.add_node("HelloNode", "greet", {"name": "Cy", "db_instance": db})
        results, _ = LocalRuntime().execute(wf.build())
        assert results["greet"] == {"greeting": "Hello, Cy!"}
    finally:
        db.close()


class Shout(Node):
    """Upper-cases ``text``."""

    type_name = "AcmeShoutNode"
    parameters: ClassVar = {"text": Param("text", str, required=True)}

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"text": params["text"].upper()}


class AcmePlugin:
    """The same kind of plugin, handed to DataFlow as an object: no packaging at all."""

    @hookimpl
    def dataflow_node_types(self, register: Callable[[str, type[Node]], None]) -> None:
        register("AcmeShoutNode", Shout)

    @hookimpl
    def dataflow_register_commands(self, app: Any) -> None:
        def shout(text: str) -> None:
            """Shout TEXT."""
            print(text.upper())

        app.command(shout, name="shout")


def test_the_same_through_the_public_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = DataFlow(f"sqlite:///{tmp_path / 'api.db'}", plugins=[*CORE, AcmePlugin()])
    try:

        @db.model
        class Post:
            title: str

        wf = WorkflowBuilder()
        wf.add_node("PostCreateNode", "create", {"title": "launch day"})
        wf.add_node("AcmeShoutNode", "shout", {"text": "${create.title}"})
        results, _ = LocalRuntime().execute(wf.build())
        assert results["shout"] == {"text": "LAUNCH DAY"}
        ours = [s for s in db.plugins.statuses.values() if "dataflow_register_commands" in s.hooks
                and "dataflow_node_types" in s.hooks]
        assert [s.status for s in ours] == ["active"]
        make_app(db.plugins)(["shout", "hey"], result_action="return_value")
        assert capsys.readouterr().out.strip() == "HEY"
    finally:
        db.close()
