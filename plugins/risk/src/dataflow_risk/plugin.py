"""dataflow-risk plugin (being built)."""
