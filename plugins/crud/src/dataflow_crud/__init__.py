"""dataflow-crud: the eleven workflow nodes DataFlow generates for every model."""

from dataflow_crud.nodes import OPERATIONS, make_nodes

__all__ = ["OPERATIONS", "make_nodes"]
