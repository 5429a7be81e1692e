"""dataflow-errors: the DF error-code catalogue, rich rendering and the ``dataflow errors`` commands."""

from dataflow_errors.catalogue import CATALOGUE, CatalogueEntry, Solution, by_code, lookup
from dataflow_errors.docs import render_markdown, write_docs
from dataflow_errors.render import render, render_text

__all__ = [
    "CATALOGUE",
    "CatalogueEntry",
    "Solution",
    "by_code",
    "lookup",
    "render",
    "render_markdown",
    "render_text",
    "write_docs",
]
