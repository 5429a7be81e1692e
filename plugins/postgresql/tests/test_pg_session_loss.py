"""PostgreSQL sessions ended by the server (pg_terminate_backend of the test's own sessions only):
the shared scenarios of ``dataflow.testing.session_loss``."""

import pytest
from dataflow.testing.session_loss import *  # noqa: F403
from dataflow.testing.session_loss import SessionAdmin


@pytest.fixture
def session_admin() -> SessionAdmin:
    return SessionAdmin(
        own_id="SELECT pg_backend_pid()",
        kill="SELECT pg_terminate_backend({})",
        alive="SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {}",
        waiting="SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' "
                "AND query LIKE '%{}%'",
        lock_table=["BEGIN", "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE"],
        unlock_table=["COMMIT"],
    )
