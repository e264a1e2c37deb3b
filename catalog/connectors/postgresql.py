from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors

from catalog.connectors import (
    Column,
    Connector,
    QueryInterrupted,
    SourceError,
    SourceUnavailable,
    Table,
    kind_of,
    redact_message,
)

_cursor_names = itertools.count()


class PostgreSQLConnector(Connector):
    vendor = "PostgreSQL"
    placeholder = "%s"

    def __init__(self, url: str):
        self.url = url
        try:
            # Autocommit: one failed statement (a broken table) must not poison the next ones.
            self.connection = psycopg.connect(url, autocommit=True, connect_timeout=5)
        except psycopg.Error as error:
            # libpq quotes pieces of a DSN it cannot parse, a password's among them: the text is
            # redacted, and psycopg's own exception is not chained where a traceback would show it.
            reason = redact_message(_first_line(error), url)
            raise SourceUnavailable(f"Cannot connect to PostgreSQL: {reason}") from None

    def _translate(self, error: psycopg.Error) -> SourceError:
        if isinstance(error, errors.QueryCanceled):
            return QueryInterrupted(_first_line(error))
        if isinstance(error, psycopg.OperationalError) or self.connection.closed:
            reason = redact_message(_first_line(error), self.url)
            return SourceUnavailable(f"Lost the connection to PostgreSQL: {reason}")
        return SourceError(_first_line(error))

    @staticmethod
    def quote(identifier: str) -> str:
        # psycopg reads every % of a statement with parameters as a placeholder, quotes or not.
        return Connector.quote(identifier).replace("%", "%%")

    def ensure_alive(self) -> None:
        if self.connection.closed:
            raise SourceUnavailable("The connection to PostgreSQL is closed")

    def describe(self) -> str:
        version = self.connection.info.server_version
        return f"PostgreSQL {version // 10000}.{version % 10000}"

    def tables(self) -> list[Table]:
        rows = self.query(
            "SELECT c.table_name, t.table_type, c.column_name, c.data_type "
            "FROM information_schema.tables t "
            "LEFT JOIN information_schema.columns c "
            "  ON c.table_schema = t.table_schema AND c.table_name = t.table_name "
            "WHERE t.table_schema = current_schema() "
            "ORDER BY t.table_name, c.ordinal_position"
        )
        tables: dict[str, Table] = {}
        for name, table_type, column, data_type in rows:
            kind = "view" if table_type == "VIEW" else "table"
            table = tables.setdefault(name, Table(name, kind))
            if column is not None:
                table.columns.append(Column(column, data_type, kind_of(data_type)))
        return list(tables.values())

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return cursor.fetchall()
        except psycopg.Error as error:
            raise self._translate(error) from error

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 5000
    ) -> Iterator[tuple[list[str], list[tuple]]]:
        try:
            # A server-side cursor keeps memory flat on big tables; it needs a transaction.
            with (
                self.connection.transaction(),
                self.connection.cursor(name=f"runboard_{next(_cursor_names)}") as cursor,
            ):
                cursor.execute(sql, tuple(params))
                names: list[str] | None = None
                while batch := cursor.fetchmany(batch_size):
                    names = names or [d.name for d in cursor.description]
                    yield names, batch
        except psycopg.Error as error:
            raise self._translate(error) from error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return cursor.rowcount
        except psycopg.Error as error:
            raise self._translate(error) from error

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            with self.connection.cursor() as cursor:
                cursor.executemany(sql, rows)
        except psycopg.Error as error:
            raise self._translate(error) from error

    def insert_rows(self, table: str, width: int, rows: Sequence[Sequence[Any]]) -> None:
        # COPY is several times faster than INSERTs for the rows a Materialize writes.
        try:
            with (
                self.connection.cursor() as cursor,
                cursor.copy(f"COPY {Connector.quote(table)} FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as error:
            raise self._translate(error) from error

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self.connection.transaction():
                yield
        except psycopg.Error as error:
            raise self._translate(error) from error

    def interrupt(self) -> None:
        self.connection.cancel_safe(timeout=2)

    def matches(self, expression: str) -> str:
        return f"CAST({expression} AS TEXT) ~ %s"

    def now(self) -> str:
        return "now()"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
