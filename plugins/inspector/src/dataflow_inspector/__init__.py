"""dataflow-inspector: look inside a workflow before (and while) it runs.

``from dataflow_inspector import Inspector``; ``Inspector(workflow)`` answers for a ``WorkflowBuilder``
or a built workflow, including one that ``build()`` would refuse. The same checks back the
``dataflow analyze | debug | validate | perf | generate`` commands.
"""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "ConnectionInfo": "dataflow_inspector.inspector",
    "Inspector": "dataflow_inspector.inspector",
    "NodeInfo": "dataflow_inspector.inspector",
    "ParameterInfo": "dataflow_inspector.inspector",
    "ParameterTrace": "dataflow_inspector.inspector",
    "Problem": "dataflow_inspector.inspector",
    "load_workflow": "dataflow_inspector.loading",
})

__all__ = __dir__()
