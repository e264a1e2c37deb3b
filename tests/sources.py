"""Source databases for engine tests: the same small shop on SQLite and on PostgreSQL, with
quality problems planted at known rows, so each test can assert exact numbers."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg

from catalog.connectors import connect

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def customers() -> list[tuple]:
    rows = []
    for i in range(1, 101):
        email = None if i in (10, 20, 30) else "dup@x.io" if i in (50, 51) else f"c{i}@x.io"
        country = "XX" if i == 77 else ("DE", "FR", "NL")[i % 3]
        age = -1 if i in (5, 6) else 20 + i % 50
        signup = "2999-01-01" if i == 99 else (date(2025, 1, 1) + timedelta(days=i)).isoformat()
        rows.append((i, email, country, age, signup))
    return rows


def orders() -> list[tuple]:
    rows = []
    for i in range(1, 301):
        customer = 999 if i in (7, 8, 9, 10) else 1 + i % 100
        amount = -5 if i % 100 == 0 else 10 + i
        status = "lost" if i == 150 else ("new", "paid", "shipped")[i % 3]
        rows.append((i, customer, amount, status))
    return rows


# What the planted problems make each authored check find.
PLANTED = {
    ("customers", "email", "not_null"): 3,
    ("customers", "email", "unique"): 2,
    ("customers", "country", "in_set"): 1,
    ("customers", "age", "between"): 2,
    ("customers", "signup", "not_future"): 1,
    ("orders", "customer_id", "references"): 4,
    ("orders", "amount", "between"): 3,
    ("orders", "status", "matches"): 1,
}
AUTHORED = {
    ("customers", "email", "not_null"): {},
    ("customers", "email", "unique"): {},
    ("customers", "country", "in_set"): {"values": ["DE", "FR", "NL"]},
    ("customers", "age", "between"): {"min": 0, "max": 120},
    ("customers", "signup", "not_future"): {},
    ("orders", "customer_id", "references"): {"container": "customers", "field": "id"},
    ("orders", "amount", "between"): {"min": 0},
    ("orders", "status", "matches"): {"pattern": "^(new|paid|shipped)$"},
}

SCHEMA = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, country TEXT, age INTEGER, signup DATE)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount NUMERIC, status TEXT)",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 200",
]


@dataclass
class Source:
    kind: str
    url: str
    path: Path | None = None  # SQLite
    name: str | None = None  # PostgreSQL database

    def execute(self, *statements: str) -> None:
        if self.kind == "sqlite":
            db = sqlite3.connect(self.path)
            for statement in statements:
                db.execute(statement)
            db.commit()
            db.close()
        else:
            with psycopg.connect(self.url, autocommit=True) as db:
                for statement in statements:
                    db.execute(statement)

    def insert(self, table: str, rows: list[tuple]) -> None:
        marks = ", ".join(["?" if self.kind == "sqlite" else "%s"] * len(rows[0]))
        sql = f'INSERT INTO "{table}" VALUES ({marks})'
        if self.kind == "sqlite":
            db = sqlite3.connect(self.path)
            db.executemany(sql, rows)
            db.commit()
            db.close()
        else:
            with psycopg.connect(self.url, autocommit=True) as db, db.cursor() as cursor:
                cursor.executemany(sql, rows)

    def hide(self) -> str:
        """Make the database unreachable, as a server or disk that goes away; restore() undoes."""
        if self.kind == "sqlite":
            hidden = self.path.with_suffix(".hidden")
            self.path.rename(hidden)
            return str(hidden)
        hidden = f"{self.name}_hidden"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as db:
            db.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [self.name],
            )
        return hidden

    def restore(self, hidden: str) -> None:
        if self.kind == "sqlite":
            Path(hidden).rename(self.path)
        else:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as db:
                db.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        if self.kind == "sqlite":
            self.path.unlink(missing_ok=True)
        else:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as db:
                db.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def empty_source(kind: str, tmp_path: Path) -> Source:
    if kind == "sqlite":
        path = tmp_path / f"source-{uuid.uuid4().hex[:8]}.sqlite3"
        sqlite3.connect(path).close()
        return Source(kind, f"sqlite:///{path}", path=path)
    name = f"rb_source_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return Source(kind, f"postgresql://postgres@127.0.0.1:5432/{name}", name=name)


def shop_source(kind: str, tmp_path: Path) -> Source:
    source = empty_source(kind, tmp_path)
    source.execute(*SCHEMA)
    source.insert("customers", customers())
    source.insert("orders", orders())
    return source


def big_source(kind: str, tmp_path: Path, tables: int, rows: int) -> Source:
    """Several identical tables of `rows` generated rows each, for runs slow enough to abort."""
    source = empty_source(kind, tmp_path)
    statements = []
    for t in range(tables):
        name = f"t{t:02d}"
        statements.append(f"CREATE TABLE {name} (id INTEGER, a INTEGER, b TEXT, c INTEGER, d TEXT)")
        if kind == "sqlite":
            statements.append(
                f"INSERT INTO {name} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                f"WHERE i < {rows}) SELECT i, i % 1000, 'v' || (i % 7919), i * 7 % 100003, "
                f"'w' || (i % 104729) FROM n"
            )
        else:
            statements.append(
                f"INSERT INTO {name} SELECT i, i % 1000, 'v' || (i % 7919), i * 7 % 100003, "
                f"'w' || (i % 104729) FROM generate_series(1, {rows}) AS i"
            )
    source.execute(*statements)
    return source


def rows(url: str, table: str) -> list[tuple]:
    with connect(url) as conn:
        return conn.query(f'SELECT * FROM "{table}" ORDER BY 1, 2')


def columns(url: str, table: str) -> list[str]:
    with connect(url) as conn:
        return next(t for t in conn.tables() if t.name == table).columns
