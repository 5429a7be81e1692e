"""dataflow-protect: write protection at six levels and a hash-chained audit trail for DataFlow.

``DataFlow(url, write_protection=[...], audit_log=True)``; ``db.protection`` adds, removes and lists
rules at run time; ``db.audit_context.actor("alice")`` names who writes; ``dataflow audit verify``
checks the trail. See the README.
"""

from dataflow_protect.context import AuditContext
from dataflow_protect.manager import ProtectionManager
from dataflow_protect.rules import LEVELS, Rule, RuleContext, WriteIntent

__all__ = ["LEVELS", "AuditContext", "ProtectionManager", "Rule", "RuleContext", "WriteIntent"]
