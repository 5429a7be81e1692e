"""Settings shared by every test in the workspace.

Hypothesis runs the profile named by ``HYPOTHESIS_PROFILE``: ``default`` (what ``pytest`` and CI run:
modest example counts, so the suite stays quick), ``thorough`` (four times as many, for a long run:
``HYPOTHESIS_PROFILE=thorough uv run pytest tests/test_error_property.py``) or ``quick`` (a smoke
run). A property test's ``settings(max_examples=...)`` states the ``thorough`` count and scales it by
``settings().max_examples / 160`` (``tests/test_error_property.py::cases``).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

for _name, _examples in (("quick", 10), ("default", 40), ("thorough", 160)):
    settings.register_profile(_name, max_examples=_examples, deadline=None, database=None,
                              suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

pytest_plugins = ["pytester"]  # the testing plugin's tests run users' test files (only the root may ask)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the backend DataFlow's drivers use)."""
    return "asyncio"
