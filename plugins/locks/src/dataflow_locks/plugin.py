"""dataflow-locks plugin (being built)."""
