"""Makes the table of spec examples importable by the tests (``kailash_compat_spec_examples``).

Tests are collected with ``--import-mode=importlib``, which puts no test folder on ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("kailash_compat_spec_examples",
                                               Path(__file__).with_name("spec_examples.py"))
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _module
_spec.loader.exec_module(_module)
