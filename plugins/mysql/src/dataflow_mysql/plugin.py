"""dataflow-mysql plugin (being built)."""
