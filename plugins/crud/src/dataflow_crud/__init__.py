"""dataflow-crud: the eleven workflow nodes DataFlow generates for every model, and its aggregate node."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "OPERATIONS": "dataflow_crud.nodes",
    "make_nodes": "dataflow_crud.nodes",
})

__all__ = __dir__()
