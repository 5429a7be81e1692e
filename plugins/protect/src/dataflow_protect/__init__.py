"""dataflow-protect: write protection at six levels and a hash-chained audit trail for DataFlow.

``DataFlow(url, write_protection=[...], audit_log=True)``; ``db.protection`` adds, removes and lists
rules at run time; ``db.audit_context.actor("alice")`` names who writes; ``db.audit.verify()`` and
``dataflow audit verify`` check the trail. See the README. Names load on first use, so that loading the
plugin (``dataflow --help``) imports nothing more.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["LEVELS", "AuditContext", "AuditTrail", "ProtectionManager", "Rule", "RuleContext", "VerifyReport",
           "WriteIntent"]

_HOMES = {"LEVELS": "rules", "Rule": "rules", "RuleContext": "rules", "WriteIntent": "rules",
          "AuditContext": "context", "ProtectionManager": "manager", "AuditTrail": "audit",
          "VerifyReport": "audit"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dataflow_protect' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dataflow_protect.{home}"), name)
