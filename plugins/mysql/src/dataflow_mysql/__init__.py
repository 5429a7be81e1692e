"""dataflow-mysql: the MySQL / MariaDB dialect for DataFlow, on aiomysql."""

from dataflow_mysql.dialect import MySQLDialect

__all__ = ["MySQLDialect"]
