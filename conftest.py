"""Settings shared by every test in the workspace."""

import pytest

pytest_plugins = ["pytester"]  # the testing plugin's tests run users' test files (only the root may ask)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the backend DataFlow's drivers use)."""
    return "asyncio"
