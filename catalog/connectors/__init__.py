"""Connections to source and enrichment databases: SQLite files and PostgreSQL servers.

Identifiers always go through `quote()`, values always as bound parameters: nothing from a table,
column or option reaches SQL unescaped. Errors come out as three kinds the engine understands:
SourceUnavailable (cannot connect, connection lost: fatal for the run), QueryInterrupted (an abort
cancelled the statement) and SourceError (this query failed: the container fails, the run goes on).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


class SourceError(Exception):
    """A query on the source failed (a broken table, a bad column): the container fails."""


class SourceUnavailable(SourceError):
    """The source cannot be reached: a bad URL, a server down, a file gone."""


class SourceRefused(SourceUnavailable):
    """Runboard will not open this source (a SQLite file outside the allowed directories):
    trying again cannot help."""


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

    def absent_from(self, value: str, table: str, key: str) -> str:
        """SQL true when `value` is not a `key` of `table`: an anti-join, planned linearly."""
        return f"NOT EXISTS (SELECT 1 FROM {table} AS ref WHERE ref.{key} = {value})"

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
    raise _unsupported(url)


def ensure_allowed(url: str) -> None:
    """Raise SourceUnavailable for a URL that connect() would refuse before reaching any server:
    an unknown scheme, a malformed SQLite URL, a SQLite file outside the allowed directories."""
    if url.startswith("sqlite:"):
        from catalog.connectors.sqlite import SCRATCH, allowed_path

        if url != SCRATCH:
            allowed_path(url)
    elif not url.startswith(("postgresql:", "postgres:")):
        raise _unsupported(url)


def _unsupported(url: str) -> SourceUnavailable:
    scheme = match[1] if (match := _SCHEME.match(url)) else redact(url)
    return SourceUnavailable(
        f"Unsupported connection URL scheme {scheme!r}: use sqlite:///path or postgresql://…"
    )


# Credentials ------------------------------------------------------------------------------------

MASK = "•••"

# Parameters whose value is a credential: libpq's password, sslpassword, passfile and sslkey, and
# anything a paste or another driver names like one (token, api_key, client_secret, …).
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature", re.IGNORECASE)
# key=value in a URL's query (or fragment). A value runs to the next "&name=": an unencoded "&"
# in a password must not leave its tail in sight.
_PARAMETER = re.compile(r"(?P<head>[?&#](?P<key>[^?&#=]+)=)(?P<value>.*?)(?=&[^&=]+=|\Z)", re.S)
# key=value in a libpq connection string: a quoted value, or words up to the next "name=" (libpq
# would stop at the first space, but "password=two words" must be hidden whole).
_PAIR = re.compile(
    r"(?<!\S)(?P<head>(?P<key>[\w.-]+)\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|\S*(?:\s+(?![\w.-]+\s*=)\S+)*)"
)
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*):")
_URL = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*:(?://)?")
# Where a driver may cut a secret it misparsed (libpq reads "u:ab/cd@h" as host "u", port "ab").
_CUTS = re.compile(r"[\s@'\"&/:?#]+")
# Shorter pieces of a secret are not hunted in error texts: they would mask ordinary words.
_MIN_PIECE = 3


def redact(url: str) -> str:
    """The connection URL (or libpq key=value string) with every credential in it masked.

    The one way a connection URL is shown: pages, the admin, log and error messages.
    """
    return _redaction(url)[0]


def redact_message(text: str, url: str) -> str:
    """An error text about `url` with its credentials masked wherever they were echoed.

    Drivers quote parts of a DSN they cannot parse: libpq reports a host "word@host" when a
    password holds an unencoded "@", or the rest of a password after a space, or a bad
    percent-encoded password verbatim. So every credential of the URL is masked in the text,
    whole or in pieces.
    """
    shown, credentials = _redaction(url)
    text = text.replace(url, shown)
    replacements = {}
    for credential in credentials:
        for form in {credential, unquote(credential)}:
            replacements |= dict.fromkeys([form, *_CUTS.split(form)], MASK)
            # libpq ends a password at its first "@" and reports the rest as part of the host.
            replacements |= {f"{piece}@": f"{MASK}@" for piece in form.split("@")[1:]}
    for old in sorted(replacements, key=len, reverse=True):
        if len(old) >= _MIN_PIECE:
            text = text.replace(old, replacements[old])
    return text


def _redaction(url: str) -> tuple[str, list[str]]:
    """The redacted URL and the credential values it masked."""
    found: list[str] = []

    def mask(match: re.Match) -> str:
        value = match["value"]
        if not value or not _SECRET_NAME.search(unquote(match["key"])):
            return match[0]
        found.append(value)
        return f"{match['head']}{MASK}"

    text = _PAIR.sub(mask, _PARAMETER.sub(mask, url))
    if match := _URL.match(text):
        head, rest = text[: match.end()], text[match.end() :]
        first_at = rest.find("@")
        if first_at >= 0:
            # The password runs to the last "@" before the query, so an unencoded "@", "/" or
            # "?" in it cannot push part of it into what would be shown as the host.
            query = rest.find("?", first_at)
            at = rest.rfind("@", 0, len(rest) if query < 0 else query)
            user, _, password = rest[:at].partition(":")
            if password:
                found.append(password)
                rest = f"{user}:{MASK}{rest[at:]}"
        text = head + rest
    return text, found


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
