"""dataflow-native-arrays: PostgreSQL native arrays for list fields, and list operators on every database.

``__dataflow__ = {"use_native_arrays": True}`` stores ``List[str]`` / ``List[int]`` / ``List[float]``
fields as ``TEXT[]`` / ``INTEGER[]`` / ``REAL[]`` on PostgreSQL (refused elsewhere, DF-609), and
``$contains``, ``$overlap`` and ``$any`` filter list fields on SQLite, PostgreSQL and MySQL / MariaDB,
whether stored as native arrays or as JSON.
"""

from dataflow_native_arrays.operators import ARRAY_OPERATORS, compilers_for
from dataflow_native_arrays.plugin import ARRAY_TYPES, native_fields

__all__ = ["ARRAY_OPERATORS", "ARRAY_TYPES", "compilers_for", "native_fields"]
