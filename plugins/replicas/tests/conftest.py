"""Fixtures of the replica tests: private primary + replica pairs, started once per module.

Each pair is made from scratch (``dataflow_replicas.clusters``) on free ports under /tmp and removed
when the module's tests are done, failed or not. Where the server tools are missing the tests skip
with the reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from dataflow_replicas.clusters import MariaDBPair, PostgresPair


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"CI=true: the replica tests need their servers: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pg_pair() -> Iterator[PostgresPair]:
    reason = PostgresPair.missing()
    if reason is not None:
        _unavailable(reason)
    with PostgresPair() as pair:
        yield pair


@pytest.fixture(scope="module")
def maria_pair() -> Iterator[MariaDBPair]:
    reason = MariaDBPair.missing()
    if reason is not None:
        _unavailable(reason)
    with MariaDBPair() as pair:
        yield pair
