"""Fixtures for the kernel's own tests: they run with no plugin installed.

Every test here builds its DataFlow with ``autoload=False`` and registers the throwaway plugins it
needs. ``offline_dialect`` is a dialect plugin that compiles SQL but has no connection: it lets the
facade be built (a DataFlow needs a dialect) without any database driver, which is what a kernel-only
installation has. Tests that need a real database live with the dialect plugins, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import dataflow.runtime
import pytest
from dataflow import DataFlow
from dataflow.dialect import DialectInfo, SQLDialect
from dataflow.errors import DataFlowError
from dataflow.hookspecs import hookimpl
from dataflow.models import FieldSpec
from dataflow.nodes import node_registry
from dataflow.plugins import PluginManager

_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER", "datetime": "TEXT",
          "date": "TEXT", "decimal": "TEXT", "bytes": "BLOB", "json": "TEXT", "array": "TEXT"}


class OfflineDialect(SQLDialect):
    """Compiles SQL like a real dialect; asking it for a connection is an error, never a fake result."""

    name = "offline"

    def column_type(self, field: FieldSpec) -> str:
        return _TYPES[field.kind]

    def connection(self) -> Any:
        raise DataFlowError("DF-402", "The offline test dialect has no database.")

    transaction = connection


class OfflineDialectPlugin:
    """Serves ``sqlite://`` (the default URL) and ``offline://`` with ``OfflineDialect``."""

    @hookimpl
    def dataflow_dialects(self) -> Iterable[DialectInfo]:
        return [DialectInfo("offline", ("sqlite", "offline"), OfflineDialect, package="dataflow-offline")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_plugin_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No state file or environment variable of the developer's machine leaks into a test."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("DATAFLOW_USER_DIR", str(tmp_path / "user"))
    for name in ("DATAFLOW_LOAD_PLUGINS", "DATAFLOW_DISABLE_PLUGINS", "DATABASE_URL",
                 "DATAFLOW_ERROR_ENHANCER_MODE"):
        monkeypatch.delenv(name, raising=False)
    yield project


@pytest.fixture(autouse=True)
def kernel_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the process-wide node registry from loading installed plugins' node types.

    In the workspace every plugin is installed; a kernel test must still see the kernel alone, and
    must not fill the shared registry for tests of other folders running in the same process.
    """
    monkeypatch.setattr(node_registry, "loader", None)
    monkeypatch.setattr(node_registry, "_global", dict(node_registry._global))
    # The process-wide manager (runtimes, hints for errors of workflow building) sees no plugin either.
    monkeypatch.setattr(dataflow.runtime, "default_manager", lambda: PluginManager(autoload=False))


@pytest.fixture
def make_db() -> Iterator[Callable[..., DataFlow]]:
    """``make_db(*plugins, **options)``: a kernel-only DataFlow with the offline dialect and ``plugins``."""
    made: list[DataFlow] = []

    def make(*plugins: Any, url: str = "offline://", **options: Any) -> DataFlow:
        db = DataFlow(url, autoload=False, plugins=[OfflineDialectPlugin(), *plugins], **options)
        made.append(db)
        return db

    yield make
    for db in made:
        node_registry.remove_instance(db)


class FakeDistributions:
    """Writes throwaway plugin packages with their own ``*.dist-info/entry_points.txt`` under ``root``.

    ``importlib.metadata`` finds them once ``root`` is on ``sys.path``: the real discovery path,
    without installing anything.
    """

    def __init__(self, root: Path, real_entry_points: Callable[..., tuple[Any, ...]]) -> None:
        self.root = root
        self.names: set[str] = set()
        self._real = real_entry_points

    def entry_points(self, *, refresh: bool = False) -> tuple[Any, ...]:
        """Only the throwaway plugins: the workspace's real plugins stay unimported in kernel tests."""
        return tuple(e for e in self._real(refresh=refresh) if e.name in self.names)

    def add(self, name: str, source: str, *, module: str | None = None, version: str = "1.0") -> str:
        """Install ``dataflow-<name>``, its entry point naming ``module`` (``pkg.mod`` makes a package).

        ``source`` is the module's text; returns the module name.
        """
        module = module or f"fake_{name.replace('-', '_')}_plugin"
        path = self.root.joinpath(*module.split("."))
        for parent in reversed(path.parents):
            if parent != self.root and self.root in parent.parents:
                parent.mkdir(exist_ok=True)
                (parent / "__init__.py").touch()
        path.with_suffix(".py").write_text(source)
        dist = self.root / f"dataflow_{name.replace('-', '_')}-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dataflow-{name}\nVersion: {version}\n")
        (dist / "entry_points.txt").write_text(f"[dataflow]\n{name} = {module}\n")
        self.names.add(name)
        self._real(refresh=True)
        return module


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDistributions]:
    """Throwaway installed plugins; removed from discovery (and ``sys.modules``) afterwards."""
    import sys

    import dataflow.plugins
    from dataflow.plugins import entry_points

    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    fakes = FakeDistributions(root, entry_points)
    monkeypatch.setattr(dataflow.plugins, "entry_points", fakes.entry_points)
    yield fakes
    sys.path.remove(str(root))
    for name in set(sys.modules) - before:
        if name.startswith("fake_"):
            del sys.modules[name]
    entry_points(refresh=True)
