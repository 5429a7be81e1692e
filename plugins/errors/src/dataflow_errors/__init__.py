"""dataflow-errors: the DF error-code catalogue, rich rendering and the ``dataflow errors`` commands."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CATALOGUE": "dataflow_errors.catalogue",
        "CatalogueEntry": "dataflow_errors.catalogue",
        "Solution": "dataflow_errors.catalogue",
        "by_code": "dataflow_errors.catalogue",
        "lookup": "dataflow_errors.catalogue",
        "render_markdown": "dataflow_errors.docs",
        "write_docs": "dataflow_errors.docs",
        "render": "dataflow_errors.render",
        "render_text": "dataflow_errors.render",
    },
)

__all__ = __dir__()
