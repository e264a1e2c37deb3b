"""The engine's own cost, measured. Prints:

- the overhead per container: a run of many containers whose operation does nothing;
- Profile and Scan of the demo shop's largest table, next to the same SQL statements run
  directly on the source, for a SQLite source and a PostgreSQL one;
- how long an abort takes to land in the middle of a big container;
- on PostgreSQL, the speed-up of two worker processes sharing one run over one.

    .venv/bin/python bench/engine.py                                     # Runboard on SQLite
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/runboard_bench_engine .venv/bin/python bench/engine.py
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import ROOT, ensure_database, row, setup

BENCH = ROOT / "var" / "bench"
BENCH.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("RUNBOARD_SQLITE_DIRS", str(BENCH))  # the bench's sources live here
setup(f"sqlite:///{BENCH / 'engine.sqlite3'}")

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import User  # noqa: E402
from activity import engine  # noqa: E402
from activity.models import Run  # noqa: E402
from activity.operations import OPERATIONS  # noqa: E402
from activity.operations.base import Operation  # noqa: E402
from catalog.demo_shop import build_shop  # noqa: E402
from catalog.models import Datastore  # noqa: E402

PG_SOURCE = "postgresql://postgres@127.0.0.1:5432/runboard_bench_shop"
SHOP = BENCH / "shop.sqlite3"
BIG = BENCH / "big.sqlite3"
BIG_ROWS, BIG_TABLES = 2_000_000, 6


def sources() -> dict[str, str]:
    """The demo shop as a SQLite file and as a PostgreSQL database, and a big SQLite file."""
    if not SHOP.exists():
        print("Building the demo shop…")
        build_shop(SHOP)
    ensure_database(PG_SOURCE)
    with psycopg.connect(PG_SOURCE, autocommit=True) as pg:
        if not pg.execute("SELECT 1 FROM pg_tables WHERE tablename = 'order_items'").fetchone():
            print("Copying the demo shop into PostgreSQL…")
            copy_to_postgresql(SHOP, pg)
    if not BIG.exists():
        print(f"Building {BIG_TABLES} tables of {BIG_ROWS:,} rows…")
        db = sqlite3.connect(BIG)
        for t in range(BIG_TABLES):
            db.execute(f"CREATE TABLE t{t} (id INTEGER, a INTEGER, b TEXT, c INTEGER, d TEXT)")
            db.execute(
                f"INSERT INTO t{t} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                f"WHERE i < {BIG_ROWS}) SELECT i, i % 1000, 'v' || (i % 7919), i * 7 % 100003, "
                f"'w' || (i % 104729) FROM n"
            )
        db.commit()
        db.close()
    return {"SQLite": f"sqlite:///{SHOP}", "PostgreSQL": PG_SOURCE}


def copy_to_postgresql(path: Path, pg) -> None:
    lite = sqlite3.connect(path)
    tables = lite.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    for name, ddl in tables:
        pg.execute(ddl.replace("DATETIME", "TIMESTAMP"))
        columns = [c[1] for c in lite.execute(f'PRAGMA table_info("{name}")')]
        with pg.cursor().copy(f'COPY "{name}" ({", ".join(columns)}) FROM STDIN') as copy:
            for record in lite.execute(f'SELECT * FROM "{name}"'):
                copy.write_row(record)
    for (ddl,) in lite.execute("SELECT sql FROM sqlite_master WHERE type = 'view'"):
        pg.execute(ddl)
    lite.close()


class Nothing(Operation):
    """An operation that does nothing: what remains is the engine's own work per container."""

    counters = ()

    def start(self, job):
        pass

    def compute(self, job, unit):
        return None

    def save(self, job, unit, result):
        return {}


def overhead(admin: User, store: Datastore, containers: int = 300) -> float:
    real = OPERATIONS[Run.Type.PROFILE]
    nothing = Nothing()
    nothing.type = Run.Type.PROFILE
    OPERATIONS[Run.Type.PROFILE] = nothing
    try:
        run, _ = Run._create(
            type=Run.Type.PROFILE,
            datastore=store,
            options={},
            units=[(None, f"c{i}") for i in range(containers)],
            by=admin,
        )
        started = time.perf_counter()
        engine.execute(run.pk)
        elapsed = time.perf_counter() - started
    finally:
        OPERATIONS[Run.Type.PROFILE] = real
    run.refresh_from_db()
    assert run.status == "success" and run.containers_done == containers
    return elapsed * 1000 / containers


class Recorder:
    """Records the statements connectors run, to replay them bare."""

    def __init__(self):
        self.statements: list[tuple[str, tuple]] = []
        self.patched = {}

    def __enter__(self):
        from catalog.connectors.postgresql import PostgreSQLConnector
        from catalog.connectors.sqlite import SQLiteConnector

        for cls in (SQLiteConnector, PostgreSQLConnector):
            for name in ("query", "stream"):
                original = getattr(cls, name)
                self.patched[(cls, name)] = original
                setattr(cls, name, self.wrap(original))
        return self

    def wrap(self, original):
        recorder = self

        def recorded(conn, sql, params=(), *args, **kwargs):
            recorder.statements.append((sql, tuple(params)))
            return original(conn, sql, params, *args, **kwargs)

        return recorded

    def __exit__(self, *exc):
        for (cls, name), original in self.patched.items():
            setattr(cls, name, original)


def bare(url: str, statements) -> float:
    """The recorded statements, run directly with the database driver."""
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        db.create_function("regexp", 2, lambda p, v: None)
    else:
        db = psycopg.connect(url, autocommit=True)
    started = time.perf_counter()
    for sql, params in statements:
        db.execute(sql, params or ()).fetchall()
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed * 1000


def timed_run(admin: User, store: Datastore, type: str, **options) -> tuple[float, list]:
    with Recorder() as recorder:
        run = Run.launch(type, store, by=admin, options=options)
        started = time.perf_counter()
        engine.execute(run.pk)
        elapsed = (time.perf_counter() - started) * 1000
    run.refresh_from_db()
    assert run.status == "success", run.detail
    return elapsed, recorder.statements


def abort_latency(admin: User, store: Datastore) -> float:
    run = Run.launch(Run.Type.PROFILE, store, by=admin, options={"containers": ["t0"]})
    worker = threading.Thread(target=engine.execute, args=(run.pk,))
    worker.start()
    while not run.units.filter(status="running").exists():
        time.sleep(0.01)
    time.sleep(0.5)  # well inside the container's one big statement
    asked = time.perf_counter()
    Run.objects.get(pk=run.pk).abort(by=admin)
    worker.join()
    landed = time.perf_counter() - asked
    assert Run.objects.get(pk=run.pk).status == "aborted"
    return landed * 1000


def workers_speedup(admin: User, store: Datastore) -> tuple[float, float]:
    def wall(processes: int) -> float:
        run = Run.launch(Run.Type.PROFILE, store, by=admin, options={"record_limit": 600_000})
        env = os.environ | {"RUNBOARD_RUN_PARALLELISM": str(processes), "RUNBOARD_DB_POOL": "false"}
        started = time.perf_counter()
        spawned = [
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "worker",
                    "--batch",
                    "--no-reload",
                    "--no-startup-delay",
                    "-v",
                    "0",
                ],
                cwd=ROOT,
                env=env,
            )
            for _ in range(processes)
        ]
        while Run.objects.filter(pk=run.pk, status__in=["queued", "running"]).exists():
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        for process in spawned:
            process.wait()
        return elapsed

    return wall(1), wall(2)


def main() -> None:
    urls = sources()
    admin = User.objects.filter(username="bench").first() or User.objects.create_user(
        "bench", role="admin"
    )
    stores = {
        name: Datastore.objects.update_or_create(
            name=f"bench-{name}", defaults={"connection_url": url}
        )[0]
        for name, url in urls.items()
    }
    big = Datastore.objects.update_or_create(
        name="bench-big", defaults={"connection_url": f"sqlite:///{BIG}"}
    )[0]
    for store in [*stores.values(), big]:
        engine.execute(Run.launch(Run.Type.SYNC, store, by=admin).pk)

    print(f"\nEngine (Runboard's own database: {connection.vendor})")
    per_container = statistics.median(overhead(admin, stores["SQLite"]) for _ in range(5))
    row("overhead per container (an operation that does nothing)", f"{per_container:.2f} ms")

    for name, store in stores.items():
        with sqlite3.connect(SHOP) as db:
            records = db.execute("SELECT COUNT(*) FROM order_items").fetchone()[0]
        for type, options in [
            (Run.Type.PROFILE, {"containers": ["order_items"]}),
            (Run.Type.SCAN, {"containers": ["order_items"]}),
        ]:
            timings = [timed_run(admin, store, type, **options) for _ in range(3)]
            run_ms = sorted(t for t, _ in timings)[1]
            sql_ms = sorted(bare(urls[name], statements) for _, statements in timings)[1]
            row(
                f"{type.title()} of order_items ({records:,} rows), {name} source",
                f"run {run_ms:7.0f} ms",
                f"SQL {sql_ms:7.0f} ms",
                f"ratio {run_ms / sql_ms:.2f}",
            )

    row(f"abort landing inside a {BIG_ROWS:,}-row container", f"{abort_latency(admin, big):.0f} ms")
    if connection.vendor == "postgresql":
        one, two = workers_speedup(admin, big)
        row(
            f"Profile of {BIG_TABLES} big tables: 1 worker vs 2",
            f"{one:.1f} s",
            f"{two:.1f} s",
            f"speed-up {one / two:.2f}x",
        )
    else:
        print("  (two workers sharing a run: run this bench on PostgreSQL)")


if __name__ == "__main__":
    main()
