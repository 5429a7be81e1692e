"""dataflow-schema-cache: the spec's schema cache (``db._schema_cache``).

Which models' tables are known to be ready, so no operation checks the schema twice: the options
``schema_cache_enabled``, ``schema_cache_ttl``, ``schema_cache_max_size`` and ``schema_cache_validation``,
``clear()`` and ``get_metrics()``, thread-safe, invalidated by every migration this process applies.
Without it, the kernel keeps a plain memo with none of these.
"""

from dataflow_schema_cache.cache import SchemaCache
from dataflow_schema_cache.validate import ValidatingSchemaManager, live_checksum

__all__ = ["SchemaCache", "ValidatingSchemaManager", "live_checksum"]
