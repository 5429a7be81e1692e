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
    from dataflow_kailash_compat.cli import compat_command

    app.command(compat_command, name="compat")
