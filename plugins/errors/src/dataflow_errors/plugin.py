"""ErrorEnhancer plugin: hints for every DF code from the catalogue, and the ``dataflow errors`` commands.

``dataflow_error_hints`` answers with the catalogue's title, causes, solutions, first example and docs
anchor for the error's code. The kernel calls every provider in isolation, in plugin-name order with
its own first, so hints from here never hide or override what the raise site or the kernel said.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from dataflow.errors import DataFlowError, ErrorHint
from dataflow.hookspecs import hookimpl


@functools.cache
def _hints() -> dict[str, ErrorHint]:
    """Built once, at the first error (not when the plugin loads: every command start-up would pay for
    the catalogue); a hint is a frozen record, so every error of a code can share it."""
    from dataflow_errors.catalogue import CATALOGUE

    return {entry.code: entry.hint() for entry in CATALOGUE}


@hookimpl
def dataflow_error_hints(error: DataFlowError) -> Iterable[ErrorHint] | None:
    hint = _hints().get(error.code)
    return (hint,) if hint is not None else None


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    # By import path: the command group loads only when ``dataflow errors`` runs.
    app.command("dataflow_errors.cli:errors_group", name="errors",
                help="The DF error-code catalogue: list codes, show one, generate the docs.")
