"""MariaDB sessions ended by the server (KILL CONNECTION of the test's own sessions only): the shared
scenarios of ``dataflow.testing.session_loss``."""

import pytest
from dataflow.testing.session_loss import *  # noqa: F403
from dataflow.testing.session_loss import SessionAdmin


@pytest.fixture
def session_admin() -> SessionAdmin:
    return SessionAdmin(
        own_id="SELECT CONNECTION_ID()",
        kill="KILL CONNECTION {}",
        alive="SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {}",
        waiting="SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND = 'Query' "
                "AND INFO LIKE '%{}%'",
        lock_table=["LOCK TABLES {} WRITE"],
        unlock_table=["UNLOCK TABLES"],
    )
