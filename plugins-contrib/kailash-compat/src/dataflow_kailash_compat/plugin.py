"""kailash-compat plugin: the ``dataflow compat`` command, which lists the Kailash import paths served.

The aliases themselves do not come through a hook: imports happen before any DataFlow instance (and
its plugin manager) exists. A finder installed at interpreter start-up serves them (see ``finder``);
disabling this plugin switches that finder off too.
"""

from __future__ import annotations

from typing import Any

from dataflow.hookspecs import hookimpl


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    # By import path: the command module loads only when the command runs.
    app.command("dataflow_kailash_compat.cli:compat_command", name="compat",
                help="List the Kailash import paths this plugin serves (kailash.*, dataflow.platform.*, "
                     "dataflow.migrations.*).")
