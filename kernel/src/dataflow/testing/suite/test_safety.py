"""Conformance: placeholder."""

from dataflow.testing.suite._support import tests_in

__all__ = tests_in(globals())
