"""dataflow-native-arrays: PostgreSQL native arrays for list fields, and list operators on every database.

``__dataflow__ = {"use_native_arrays": True}`` stores ``List[str]`` / ``List[int]`` / ``List[float]``
fields as ``TEXT[]`` / ``INTEGER[]`` / ``REAL[]`` on PostgreSQL (refused elsewhere, DF-609), and
``$contains``, ``$overlap`` and ``$any`` filter list fields on SQLite, PostgreSQL, MySQL / MariaDB and the
contributed DuckDB dialect, whether stored as native arrays or as JSON.
"""

from dataflow.plugins import lazy_exports

# Loaded on first use: loading the plugin imports this package, and the operators need the SQL dialect.
__getattr__, __dir__ = lazy_exports(__name__, {
    "ARRAY_OPERATORS": "dataflow_native_arrays.operators",
    "compilers_for": "dataflow_native_arrays.operators",
    "ARRAY_TYPES": "dataflow_native_arrays.plugin",
    "native_fields": "dataflow_native_arrays.plugin",
})

__all__ = __dir__()
