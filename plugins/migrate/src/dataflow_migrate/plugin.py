"""dataflow-migrate plugin (being built)."""
