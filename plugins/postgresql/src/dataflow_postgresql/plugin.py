"""dataflow-postgresql plugin (being built)."""
