"""Connections to source and enrichment databases: SQLite files and PostgreSQL servers.

Identifiers always go through `quote()`, values always as bound parameters: nothing from a table,
column or option reaches SQL unescaped. Errors come out as three kinds the engine understands:
SourceUnavailable (cannot connect, connection lost: fatal for the run), QueryInterrupted (an abort
cancelled the statement) and SourceError (this query failed: the container fails, the run goes on).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from typing import Any


class SourceError(Exception):
    """A query on the source failed (a broken table, a bad column): the container fails."""


class SourceUnavailable(SourceError):
    """The source cannot be reached: a bad URL, a server down, a file gone."""


class QueryInterrupted(SourceError):
    """A running statement was cancelled from another thread (an abort)."""


NUMBER, TEXT, DATE, BOOLEAN, OTHER = "number", "text", "date", "boolean", "other"
INTEGER = "integer"  # a NUMBER known to hold whole numbers: ids and counts in enrichment tables


@dataclass
class Column:
    name: str
    type: str
    kind: str = OTHER


@dataclass
class Table:
    name: str
    kind: str  # "table" or "view"
    columns: list[Column] = field(default_factory=list)
    # Why its columns could not be read (a view over a dropped table): that container fails.
    error: str = ""


class Connector:
    """What every source connector offers; the subclasses hold the dialect."""

    vendor = ""
    placeholder = "?"

    def tables(self) -> list[Table]:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 5000
    ) -> Iterator[tuple[list[str], list[tuple]]]:
        """Yield (column names, rows) a batch at a time."""
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement that writes (enrichment datastores), committing it; rows affected."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager:
        """A transaction around several writing statements (commit, or rollback on error)."""
        raise NotImplementedError

    def replace_table(
        self, name: str, columns: Sequence[tuple[str, str]], batches: Iterable[Sequence[tuple]]
    ) -> int:
        """Fill a new table with the batches, then swap it in for `name` in one transaction.

        Readers see the previous table or the complete new one, never a half-written one: an
        abort or an error while filling drops the scratch table, and a killed worker leaves only
        a scratch table named rb_tmp_…, not one that looks complete. Returns the rows written.
        """
        q = self.quote
        scratch = f"rb_tmp_{secrets.token_hex(6)}"
        definition = ", ".join(f"{q(column)} {kind}" for column, kind in columns)
        self.execute(f"CREATE TABLE {q(scratch)} ({definition})")
        written = 0
        try:
            for rows in batches:
                with self.transaction():
                    self.insert_rows(scratch, len(columns), rows)
                written += len(rows)
            with self.transaction():
                self.execute(f"DROP TABLE IF EXISTS {q(name)}")
                self.execute(f"ALTER TABLE {q(scratch)} RENAME TO {q(name)}")
        except BaseException:
            # If the connection is gone the scratch table stays, but named as scratch.
            with suppress(SourceError):
                self.execute(f"DROP TABLE IF EXISTS {q(scratch)}")
            raise
        return written

    def insert_rows(self, table: str, width: int, rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join([self.placeholder] * width)
        self.executemany(f"INSERT INTO {self.quote(table)} VALUES ({marks})", rows)

    def interrupt(self) -> None:
        """Cancel the running statement; safe to call from another thread."""

    def close(self) -> None:
        self.connection.close()

    def ensure_alive(self) -> None:
        """Raise SourceUnavailable when the database has gone since connecting."""

    def describe(self) -> str:
        return self.vendor

    # Dialect -----------------------------------------------------------------------------------

    @staticmethod
    def quote(identifier: str) -> str:
        if "\x00" in identifier:
            raise SourceError(f"Identifier {identifier!r} contains a NUL character")
        return '"' + identifier.replace('"', '""') + '"'

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def matches(self, expression: str) -> str:
        """SQL true when the expression matches the regular expression bound next."""
        raise NotImplementedError

    def length(self, expression: str) -> str:
        return f"LENGTH({expression})"

    def as_text(self, expression: str) -> str:
        return f"CAST({expression} AS TEXT)"

    def now(self) -> str:
        raise NotImplementedError

    def column_type(self, kind: str) -> str:
        """A column type for writing values of this kind into an enrichment table."""
        return {INTEGER: "BIGINT", NUMBER: "NUMERIC", BOOLEAN: "BOOLEAN"}.get(kind, "TEXT")

    def sample(self, table: str, limit: int | None) -> str:
        """FROM-clause source for a table, limited to its first `limit` records when asked."""
        quoted = self.quote(table)
        if not limit:
            return quoted
        return f"(SELECT * FROM {quoted} LIMIT {int(limit)}) AS sample"

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(url: str, *, write: bool = False) -> Connector:
    """Open a connection; SourceUnavailable when the URL is bad or the database cannot be reached."""
    if url.startswith("sqlite:"):
        from catalog.connectors.sqlite import SQLiteConnector

        return SQLiteConnector(url, write=write)
    if url.startswith(("postgresql:", "postgres:")):
        from catalog.connectors.postgresql import PostgreSQLConnector

        return PostgreSQLConnector(url)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise SourceUnavailable(
        f"Unsupported connection URL scheme {scheme!r}: use sqlite:///path or postgresql://…"
    )


def kind_of(declared_type: str) -> str:
    """The broad kind of a column from its declared type (SQLite affinity rules, PostgreSQL names)."""
    t = declared_type.lower()
    if "bool" in t:
        return BOOLEAN
    if "date" in t or "time" in t:
        return DATE
    if "int" in t or any(word in t for word in ("real", "floa", "doub", "numeric", "decimal")):
        return NUMBER
    if any(word in t for word in ("char", "clob", "text")):
        return TEXT
    return OTHER
