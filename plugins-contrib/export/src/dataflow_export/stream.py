"""Streaming a model's rows to a file and back, in batches, with memory that does not grow with the table.

**Export** reads with keyset pagination, never OFFSET: each batch is ``WHERE <filter> AND <after the
last row> ORDER BY <order_by>, id LIMIT n``, so batch k costs the same as batch 1 and a row is never
skipped or repeated because earlier rows moved. The order is total (``id`` breaks ties), and NULLs sit
where the kernel sorts them on every database (last ascending, first descending), which the "after"
condition follows. Ties are compared with ``>=`` and ``<=`` rather than ``=``, so equality means what
the database's ordering means (SQLite orders Decimals as numbers, not text).
The file is written to a temporary name beside the target and renamed when complete, so a failed
export never leaves half a file. Writing a batch overlaps reading the next one.

**Import** validates every value against the model as it reads, and writes through the dialect's bulk
insert (COPY on PostgreSQL, multi-row statements or ``executemany`` elsewhere) inside one transaction:
the first bad line raises DF-712 naming it, and nothing is written. When the database refuses a batch
(a duplicate id, a NOT NULL or foreign key), the import is rolled back and replayed up to that batch,
row by row within it, to name the line that the database refused; that replay is rolled back too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError, did_you_mean
from dataflow.models import FieldSpec, ModelSpec
from dataflow.query import And, Cond, Count, Expr, Insert, Or, Select, Upsert, parse_filter, parse_order_by

from dataflow_export.formats import BadLine, Reader, format_of, gzipped, open_reader, open_writer

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["CONFLICT_RESOLUTIONS", "DEFAULT_BATCH_SIZE", "Progress", "export_model", "import_model"]

DEFAULT_BATCH_SIZE = 2000
CONFLICT_RESOLUTIONS = ("error", "skip", "update")
_UNORDERABLE = ("json", "array", "bytes")

Progress = Callable[[int, int], None]
"""``progress(done, total)``: rows written (export) or bytes / Parquet rows read (import) so far."""


def _path(raw: Any, parameter: str = "path") -> Path:
    if isinstance(raw, os.PathLike):
        raw = os.fspath(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise DataFlowError("DF-101" if raw is None else "DF-102",
                            f"'{parameter}' must be a file path, got {raw!r}.",
                            context={"parameter": parameter},
                            solutions=['Pass {"path": "users.csv"} (csv, jsonl or parquet; .gz for csv / jsonl).'])
    return Path(raw).expanduser()


def _batch_size(value: Any) -> int:
    if value is None:
        return DEFAULT_BATCH_SIZE
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1_000_000:
        raise DataFlowError("DF-102", f"'batch_size' must be a whole number from 1 to 1,000,000, got {value!r}.",
                            context={"parameter": "batch_size"})
    return value


def _file_error(action: str, path: Path, exc: OSError) -> DataFlowError:
    return DataFlowError(
        "DF-713", f"Cannot {action} {str(path)!r}: {exc.strerror or exc}.",
        context={"path": str(path), "action": action},
        solutions=["Check that the path exists (for an import) or that its folder exists and is writable "
                   "(for an export)."],
    )


# ---- export ------------------------------------------------------------------------------------
def _columns(model: ModelSpec, fields: Any) -> list[FieldSpec]:
    if fields is None:
        return list(model.fields)
    if not isinstance(fields, list | tuple) or not fields or not all(isinstance(f, str) for f in fields):
        raise DataFlowError("DF-102", f"'fields' must be a non-empty list of field names, got {fields!r}.",
                            context={"parameter": "fields"})
    return [model.field(name) for name in dict.fromkeys(fields)]


def _order(model: ModelSpec, order_by: Any) -> list[tuple[FieldSpec, bool, bool]]:
    """``(field, descending, nulls_first)`` keys of ``order_by``, ending with ``id`` so the order is total."""
    order = [(model.field_map[name], desc, nulls) for name, desc, nulls in parse_order_by(model, order_by)]
    for field, _, _ in order:
        if field.kind in _UNORDERABLE:
            raise DataFlowError(
                "DF-102", f"An export cannot be ordered by '{field.name}', a {field.kind} field.",
                context={"parameter": "order_by", "field": field.name},
                solutions=["Order by text, number, boolean, date or datetime fields (id breaks ties)."])
    names = [f.name for f, _, _ in order]
    if "id" not in names:
        order.append((model.id_field, False, False))
    else:
        order = order[: names.index("id") + 1]  # nothing after a unique key changes the order
    return order


def _after(keys: Sequence[tuple[FieldSpec, bool, bool]], last: Mapping[str, Any]) -> Expr | None:
    """Rows after ``last`` in the order of ``keys``, NULLs placed where each key puts them (by default
    last ascending, first descending); None when no row can come after it."""
    field, desc, nulls_first = keys[0]
    value = last[field.name]
    if value is None:
        # NULLs last: only rows tied on NULL can follow. NULLs first: every non-NULL row follows too.
        tie: Expr = Cond(field, "null", True)
        strict: Expr | None = Cond(field, "null", False) if nulls_first else None
    else:
        tie = And((Cond(field, "gte", value), Cond(field, "lte", value)))
        strict = Cond(field, "lt" if desc else "gt", value)
        if field.nullable and not nulls_first:
            strict = Or((strict, Cond(field, "null", True)))
    rest = _after(keys[1:], last) if len(keys) > 1 else None
    tied = And((tie, rest)) if rest is not None else None
    branches = tuple(b for b in (strict, tied) if b is not None)
    if not branches:
        return None
    return branches[0] if len(branches) == 1 else Or(branches)


def _conjunction(parts: Sequence[Expr | None]) -> Expr | None:
    kept = tuple(p for p in parts if p is not None)
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else And(kept)


@contextlib.contextmanager
def _temporary_beside(target: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary file next to ``target``, renamed onto it on success and removed on failure."""
    if target.exists() and not overwrite:
        raise DataFlowError("DF-713", f"{str(target)!r} already exists.", context={"path": str(target)},
                            solutions=["Pass overwrite=True (--overwrite), or choose another path."])
    if target.is_dir():
        raise DataFlowError("DF-713", f"{str(target)!r} is a folder, not a file.", context={"path": str(target)})
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise _file_error("write", target, exc) from exc
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


async def export_model(
    db: DataFlow,
    model: ModelSpec,
    path: Any,
    *,
    format: str | None = None,
    filter: Any = None,
    order_by: Any = None,
    fields: Any = None,
    batch_size: Any = None,
    overwrite: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the rows of ``model`` matching ``filter`` to ``path``, in ``order_by`` order; the summary."""
    target = _path(path)
    fmt = format_of(target, format)
    size = _batch_size(batch_size)
    columns = _columns(model, fields)
    where = parse_filter(model, filter, extra_operators=db.dialect.operators)
    order = _order(model, order_by)
    await db.ensure_ready(model)
    total = await db.dialect.run(Count(model, where)) if progress is not None else 0
    started = time.perf_counter()
    written = 0
    with _temporary_beside(target, overwrite) as temporary:
        try:
            writer = open_writer(fmt, temporary, columns, model, gzipped=gzipped(target))
        except OSError as exc:
            raise _file_error("write", target, exc) from exc
        pending: asyncio.Future[None] | None = None
        try:
            sort = tuple((f.name, desc, nulls) for f, desc, nulls in order)
            after: Expr | None = None
            while True:
                rows = await db.dialect.run(Select(model, _conjunction([where, after]), sort, size))
                if pending is not None:
                    await pending
                if not rows:
                    break
                # The file is written in a worker thread while the next batch is read.
                pending = asyncio.ensure_future(asyncio.to_thread(writer.write, rows))
                written += len(rows)
                if progress is not None:
                    progress(written, max(total, written))
                after = _after(order, rows[-1]) if len(rows) == size else None
                if after is None:
                    break
            if pending is not None:
                await pending
                pending = None
        except OSError as exc:
            raise _file_error("write", target, exc) from exc
        finally:
            if pending is not None:
                with contextlib.suppress(Exception):
                    await pending
            writer.close()
    return {"path": str(target), "format": fmt, "exported": written, "bytes": target.stat().st_size,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1), "success": True}


# ---- import ------------------------------------------------------------------------------------
class _Rollback(Exception):
    """Raised inside a transaction only to roll it back."""


class _Rows:
    """Turns a reader's records into full rows over fixed columns: defaults, timestamps, checks."""

    def __init__(self, model: ModelSpec, reader: Reader, stamp: dt.datetime) -> None:
        self.model = model
        present = {f.name for f in reader.columns}
        # A generated id is written only when the file carries ids; anything else absent gets its default.
        self.fields = [f for f in model.fields if f.name in present or not f.generated]
        self.columns = tuple(f.name for f in self.fields)
        self.stamp = stamp

    def row(self, line: int, record: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for field in self.fields:
            value = record.get(field.name)
            if value is None:
                if field.auto:
                    value = self.stamp
                elif field.generated:
                    raise BadLine(line, "the id is missing on this line while other lines give one.", "id")
                elif not field.nullable:
                    if field.required:
                        reason = "is required" if field.name not in record else "cannot be empty"
                        raise BadLine(line, f"the field '{field.name}' {reason}.", field.name)
                    value = field.default_value()
            values.append(value)
        return tuple(values)


def _bad_line(error: BadLine, path: Path, model: ModelSpec, fmt: str) -> DataFlowError:
    where = "row" if fmt == "parquet" else "line"
    context: dict[str, Any] = {"path": str(path), where: error.line, "model": model.name}
    if error.field is not None:
        context["field"] = error.field
    if error.value is not None:
        context["value"] = repr(error.value)[:80]
    field = f" (field '{error.field}')" if error.field and f"'{error.field}'" not in error.reason else ""
    return DataFlowError(
        "DF-712", f"{where.title()} {error.line} of {path.name}{field}: {error.reason} Nothing was imported.",
        context=context,
        solutions=[f"Fix {where} {error.line} and import the file again; the import is all or nothing."],
    )


def _check_conflict(value: Any) -> str:
    if value not in CONFLICT_RESOLUTIONS:
        raise DataFlowError(
            "DF-102", f"conflict_resolution must be one of {', '.join(CONFLICT_RESOLUTIONS)}, got {value!r}."
            f"{did_you_mean(str(value), CONFLICT_RESOLUTIONS)}", context={"parameter": "conflict_resolution"})
    return str(value)


async def _write_batch(db: DataFlow, model: ModelSpec, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
                       conflict: str, conn: Any) -> tuple[int, int]:
    """Write one batch; ``(inserted, updated)``."""
    if conflict == "update":
        key = columns.index("id")
        unique = list({row[key]: row for row in rows}.values())  # the file's last row for an id wins
        outcome = await db.dialect.run(Upsert(model, columns, unique, ("id",), None, False), conn)
        return int(outcome[0]), int(outcome[1])
    inserted = await db.dialect.run(Insert(model, columns, rows, skip_conflicts=conflict == "skip"), conn)
    return int(inserted), 0


def _open(fmt: str, path: Path, model: ModelSpec) -> Reader:
    if not path.is_file():
        raise DataFlowError("DF-713", f"No file {str(path)!r} to import.", context={"path": str(path)},
                            solutions=["Check the path; relative paths start from the working directory."])
    try:
        return open_reader(fmt, path, model)
    except OSError as exc:
        raise _file_error("read", path, exc) from exc
    except BadLine as error:
        raise _bad_line(error, path, model, fmt) from None


async def import_model(
    db: DataFlow,
    model: ModelSpec,
    path: Any,
    *,
    format: str | None = None,
    batch_size: Any = None,
    conflict_resolution: Any = "error",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Read ``path`` into ``model``'s table in one transaction; the summary, or DF-712 and nothing written."""
    source = _path(path)
    fmt = format_of(source, format)
    size = _batch_size(batch_size)
    conflict = _check_conflict(conflict_resolution)
    await db.ensure_ready(model)
    started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC)
    counts = {"processed": 0, "inserted": 0, "updated": 0, "skipped": 0}
    failed_batch: tuple[int, DataFlowError] | None = None
    reader = _open(fmt, source, model)
    try:
        rows = _Rows(model, reader, stamp)
        if conflict == "update" and "id" not in rows.columns:
            raise _bad_line(BadLine(1, "conflict_resolution='update' matches rows by id, and the file has no id "
                                       "column."), source, model, fmt)
        async with db.transaction() as conn:
            for number, batch in enumerate(reader.batches(size)):
                tuples = [rows.row(line, record) for line, record in batch]
                try:
                    inserted, updated = await _write_batch(db, model, rows.columns, tuples, conflict, conn)
                except DataFlowError as exc:
                    failed_batch = (number, exc)
                    raise
                counts["processed"] += len(tuples)
                counts["inserted"] += inserted
                counts["updated"] += updated
                counts["skipped"] += len(tuples) - inserted - updated
                if progress is not None:
                    progress(reader.position(), reader.size)
    except BadLine as error:
        raise _bad_line(error, source, model, fmt) from None
    except OSError as exc:
        raise _file_error("read", source, exc) from exc
    except DataFlowError as exc:
        if failed_batch is None or failed_batch[1] is not exc:
            raise
        raise await _locate_refusal(db, model, source, fmt, size, conflict, stamp, failed_batch[0], exc) from exc
    finally:
        reader.close()
    return {"path": str(source), "format": fmt, **counts, "success": True,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1)}


async def _locate_refusal(db: DataFlow, model: ModelSpec, source: Path, fmt: str, size: int, conflict: str,
                          stamp: dt.datetime, failed: int, error: DataFlowError) -> DataFlowError:
    """DF-712 naming the line the database refused in batch ``failed`` (found by a rolled-back replay)."""
    culprit: int | None = None
    reader = _open(fmt, source, model)
    rows = _Rows(model, reader, stamp)
    first_line = last_line = 0
    try:
        async with db.transaction() as conn:
            for number, batch in enumerate(reader.batches(size)):
                tuples = [rows.row(line, record) for line, record in batch]
                if number < failed:
                    await _write_batch(db, model, rows.columns, tuples, conflict, conn)
                    continue
                first_line, last_line = batch[0][0], batch[-1][0]
                for (line, _record), row in zip(batch, tuples, strict=True):
                    try:
                        await _write_batch(db, model, rows.columns, [row], conflict, conn)
                    except DataFlowError:
                        culprit = line
                        break
                break
            raise _Rollback
    except (_Rollback, DataFlowError):
        pass
    finally:
        reader.close()
    where = "row" if fmt == "parquet" else "line"
    located = f"{where.title()} {culprit}" if culprit is not None else f"{where.title()}s {first_line}-{last_line}"
    return DataFlowError(
        "DF-712", f"{located} of {source.name}: the database refused it ({error.code}: {error.message}). "
                  "Nothing was imported.",
        context={"path": str(source), where: culprit if culprit is not None else f"{first_line}-{last_line}",
                 "model": model.name, "cause_code": error.code},
        solutions=["Fix that line (a duplicate id? conflict_resolution='skip' or 'update' keeps going past "
                   "rows that already exist) and import again; the import is all or nothing."],
    )
