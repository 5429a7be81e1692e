"""dataflow-mysql: the MySQL / MariaDB dialect for DataFlow, on aiomysql."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "MySQLDialect": "dataflow_mysql.dialect",
})

__all__ = __dir__()
