"""The record path as driver SQL: statements compiled once, run on the driver's connection.

A Core ``connection.execute(insert(table), row)`` looks up its compiled form, builds an
execution context and a result, and converts each value on every call: about 30 us of the
serving process's interpreter for a statement SQLite runs in 2 to 5 (measured: a reminder UPDATE
took 31 us through Core, 6 us through ``exec_driver_sql``, 2 us on the driver's cursor). A
record runs six statements, so they run here on the driver's own connection, inside the
transaction SQLAlchemy began (SQLite's driver opens it at the first write, as under Core, and
SQLAlchemy commits it). Their INSERTs are compiled once per table, columns and dialect, each
row's values converted by the bind processors Core would use (a moment to UTC text, JSON to
text): the stored row is the same. The driver's errors are raised as SQLAlchemy's
(a duplicate key is an ``IntegrityError``, a locked database an ``OperationalError``, as
before), with the parameters left out of the message: they carry clinical text.

Skipped with Core: its execution events (toxbot listens to none) and its results. PostgreSQL's
record, one statement in autocommit, runs here too (:func:`run_on_driver`): through
``exec_driver_sql`` it spent some 40 us more of the serving process's CPU on each record. Its
connection comes from :func:`autocommit_connection`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class DriverInsert:
    """``INSERT INTO table (columns) VALUES (?, ...)`` for one dialect, with each column's
    bind processor; :meth:`for_columns` builds (and keeps) one per table, columns and dialect.
    """

    sql: str
    columns: tuple[str, ...]
    processors: tuple[Processor | None, ...]

    @staticmethod
    def for_columns(
        table: Table, columns: Sequence[str], dialect: Dialect, *, returning: str | None = None
    ) -> DriverInsert:
        """The insert of ``columns`` into ``table`` (returning the column ``returning``).

        A column of ``table`` left out must have no Python-side default: Core would fill it in,
        this would not. Only a positional (qmark) dialect, SQLite's, is supported.
        """
        return _compiled(table, tuple(columns), dialect, returning)

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """``row``'s values in column order, converted as Core converts them."""
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self.processors, (row[c] for c in self.columns), strict=True)
        )

    def run(self, connection: Connection, row: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Insert ``row``; the rows it returns (its ``returning`` column)."""
        rows: list[tuple[Any, ...]] = run_on_driver(
            connection, self.sql, self.values(row)
        ).fetchall()
        return rows

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (the driver's executemany)."""
        run_on_driver(connection, self.sql, [self.values(row) for row in rows], many=True)


@dataclass(frozen=True, slots=True)
class AutocommitConnection:
    """A pooled connection in autocommit, for a write that is one statement
    (:func:`autocommit_connection`): what :func:`run_on_driver` needs of a ``Connection``."""

    connection: PoolProxiedConnection
    dialect: Dialect


@contextmanager
def autocommit_connection(engine: Engine) -> Iterator[AutocommitConnection]:
    """One of ``engine``'s pooled connections in autocommit for the block, then back in the
    pool as it came (in a transaction when next used).

    What ``engine.execution_options(isolation_level="AUTOCOMMIT").connect()`` gives, without
    its work on every use: SQLAlchemy sets the isolation level through its characteristics
    machinery at checkout and resets it at check-in, several psycopg calls each, around a
    ``Connection`` object. Here the driver's own switch is flipped, once each way (no round
    trip: the connection is idle). That was about 2 % of the serving process's instructions
    on each PostgreSQL record (callgrind, ``app.dispatch`` of signed ``/tox assess``).

    A connection that cannot be switched back (the server dropped it) is invalidated, not
    returned to the pool. A driver error switching it on is raised as SQLAlchemy's.
    """
    dbapi = engine.dialect.loaded_dbapi
    pooled = engine.raw_connection()
    driver: Any = pooled.driver_connection
    try:
        try:
            driver.autocommit = True
        except dbapi.Error as exc:
            raise DBAPIError.instance(
                "autocommit on", None, exc, dbapi.Error, dialect=engine.dialect
            ) from exc
        yield AutocommitConnection(pooled, engine.dialect)
    finally:
        try:
            driver.autocommit = False
        except dbapi.Error:
            pooled.invalidate()
        pooled.close()


def run_on_driver(
    connection: Connection | AutocommitConnection,
    sql: str,
    parameters: Sequence[Any] | Mapping[str, Any] = (),
    *,
    many: bool = False,
) -> Any:
    """Run ``sql`` on ``connection``'s driver connection, in its transaction, and return the
    driver's cursor (its rows, its ``rowcount``). ``many``: ``parameters`` is a list, one set
    for each execution (SQLite's driver; psycopg's connection has no ``executemany``).

    A connection the server dropped needs nothing more here: psycopg marks it broken, and the
    pool's reset at check-in fails on it and discards it (the next call connects afresh).
    """
    driver = connection.connection.driver_connection
    if driver is None:  # pragma: no cover - a checked-out connection always has one
        raise RuntimeError("the connection has no driver connection")
    dbapi = connection.dialect.loaded_dbapi
    try:
        return driver.executemany(sql, parameters) if many else driver.execute(sql, parameters)
    except dbapi.Error as exc:
        raise DBAPIError.instance(
            sql, None, exc, dbapi.Error, hide_parameters=True, dialect=connection.dialect
        ) from exc


def converter(table: Table, column: str, dialect: Dialect) -> Processor:
    """How Core converts a value bound to ``table.column`` on ``dialect`` (identity if not)."""
    process = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


@cache
def _compiled(
    table: Table, columns: tuple[str, ...], dialect: Dialect, returning: str | None
) -> DriverInsert:
    if dialect.paramstyle != "qmark":
        raise ValueError(
            f"driver inserts are written for qmark parameters, not {dialect.paramstyle}"
        )
    missing = [
        c.name
        for c in table.columns
        if c.name not in columns and c.default is not None and not c.primary_key
    ]
    if missing:
        raise ValueError(f"{table.name}: a row must name {', '.join(missing)} (Core's defaults)")
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"
    if returning is not None:
        sql += f" RETURNING {quote(returning)}"
    processors = tuple(
        table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns
    )
    return DriverInsert(sql, columns, processors)
