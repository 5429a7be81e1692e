"""The conformance suite's fixtures (``db``, ``make_model``, ``run``, ``run_node``) for the DuckDB-only tests."""

from dataflow.testing.fixtures import db, make_model, run, run_node  # noqa: F401
