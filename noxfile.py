"""nox sessions, derived from the folders: nothing here lists a plugin by hand.

    nox -s kernel            the kernel alone, no plugin installed
    nox -s "plugin(name='sqlite')"   one plugin (with the core product it runs on) and its tests
    nox -s contrib           every plugin under plugins-contrib/
    nox -s tests             everything installed, the whole suite
    nox -s lint typecheck    ruff; mypy
    nox -s bench             framework vs raw driver ratios for every dialect (-- NAME… for some)
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["kernel", "plugin", "lint", "typecheck", "tests"]

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
CONTRIB = sorted(p.name for p in (ROOT / "plugins-contrib").iterdir() if (p / "pyproject.toml").exists())
CORE = ("sqlite", "crud", "runtime")
"""The plugins that, with the kernel, make a working product; other plugins' tests run on them."""
SERVER_DIALECTS = ("postgresql", "mysql")
"""Installed with every plugin too: a plugin's tests run on each database the conformance fixtures name."""
TEST_TOOLS = ("pytest", "pytest-xdist", "pytest-asyncio", "hypothesis", "anyio")
"""What the tests themselves use (anyio and pytest-asyncio for their pytest plugins: async tests)."""


def _workspace_deps(folder: Path) -> list[str]:
    """The workspace packages a package depends on (read with tomllib, never by running code)."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("[")[0].strip() for dep in project.get("dependencies", [])}
    return sorted(n.removeprefix("dataflow-") for n in names if n.startswith("dataflow-") and n != "dataflow-kernel")


def _install(session: nox.Session, *folders: str) -> None:
    session.install(*TEST_TOOLS, "-e", "kernel", *[arg for f in folders for arg in ("-e", f)])


@nox.session
def kernel(session: nox.Session) -> None:
    """The kernel alone: imports and passes its own tests with no plugin installed."""
    _install(session)
    session.run("pytest", "kernel/tests", "-n", "2", *session.posargs)


@nox.session
@nox.parametrize("name", PLUGINS)
def plugin(session: nox.Session, name: str) -> None:
    """One plugin with the workspace packages it needs, the core product and the dialects; its own tests."""
    needed = {name, *CORE, *SERVER_DIALECTS, *_workspace_deps(ROOT / "plugins" / name)}
    _install(session, *[f"plugins/{n}" for n in sorted(needed)])
    session.run("pytest", f"plugins/{name}/tests", "-n", "2", *session.posargs)


@nox.session
def contrib(session: nox.Session) -> None:
    """Every third-party-style plugin under plugins-contrib/, each against the conformance suite."""
    if not CONTRIB:
        session.skip("plugins-contrib/ holds no plugin yet")
    _install(session, *[f"plugins/{n}" for n in CORE], *[f"plugins-contrib/{n}" for n in CONTRIB])
    session.run("pytest", *[f"plugins-contrib/{n}/tests" for n in CONTRIB], "-n", "2", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Everything installed; the whole suite (the README's test command, in a fresh venv)."""
    _install(session, *[f"plugins/{n}" for n in PLUGINS], *[f"plugins-contrib/{n}" for n in CONTRIB])
    session.run("pytest", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over every package."""
    session.install("ruff")
    session.run("ruff", "check", "kernel", "plugins", "plugins-contrib", "tests", "bench", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the kernel and every plugin's source, contributed ones included (settings in pyproject.toml)."""
    _install(session, *[f"plugins/{n}" for n in PLUGINS], *[f"plugins-contrib/{n}" for n in CONTRIB])
    session.install("mypy")
    session.run("mypy", "kernel/src/dataflow")
    for folder in [*(f"plugins/{n}" for n in PLUGINS), *(f"plugins-contrib/{n}" for n in CONTRIB)]:
        session.run("mypy", f"{folder}/src")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark in bench/: DataFlow against the raw driver (and, in bench_peers.py, SQLAlchemy Core
    and Tortoise: the root pyproject's ``bench`` dependency group, installed here only), ratios from one run.
    The contributed plugins are installed too (bench_export.py measures the export plugin, Parquet included).

    ``nox -s bench -- peers workflows`` runs only bench_peers.py and bench_workflows.py; other arguments
    (``--rounds 1``) go to every script that runs."""
    contrib = [f"plugins-contrib/{n}" + ("[parquet]" if n == "export" else "") for n in CONTRIB]
    _install(session, *[f"plugins/{n}" for n in PLUGINS], *contrib)
    session.install(*tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["bench"])
    scripts = {p.stem.removeprefix("bench_"): p for p in sorted((ROOT / "bench").glob("bench_*.py"))}
    chosen = [a for a in session.posargs if a in scripts]
    passed = [a for a in session.posargs if a not in scripts]
    for name in chosen or scripts:
        session.run("python", str(scripts[name].relative_to(ROOT)), *passed)
