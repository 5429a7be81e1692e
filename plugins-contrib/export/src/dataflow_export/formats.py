"""The three file formats, each a batch writer and a batch reader that round-trip every field kind exactly.

Values are written so that reading them back gives the same canonical value (the one a node returns):

| kind | CSV (text) | JSON Lines | Parquet |
|---|---|---|---|
| str | as is | string | string |
| int / float | ``str`` / ``repr`` (``inf``, ``nan``) | number (``"NaN"``, ``"Infinity"`` strings) | int64 / float64 |
| bool | ``true`` / ``false`` | true / false | bool |
| datetime | ISO-8601 with offset (UTC) | the same, as a string | timestamp(us, UTC) |
| date | ISO-8601 | the same, as a string | date32 |
| Decimal | its exact digits (``1.10`` stays ``1.10``) | the same, as a string | string (exact digits) |
| bytes | base64 | base64 string | binary |
| dict / list (JSON) | compact JSON text | the value itself | JSON text |
| List[str/int/float] | compact JSON text | the list | list<…> |

**NULL in CSV.** An empty unquoted field is NULL; an empty string is written quoted (``""``), as
PostgreSQL's ``COPY … CSV`` does. Python's ``csv`` reader drops that distinction, so a row where a nullable
text or bytes column reads as empty is re-read with a small quote-aware tokenizer (``_quoted_fields``);
every other row stays on the C reader. **Readers** check every value against the model and raise
``BadLine`` naming the line (or Parquet row) and the field; the caller turns it into DF-712.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import decimal
import gzip
import io
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from dataflow.errors import DataFlowError
from dataflow.models import FieldSpec, ModelSpec
from dataflow.values import coerce, parse_datetime, to_json

__all__ = ["FORMATS", "BadLine", "Reader", "Writer", "format_of", "gzipped", "open_reader", "open_writer"]

FORMATS = ("csv", "jsonl", "parquet")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_TRUE = frozenset({"true", "t", "1", "yes"})
_FALSE = frozenset({"false", "f", "0", "no"})
_TEXTUAL = ("str", "bytes")
"""Kinds whose text can be empty: there an empty CSV field is the empty value, or (unquoted, nullable) NULL."""


class BadLine(Exception):
    """A value in the file that does not fit the model: the line (1-based; the Parquet row), the field, why."""

    def __init__(self, line: int, reason: str, field: str | None = None, value: Any = None) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason
        self.field = field
        self.value = value


def format_of(path: str | Path, given: str | None) -> str:
    """The format named by ``given``, else by the file's suffix (``.csv``, ``.jsonl.gz`` …); DF-102 if neither."""
    if given is not None:
        if given not in FORMATS:
            raise DataFlowError("DF-102", f"Unknown format {given!r}: use one of {', '.join(FORMATS)}.",
                                context={"parameter": "format", "value": given})
        return given
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    found = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if found is None:
        raise DataFlowError("DF-102", f"Cannot tell the format of {str(path)!r} from its name.",
                            context={"parameter": "format", "path": str(path)},
                            solutions=[f"Pass format= one of {', '.join(FORMATS)}, or name the file *.csv, "
                                       "*.jsonl or *.parquet (CSV and JSON Lines may end in .gz)."])
    return found


def gzipped(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


# ---- values to text / JSON and back -----------------------------------------------------------------
def _float_text(value: float) -> str:
    return repr(value)


def _float_json(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


_TEXT_ENCODERS: dict[str, Callable[[Any], str]] = {
    "str": str,
    "int": str,
    "float": _float_text,
    "bool": lambda v: "true" if v else "false",
    "datetime": lambda v: v.isoformat(),
    "date": lambda v: v.isoformat(),
    "decimal": str,
    "bytes": _b64,
    "json": to_json,
    "array": to_json,
}

_JSON_ENCODERS: dict[str, Callable[[Any], Any] | None] = {
    "str": None,
    "int": None,
    "float": _float_json,
    "bool": None,
    "datetime": lambda v: v.isoformat(),
    "date": lambda v: v.isoformat(),
    "decimal": str,
    "bytes": _b64,
    "json": None,
    "array": None,
}


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected base64") from None


def _parse_decimal(text: str) -> decimal.Decimal:
    try:
        value = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ValueError("expected a decimal number") from None
    if not value.is_finite():
        raise ValueError("expected a finite decimal number")
    return value


def _parse_int(text: str) -> int:
    return int(text.strip())


def _parse_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text.strip())


_TEXT_DECODERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": _parse_int,
    "float": float,
    "bool": _parse_bool,
    "datetime": lambda t: parse_datetime(t.strip()),
    "date": _parse_date,
    "decimal": _parse_decimal,
    "bytes": _parse_bytes,
    "json": json.loads,
    "array": json.loads,
}


def _text_decoder(field: FieldSpec) -> Callable[[str], Any]:
    """CSV text → the field's canonical value. The text decoders already return canonical values, so
    only JSON (no NaN) and lists (their elements) need the model's check as well."""
    decode = _TEXT_DECODERS[field.kind]
    if field.kind in ("json", "array"):
        return lambda text: coerce(field, decode(text))
    return decode


def _loose(field: FieldSpec, value: Any) -> Any:
    """A value from JSON or Parquet as the field's canonical value (text forms parsed as in CSV)."""
    kind = field.kind
    if isinstance(value, str) and kind in ("datetime", "date", "decimal", "bytes"):
        value = _TEXT_DECODERS[kind](value)
    elif kind == "float" and isinstance(value, str) and value in _NON_FINITE:
        value = _NON_FINITE[value]
    return coerce(field, value)


# ---- writers ---------------------------------------------------------------------------------------
class Writer:
    """Writes batches of records (dicts of canonical values) for ``fields``; ``close`` finishes the file."""

    def __init__(self, target: Path, fields: Sequence[FieldSpec]) -> None:
        self.target = target
        self.fields = list(fields)
        self.rows = 0

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _open_text(path: Path, mode: str, gzipped: bool) -> IO[str]:
    if gzipped:
        return gzip.open(path, mode + "t", encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8", newline="")


class CSVWriter(Writer):
    """CSV with a header row of field names; see the module docstring for NULL and the empty string."""

    def __init__(self, target: Path, fields: Sequence[FieldSpec], gzipped: bool = False) -> None:
        super().__init__(target, fields)
        self.file = _open_text(target, "w", gzipped)
        self.csv = csv.writer(self.file, lineterminator="\n")
        self.csv.writerow([f.name for f in self.fields])
        self.encoders = [(f.name, _TEXT_ENCODERS[f.kind]) for f in self.fields]
        # Columns where an empty value and NULL would read back alike: rows holding such an empty
        # value are written with every non-NULL field quoted.
        self.ambiguous = [f.name for f in self.fields if f.nullable and f.kind in _TEXTUAL]

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        encoders, ambiguous, out = self.encoders, self.ambiguous, self.csv
        for record in records:
            row = [None if (value := record[name]) is None else encode(value) for name, encode in encoders]
            if ambiguous and any(record[name] is not None and not record[name] for name in ambiguous):
                self.file.write(",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row) + "\n")
            else:
                out.writerow(row)
        self.rows += len(records)

    def close(self) -> None:
        self.file.close()


class JSONLWriter(Writer):
    """One JSON object per line, keys in field order."""

    def __init__(self, target: Path, fields: Sequence[FieldSpec], gzipped: bool = False) -> None:
        super().__init__(target, fields)
        self.file = _open_text(target, "w", gzipped)
        self.encoders = [(f.name, _JSON_ENCODERS[f.kind]) for f in self.fields]
        self.dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        encoders, dumps = self.encoders, self.dumps
        lines = []
        for record in records:
            obj = {}
            for name, encode in encoders:
                value = record[name]
                obj[name] = value if encode is None or value is None else encode(value)
            lines.append(dumps(obj))
        if lines:
            self.file.write("\n".join(lines) + "\n")
        self.rows += len(records)

    def close(self) -> None:
        self.file.close()


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise DataFlowError(
            "DF-407", "The parquet format needs pyarrow, which is not installed.",
            context={"format": "parquet", "package": "pyarrow"},
            solutions=["pip install 'dataflow-export[parquet]' (or pip install pyarrow)",
                       "Or use format='csv' or 'jsonl', which need nothing more."],
        ) from None
    return pyarrow


def arrow_schema(fields: Sequence[FieldSpec], model: ModelSpec) -> Any:
    """The Arrow schema of an export: exact types, each field tagged with its DataFlow kind."""
    pa = _pyarrow()
    elements = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
             "datetime": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "decimal": pa.string(),
             "bytes": pa.binary(), "json": pa.string()}
    columns = []
    for f in fields:
        arrow_type = pa.list_(elements[f.element_kind or "str"]) if f.kind == "array" else types[f.kind]
        columns.append(pa.field(f.name, arrow_type, nullable=f.nullable or f.auto or f.generated,
                                metadata={"dataflow.kind": f.kind}))
    return pa.schema(columns, metadata={"dataflow.model": model.name})


class ParquetWriter(Writer):
    """Row groups of ``ROW_GROUP`` rows (batches are gathered until then: small groups make slow, large
    files; bigger ones cost memory); Decimals as exact strings, JSON as text."""

    ROW_GROUP = 16_384

    def __init__(self, target: Path, fields: Sequence[FieldSpec], model: ModelSpec) -> None:
        super().__init__(target, fields)
        pa = _pyarrow()
        self.pa = pa
        self.schema = arrow_schema(fields, model)
        self.writer = pa.parquet.ParquetWriter(str(target), self.schema)
        self.prepare = [(f.name, str if f.kind == "decimal" else to_json if f.kind == "json" else None)
                        for f in self.fields]
        self.pending: list[Any] = []
        self.pending_rows = 0

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        columns = []
        for name, convert in self.prepare:
            values = [r[name] for r in records]
            if convert is not None:
                values = [None if v is None else convert(v) for v in values]
            columns.append(values)
        self.pending.append(self.pa.record_batch(columns, schema=self.schema))
        self.pending_rows += len(records)
        self.rows += len(records)
        if self.pending_rows >= self.ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(self.pa.Table.from_batches(self.pending, schema=self.schema))
            self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self.writer.close()


def open_writer(fmt: str, target: Path, fields: Sequence[FieldSpec], model: ModelSpec, *, gzipped: bool) -> Writer:
    """A writer of ``fmt`` onto ``target`` (gzip-compressed when ``gzipped``: CSV and JSON Lines)."""
    if fmt == "csv":
        return CSVWriter(target, fields, gzipped)
    if fmt == "jsonl":
        return JSONLWriter(target, fields, gzipped)
    return ParquetWriter(target, fields, model)


# ---- readers ---------------------------------------------------------------------------------------
class Reader:
    """Yields batches of ``(line, {field: canonical value})`` for the fields present in the file.

    ``columns`` are the model fields the file holds; ``position()`` / ``size`` measure progress.
    """

    columns: list[FieldSpec]
    size: int = 0

    def batches(self, batch_size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        raise NotImplementedError

    def position(self) -> int:
        return 0

    def close(self) -> None:
        pass


def _file_fields(model: ModelSpec, names: Sequence[Any], line: int) -> list[FieldSpec]:
    """The model fields a file's columns name; BadLine for an unknown or repeated one."""
    fields = model.field_map
    seen: set[str] = set()
    result = []
    for name in names:
        if name not in fields:
            from dataflow.errors import did_you_mean

            raise BadLine(line, f"the column {name!r} is not a field of {model.name}."
                                f"{did_you_mean(str(name), list(fields))}", str(name))
        if name in seen:
            raise BadLine(line, f"the column {name!r} appears twice.", str(name))
        seen.add(name)
        result.append(fields[name])
    return result


class _Lines:
    """The lines of a text file, remembering those of the current CSV record and the line count."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self.consumed: list[str] = []
        self.count = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.file.readline()
        if not line:
            raise StopIteration
        self.consumed.append(line)
        self.count += 1
        return line


_EMPTY_QUOTED = re.compile(r'(?:\A|,)""(?:,|\r?\n?\Z)')
"""An empty quoted field somewhere in a record (may also match inside a quoted value: then the
tokenizer decides; it never misses one)."""


def _quoted_fields(record: str) -> list[bool]:
    """For each field of one CSV record (comma-separated, ``"`` quoting), whether it was quoted."""
    quoted: list[bool] = []
    index, end = 0, len(record.rstrip("\r\n"))
    while True:
        if index < end and record[index] == '"':
            index += 1
            while index < end:
                if record[index] == '"':
                    if index + 1 < end and record[index + 1] == '"':
                        index += 2
                        continue
                    break
                index += 1
            index += 1
            quoted.append(True)
        else:
            quoted.append(False)
        comma = record.find(",", index, end)
        if comma < 0:
            return quoted
        index = comma + 1


class _Binary:
    """The raw file under a text stream, so progress reads the bytes consumed (compressed or not)."""

    def __init__(self, path: Path) -> None:
        self.raw = open(path, "rb")  # noqa: SIM115 - closed by close(), after the batches are read
        self.size = path.stat().st_size
        stream: Any = gzip.GzipFile(fileobj=self.raw) if gzipped(path) else self.raw
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="")

    def position(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.text.close()
        self.raw.close()


class CSVReader(Reader):
    def __init__(self, path: Path, model: ModelSpec) -> None:
        self.model = model
        self.source = _Binary(path)
        self.size = self.source.size
        self.lines = _Lines(self.source.text)
        self.csv = csv.reader(self.lines)
        try:
            header = next(self.csv)
        except StopIteration:
            raise BadLine(1, "the file is empty: a CSV import needs a header row of field names.") from None
        except csv.Error as exc:
            raise BadLine(1, f"the header is not valid CSV ({exc}).") from None
        self.lines.consumed.clear()
        self.columns = _file_fields(model, header, 1)

    def position(self) -> int:
        return self.source.position()

    def batches(self, batch_size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        decoders = [(f, _text_decoder(f)) for f in self.columns]
        width = len(decoders)
        ambiguous = {i for i, f in enumerate(self.columns) if f.nullable and f.kind in _TEXTUAL}
        lines = self.lines
        batch: list[tuple[int, dict[str, Any]]] = []
        while True:
            start = lines.count + 1
            try:
                row = next(self.csv)
            except StopIteration:
                break
            except csv.Error as exc:
                raise BadLine(start, f"not valid CSV ({exc}).") from None
            consumed, lines.consumed = lines.consumed, []
            if not row:
                continue  # a blank line
            if len(row) != width:
                raise BadLine(start, f"{len(row)} values for {width} columns.")
            quoted = None
            record: dict[str, Any] = {}
            for index, text in enumerate(row):
                field, decode = decoders[index]
                if text == "" and field.kind not in _TEXTUAL:
                    record[field.name] = None
                    continue
                if text == "" and index in ambiguous:
                    if quoted is None:
                        raw = "".join(consumed)
                        # A quoted empty field is "" between delimiters; a record without one (the
                        # usual case) has only NULLs among its empty fields: no tokenizer needed.
                        quoted = _quoted_fields(raw) if _EMPTY_QUOTED.search(raw) else [False] * width
                    record[field.name] = ("" if field.kind == "str" else b"") if quoted[index] else None
                    continue
                try:
                    record[field.name] = decode(text)
                except (ValueError, DataFlowError) as exc:
                    raise BadLine(start, _reason(exc), field.name, text) from None
            batch.append((start, record))
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        self.source.close()


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, DataFlowError) else str(exc)


class JSONLReader(Reader):
    def __init__(self, path: Path, model: ModelSpec) -> None:
        self.model = model
        self.source = _Binary(path)
        self.size = self.source.size
        self.columns = []
        self._first: tuple[int, dict[str, Any]] | None = None
        self._iter = self._records()
        first = next(self._iter, None)
        if first is not None:
            self._first = first
            self.columns = [model.field_map[name] for name in first[1]]

    def position(self) -> int:
        return self.source.position()

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        fields = self.model.field_map
        for number, line in enumerate(self.source.text, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise BadLine(number, f"not valid JSON ({exc}).") from None
            if not isinstance(obj, dict):
                raise BadLine(number, f"expected a JSON object, got {type(obj).__name__}.")
            record: dict[str, Any] = {}
            for name, value in obj.items():
                field = fields.get(name)
                if field is None:
                    _file_fields(self.model, [name], number)
                    continue
                if value is None:
                    record[name] = None
                    continue
                try:
                    record[name] = _loose(field, value)
                except (ValueError, DataFlowError) as exc:
                    raise BadLine(number, _reason(exc), name, value) from None
            yield number, record

    def batches(self, batch_size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        batch: list[tuple[int, dict[str, Any]]] = [self._first] if self._first is not None else []
        for item in self._iter:
            batch.append(item)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        self.source.close()


class ParquetReader(Reader):
    def __init__(self, path: Path, model: ModelSpec) -> None:
        pa = _pyarrow()
        self.model = model
        try:
            # Streamed reads: a buffered stream instead of the whole column chunk at once, no pre-buffering,
            # and batches decoded on this thread, so memory stays near one row group, however big the file.
            self.file = pa.parquet.ParquetFile(str(path), buffer_size=1 << 16, pre_buffer=False)
        except (pa.ArrowException, OSError) as exc:
            raise DataFlowError("DF-713", f"{str(path)!r} is not a readable Parquet file: {exc}",
                                context={"path": str(path), "format": "parquet"}) from exc
        self.size = self.file.metadata.num_rows
        self.done = 0
        self.columns = _file_fields(model, self.file.schema_arrow.names, 1)

    def position(self) -> int:
        return self.done

    def batches(self, batch_size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        json_columns = {f.name for f in self.columns if f.kind == "json"}
        fields = self.model.field_map
        row_number = 0
        for arrow_batch in self.file.iter_batches(batch_size=batch_size, use_threads=False):
            batch = []
            for raw in arrow_batch.to_pylist():
                row_number += 1
                record: dict[str, Any] = {}
                for name, value in raw.items():
                    if value is None:
                        record[name] = None
                        continue
                    try:
                        if name in json_columns and isinstance(value, str):
                            value = json.loads(value)
                        record[name] = _loose(fields[name], value)
                    except (ValueError, DataFlowError) as exc:
                        raise BadLine(row_number, _reason(exc), name, value) from None
                batch.append((row_number, record))
            self.done = row_number
            yield batch


def open_reader(fmt: str, path: Path, model: ModelSpec) -> Reader:
    if fmt == "csv":
        return CSVReader(path, model)
    if fmt == "jsonl":
        return JSONLReader(path, model)
    return ParquetReader(path, model)
