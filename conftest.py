"""Settings shared by every test in the workspace."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the backend DataFlow's drivers use)."""
    return "asyncio"
