"""dataflow-errors plugin (being built)."""
