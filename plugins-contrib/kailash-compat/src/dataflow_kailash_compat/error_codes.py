"""``ErrorCode`` for ``dataflow.platform.errors``: Kailash's enum of DF codes, made from DataFlow's catalogue.

Each code is a member twice over: by number (``ErrorCode.DF_701``) and by its catalogue title in
upper snake case (``ErrorCode.UNKNOWN_NODE_TYPE``); the value is the code string (``"DF-701"``), so
``error.code == ErrorCode.DF_701`` holds for a ``DataFlowError``. Needs the errors plugin (its catalogue).
"""

from __future__ import annotations

import enum
import re

from dataflow_errors import CATALOGUE

__all__ = ["ErrorCode"]


def _members() -> dict[str, str]:
    members: dict[str, str] = {}
    for entry in CATALOGUE:
        members[entry.code.replace("-", "_")] = entry.code
    for entry in CATALOGUE:
        title = re.sub(r"[^A-Z0-9]+", "_", entry.title.upper()).strip("_")
        members.setdefault(title, entry.code)
    return members


ErrorCode = enum.StrEnum("ErrorCode", _members(), module=__name__)  # type: ignore[misc]
