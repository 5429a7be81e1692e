"""Conformance: SQL logging, the same on every database.

- every statement (nodes, direct calls, raw SQL, transaction control) goes to the ``dataflow.sql``
  logger at DEBUG with its duration in ms and the number of bound parameters, as text and as record
  attributes (``sql``, ``duration_ms``, ``params``, ``rows``), never the values;
- ``echo="values"`` adds the values; ``echo=True`` sets the logger to DEBUG and gives it a stderr
  handler only when it has none;
- ``slow_query_ms`` logs statements at least that slow at WARNING, whatever the logger's level;
- nobody listening: nothing is logged.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator

from dataflow.sqllog import SQL_LOGGER
from dataflow.testing.suite._support import tests_in

SECRET = "s3cret-value-4417"


class Memo:
    text: str
    n: int = 0


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def about(self, table: str) -> list[logging.LogRecord]:
        return [r for r in self.records if table in _sql(r)]


@contextlib.contextmanager
def _sql_logger(level: int | None, *, keep_handlers: bool = True) -> Iterator[_Records]:
    """``dataflow.sql`` at ``level`` (None: as it is) with a capturing handler; restored afterwards."""
    saved_level, saved_handlers, saved_propagate = SQL_LOGGER.level, list(SQL_LOGGER.handlers), SQL_LOGGER.propagate
    capture = _Records()
    if not keep_handlers:
        for handler in saved_handlers:
            SQL_LOGGER.removeHandler(handler)
    SQL_LOGGER.addHandler(capture)
    if level is not None:
        SQL_LOGGER.setLevel(level)
    try:
        yield capture
    finally:
        for handler in list(SQL_LOGGER.handlers):
            SQL_LOGGER.removeHandler(handler)
        for handler in saved_handlers:
            SQL_LOGGER.addHandler(handler)
        SQL_LOGGER.setLevel(saved_level)
        SQL_LOGGER.propagate = saved_propagate


def _sql(record: logging.LogRecord) -> str:
    """The statement a ``dataflow.sql`` record carries (its ``sql`` attribute)."""
    return str(getattr(record, "sql", ""))


def _table(db, model) -> str:
    return model.__dataflow_model__.table


def test_every_statement_is_logged_at_debug_with_duration_and_parameter_count(make_model, run_node):
    db = make_model.db
    memo = make_model(Memo)
    run_node("MemoCountNode", {})  # the table exists before the capture
    table = _table(db, memo)
    with _sql_logger(logging.DEBUG) as log:
        made = run_node("MemoCreateNode", {"text": SECRET, "n": 7})
        db.express_sync.read("Memo", made["id"])
        rows = db.fetch_sync(f"SELECT text FROM {db.dialect.quote(table)} WHERE n = :n AND text = :t",
                             {"n": 7, "t": SECRET})
        with db.transaction():
            db.execute_sync(f"UPDATE {db.dialect.quote(table)} SET n = :n", {"n": 8})
    assert rows == [{"text": SECRET}]
    ours = log.about(table)
    assert len(ours) >= 4, [r.getMessage() for r in log.records]
    for record in ours:
        assert record.levelno == logging.DEBUG and record.name == "dataflow.sql"
        message = record.getMessage()
        assert re.search(r"\[\d+\.\d{3} ms, \d+ params", message), message
        assert isinstance(record.duration_ms, float) and record.duration_ms >= 0  # type: ignore[attr-defined]
        assert SECRET not in message, "values are never logged by default"
    raw = [r for r in ours if _sql(r).startswith("SELECT text")]
    assert raw and raw[0].params == 2, "the raw statement, with its two bound values"  # type: ignore[attr-defined]
    insert = [r for r in ours if _sql(r).upper().startswith("INSERT")]
    assert insert and insert[0].params >= 2  # type: ignore[attr-defined]
    controls = [r.getMessage() for r in log.records if _sql(r).split(" ")[0].upper() in ("BEGIN", "COMMIT", "START")]
    assert any("COMMIT" in m for m in controls), "transaction control is logged too"


def test_echo_values_shows_the_bound_values(make_model, run_node):
    other = make_model.new_db(echo="values")
    memo = make_model(Memo, db=other)
    with _sql_logger(None) as log:
        other.express_sync.create("Memo", {"text": SECRET})
    shown = [r.getMessage() for r in log.about(_table(other, memo)) if _sql(r).upper().startswith("INSERT")]
    assert shown and SECRET in shown[0] and "values:" in shown[0]


def test_echo_true_adds_a_stderr_handler_only_when_the_logger_has_none(make_model, run_node):
    with _sql_logger(logging.WARNING, keep_handlers=False) as log:
        SQL_LOGGER.removeHandler(log)  # no handler at all, as in a program that set up no logging
        make_model.new_db(echo=True)
        added = [h for h in SQL_LOGGER.handlers if isinstance(h, logging.StreamHandler)]
        assert SQL_LOGGER.level == logging.DEBUG
        assert len(added) == 1 and added[0].stream is sys.stderr
        make_model.new_db(echo=True)
        assert len(SQL_LOGGER.handlers) == 1, "a second instance does not add another"
    with _sql_logger(logging.INFO):
        before = list(SQL_LOGGER.handlers)
        make_model.new_db(echo=True)
        assert SQL_LOGGER.handlers == before, "a logger with a handler of its own gets none"
        assert SQL_LOGGER.level == logging.DEBUG


def test_echo_true_writes_statements_to_stderr(make_model, run_node, capfd):
    with _sql_logger(None, keep_handlers=False) as log:
        SQL_LOGGER.removeHandler(log)
        SQL_LOGGER.setLevel(logging.NOTSET)
        loud = make_model.new_db(echo=True)
        memo = make_model(Memo, db=loud)
        loud.express_sync.create("Memo", {"text": SECRET})
        err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if _table(loud, memo) in line and "INSERT" in line.upper()]
    assert lines and "DEBUG" in lines[0] and re.search(r"\d+\.\d{3} ms, \d+ params", lines[0]), err[-2000:]
    assert SECRET not in err


def test_slow_queries_are_logged_at_warning_whatever_the_level(make_model, run_node):
    slow = make_model.new_db(slow_query_ms=0)  # every statement takes at least 0 ms
    memo = make_model(Memo, db=slow)
    with _sql_logger(logging.WARNING) as log:
        slow.express_sync.create("Memo", {"text": SECRET})
        slow.fetch_sync(f"SELECT COUNT(*) AS c FROM {slow.dialect.quote(_table(slow, memo))}")
    ours = log.about(_table(slow, memo))
    assert len(ours) >= 2
    for record in ours:
        assert record.levelno == logging.WARNING, record.getMessage()
        assert record.getMessage().startswith("slow query (") and SECRET not in record.getMessage()


def test_nothing_is_logged_when_nobody_listens(make_model, run_node):
    memo = make_model(Memo)
    with _sql_logger(logging.WARNING) as log:
        make_model.db.express_sync.create("Memo", {"text": SECRET})
    assert log.about(_table(make_model.db, memo)) == []


__all__ = tests_in(globals())
