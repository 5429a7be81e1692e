"""``MissingComponentError``: an import of a Kailash path whose provider is absent or switched off.

It is both an ``ImportError`` (so ``try: from … import …`` / ``except ImportError`` keeps working) and a
DF-407 ``DataFlowError`` naming the package to install. Imported only when such an error is raised:
the finder that raises it loads at interpreter start-up and must not import the kernel then.
"""

from __future__ import annotations

from dataflow.errors import DataFlowError
from dataflow.runtime import default_manager

__all__ = ["MissingComponentError", "missing_component"]


class MissingComponentError(DataFlowError, ImportError):
    """DF-407 raised by an import: the module or name needs a package that is not installed or enabled."""

    def __init__(self, message: str, package: str, module: str | None = None) -> None:
        DataFlowError.__init__(
            self, "DF-407", message, context={"package": package, "module": module},
            solutions=[f"pip install {package}", "Check `dataflow plugins list`: it may be disabled."],
        )
        self.name = module
        self.package = package


def missing_component(message: str, package: str, module: str | None = None) -> MissingComponentError:
    """The error, with the catalogue's hints folded in as for any error raised outside an instance."""
    error = MissingComponentError(message, package, module)
    if error.effective_mode() != "DISABLED":
        default_manager().apply_error_hints(error)
    return error
