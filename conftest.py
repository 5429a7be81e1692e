"""Settings shared by every test in the workspace.

Hypothesis runs the profile named by ``HYPOTHESIS_PROFILE``: ``default`` (what ``pytest`` and CI run:
modest example counts, so the suite stays quick), ``thorough`` (four times as many, for a long run:
``HYPOTHESIS_PROFILE=thorough uv run pytest tests/test_error_property.py``) or ``quick`` (a smoke
run). A property test's ``settings(max_examples=...)`` states the ``thorough`` count and scales it by
``settings().max_examples / 160`` (``tests/test_error_property.py::cases``).

Bytecode: where the environment turns writing ``.pyc`` files off (``PYTHONDONTWRITEBYTECODE``), every
Python process a test starts (the guide's examples, the console script, pytester runs, xdist workers)
would compile the whole package from source again, about 1.3 s of a 2 s start. The test run writes it
under a private prefix in the temporary folder instead (``PYTHONPYCACHEPREFIX``): the source tree stays
free of ``__pycache__`` folders, as the setting wants, and a process starts from cached bytecode.
"""

import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

for _name, _examples in (("quick", 10), ("default", 40), ("thorough", 160)):
    settings.register_profile(_name, max_examples=_examples, deadline=None, database=None,
                              suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

if os.environ.pop("PYTHONDONTWRITEBYTECODE", ""):
    # Children inherit the environment: xdist workers are started after this file is read.
    os.environ.setdefault("PYTHONPYCACHEPREFIX",
                          str(Path(tempfile.gettempdir()) / f"dataflow-tests-pycache-{getattr(os, 'getuid', str)()}"))
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
    sys.dont_write_bytecode = False

pytest_plugins = ["pytester"]  # the testing plugin's tests run users' test files (only the root may ask)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the backend DataFlow's drivers use)."""
    return "asyncio"
