"""SQLite's table rebuild (the "twelve steps" of its ALTER TABLE page) for changes ALTER cannot make.

Foreign-key enforcement is switched off and legacy renames on while the table is moved aside, so no
other table's references or views are rewritten to point at the temporary name; indexes and
triggers are recreated from their recorded SQL, and ``PRAGMA foreign_key_check`` runs at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from dataflow_risk.catalog import Catalog

__all__ = ["sqlite_rebuild", "with_foreign_keys_off"]


async def with_foreign_keys_off(catalog: Catalog, statements: Sequence[str]) -> int:
    """Run ``statements`` in one transaction with FK enforcement off; return the FK violations left.

    The pragmas belong to one connection and do nothing inside a transaction, so they are set on the
    transaction's own connection before it begins, and set back after it ends.
    """
    dialect = catalog.dialect
    with catalog.translated_errors():
        async with dialect.transaction_connection() as own:
            await own.execute("PRAGMA foreign_keys = OFF", [])
            await own.execute("PRAGMA legacy_alter_table = ON", [])
            try:
                async with dialect.transaction(connection=own) as conn:
                    for statement in statements:
                        await conn.execute(statement, [])
                return len(await own.fetch("PRAGMA foreign_key_check", []))
            finally:
                await own.execute("PRAGMA legacy_alter_table = OFF", [])
                await own.execute("PRAGMA foreign_keys = ON", [])


async def sqlite_rebuild(catalog: Catalog, table: str, *, add_columns: Sequence[tuple[str, str]] = ()) -> int:
    """Rebuild ``table`` with extra columns ``(definition SQL, expression filling existing rows)``
    (SQLite refuses NOT NULL without a constant default in ADD COLUMN); return the FK violations left."""
    info = await catalog.table(table)
    if info is None or not info.ddl:
        raise catalog.db.error("DF-304", f"Table {table!r} does not exist.", table=table)
    ddl = info.ddl
    keep = [c.name for c in info.columns]
    end = ddl.rstrip().rfind(")")
    new_ddl = ddl[:end] + "".join(f", {definition}" for definition, _ in add_columns) + ddl[end:]
    tmp = f"_df_rebuild_{uuid.uuid4().hex[:8]}"
    q = catalog.q
    target_cols = [q(c) for c in keep] + [definition.split()[0] for definition, _ in add_columns]
    sources = [q(c) for c in keep] + [source for _, source in add_columns]
    statements = [
        f"ALTER TABLE {q(table)} RENAME TO {q(tmp)}",
        new_ddl,
        f"INSERT INTO {q(table)} ({', '.join(target_cols)}) SELECT {', '.join(sources)} FROM {q(tmp)}",
        f"DROP TABLE {q(tmp)}",
        *(i.definition for i in info.indexes if i.definition),
        *(t.definition for t in info.triggers),
    ]
    return await with_foreign_keys_off(catalog, statements)
