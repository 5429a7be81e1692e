"""dataflow-postgresql: the PostgreSQL dialect for DataFlow, on asyncpg."""

from dataflow_postgresql.dialect import PGConnection, PostgreSQLDialect

__all__ = ["PGConnection", "PostgreSQLDialect"]
