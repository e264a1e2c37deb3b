from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from catalog.connectors import (
    Column,
    Connector,
    QueryInterrupted,
    SourceError,
    SourceRefused,
    SourceUnavailable,
    Table,
    kind_of,
    redact,
    redact_message,
)

# Errors that mean the database file itself is gone or unreadable, not one table.
_UNAVAILABLE = ("unable to open", "disk i/o error", "file is not a database", "readonly database")


# A private temporary database, on disk so that it may outgrow memory, deleted when closed: an
# External Scan loads the records it received into one.
SCRATCH = "sqlite://:scratch:"


def path_of(url: str) -> Path:
    """sqlite:///relative/to/project.db or sqlite:////absolute/path.db (the SQLAlchemy form)."""
    rest = url.removeprefix("sqlite:").removeprefix("//")
    if not rest.startswith("/") or rest == "/":
        raise SourceUnavailable(
            f"Bad SQLite URL {redact(url)!r}: expected sqlite:///path/to/file.db"
        )
    rest = rest[1:]
    path = Path(rest) if rest.startswith("/") else Path(settings.BASE_DIR) / rest
    return path


def allowed_path(url: str) -> Path:
    """The file of a SQLite URL, resolved (symlinks, ".."), if Runboard may open it.

    Admins create datastores, but every member of their teams reads what a datastore holds: a
    file anywhere on the server would be readable through the catalog, Runboard's own database
    (password hashes) first. So the file must lie under RUNBOARD["SQLITE_DIRS"] (or the demo's
    folder), and is never one of Runboard's own database files, whatever that setting says.
    """
    path = path_of(url).resolve()
    shown = redact_message(str(path), url)
    if _is_own_database(path):
        raise SourceRefused(
            f"SQLite file {shown} is Runboard's own database: no datastore may point at it"
        )
    dirs = allowed_dirs()
    if not any(path.is_relative_to(folder) for folder in dirs):
        raise SourceRefused(
            f"SQLite file {shown} is outside the directories allowed for SQLite datastores "
            f"({', '.join(map(str, dirs))}; RUNBOARD_SQLITE_DIRS sets them)"
        )
    return path


def allowed_dirs() -> list[Path]:
    """Where SQLite datastores may live, resolved; the demo's folder is one wherever it is."""
    folders = [*settings.RUNBOARD["SQLITE_DIRS"], settings.RUNBOARD["DEMO_DIR"]]
    return list(dict.fromkeys(Path(folder).resolve() for folder in folders))


def _is_own_database(path: Path) -> bool:
    own = set()
    for database in settings.DATABASES.values():
        if not database["ENGINE"].endswith("sqlite3"):
            continue
        for name in (database.get("NAME"), database.get("TEST", {}).get("NAME")):
            if name and str(name) != ":memory:" and not str(name).startswith("file:"):
                base = Path(name).resolve()
                own |= {
                    base.with_name(base.name + suffix)
                    for suffix in ("", "-wal", "-shm", "-journal")
                }
    if path in own:
        return True
    # A hard link is another name for the same file.
    return path.is_file() and any(other.is_file() and path.samefile(other) for other in own)


def _regexp(pattern: str, value: Any) -> bool | None:
    if value is None:
        return None
    return re.search(pattern, str(value)) is not None


class SQLiteConnector(Connector):
    vendor = "SQLite"

    def __init__(self, url: str, *, write: bool = False):
        scratch = url == SCRATCH
        self.path = None if scratch else allowed_path(url)
        # What messages call the file: its path, less any credential a pasted URL carried.
        self.name = ":scratch:" if scratch else redact_message(str(self.path), url)
        mode = "rwc" if write else "ro"
        if not scratch and not write and not self.path.is_file():
            raise SourceUnavailable(f"SQLite database {self.name} does not exist")
        try:
            # check_same_thread=False: the engine's monitor thread may call interrupt().
            self.connection = sqlite3.connect(
                "" if scratch else f"{self.path.as_uri()}?mode={mode}",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                timeout=20,
            )
            self.connection.create_function("regexp", 2, _regexp, deterministic=True)
            self.connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.Error as error:
            raise SourceUnavailable(f"Cannot open SQLite database {self.name}: {error}") from error

    def _translate(self, error: sqlite3.Error) -> SourceError:
        text = str(error)
        if "interrupted" in text.lower():
            return QueryInterrupted(text)
        if any(marker in text.lower() for marker in _UNAVAILABLE) or not self.exists():
            return SourceUnavailable(f"SQLite database {self.name} is unavailable: {text}")
        return SourceError(text)

    def exists(self) -> bool:
        return self.path is None or self.path.is_file()

    def ensure_alive(self) -> None:
        if not self.exists():
            raise SourceUnavailable(f"SQLite database {self.name} is gone")

    def describe(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def tables(self) -> list[Table]:
        rows = self.query(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        tables = []
        for name, kind in rows:
            try:
                columns = self.query(
                    "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", [name]
                )
            except SourceUnavailable:
                raise
            except SourceError as error:
                tables.append(Table(name, kind, error=str(error)))
                continue
            tables.append(
                Table(
                    name,
                    kind,
                    [Column(col, decl or "", kind_of(decl or "")) for col, decl in columns],
                )
            )
        return tables

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.connection.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self._translate(error) from error

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 5000
    ) -> Iterator[tuple[list[str], list[tuple]]]:
        try:
            cursor = self.connection.execute(sql, params)
            names = [d[0] for d in cursor.description]
            while batch := cursor.fetchmany(batch_size):
                yield names, batch
        except sqlite3.Error as error:
            raise self._translate(error) from error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self.connection.execute(sql, params).rowcount
        except sqlite3.Error as error:
            raise self._translate(error) from error

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self.connection.executemany(sql, rows)
        except sqlite3.Error as error:
            raise self._translate(error) from error

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.connection.in_transaction:
                self.connection.rollback()
            raise
        self.execute("COMMIT")

    def interrupt(self) -> None:
        self.connection.interrupt()

    def absent_from(self, value: str, table: str, key: str) -> str:
        # SQLite runs a correlated NOT EXISTS once per record, quadratic without an index on
        # the key; a NOT IN list is built once into a temporary index.
        return f"{value} NOT IN (SELECT ref.{key} FROM {table} AS ref WHERE ref.{key} IS NOT NULL)"

    def matches(self, expression: str) -> str:
        return f"{expression} REGEXP ?"

    def now(self) -> str:
        return "strftime('%Y-%m-%d %H:%M:%S', 'now')"

    def column_type(self, kind: str) -> str:
        return {"integer": "INTEGER", "number": "NUMERIC", "boolean": "INTEGER"}.get(kind, "TEXT")
