"""dataflow-kailash-compat: the import paths of the spec and of Kailash DataFlow 2.x, served by DataFlow.

``kailash.workflow.builder``, ``kailash.runtime``, ``dataflow.platform.*`` and ``dataflow.migrations.*``
resolve to DataFlow's own objects. The ``dataflow_kailash_compat.pth`` file this distribution installs
calls ``install()`` at interpreter start-up; ``install()`` only puts a finder on ``sys.meta_path`` and
imports nothing else (not even ``dataflow``), so start-up stays cheap. The finder and its table of
names are in ``dataflow_kailash_compat.finder`` and ``.aliases``; README.md says why it is done this way.

Call ``install()`` yourself where ``.pth`` files are not read (``python -S``, some frozen apps); it is
idempotent. ``uninstall()`` removes the finder (already imported aliases stay in ``sys.modules``).
"""

from __future__ import annotations

__all__ = ["install", "uninstall"]


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    from dataflow_kailash_compat.finder import install as install_finder

    install_finder()


def uninstall() -> None:
    """Take the alias finder off ``sys.meta_path``."""
    from dataflow_kailash_compat.finder import uninstall as uninstall_finder

    uninstall_finder()
