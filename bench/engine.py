"""The engine's own cost, measured, each figure beside its target (PERFORMANCE.md). Prints:

- the overhead per container: a run of many containers whose operation does nothing;
- Profile and Scan of the demo shop's largest table, next to the same SQL statements run
  directly on the source, for a SQLite source and a PostgreSQL one;
- how long an abort takes to land in the middle of a big container;
- on PostgreSQL, the speed-up of two worker processes sharing one run over one;
- how long after one of two worker processes is killed (kill -9) while it holds a container
  the run ends `success` by itself, with a short heartbeat timeout and reaper tick.

    .venv/bin/python bench/engine.py                                     # Runboard on SQLite
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/runboard_bench_engine .venv/bin/python bench/engine.py
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, ensure_database, setup

BENCH = ROOT / "var" / "bench"
BENCH.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("RUNBOARD_SQLITE_DIRS", str(BENCH))  # the bench's sources live here
setup(f"sqlite:///{BENCH / 'engine.sqlite3'}")

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tasks_db.models import DBTaskResult, TaskResultStatus  # noqa: E402

from accounts.models import User  # noqa: E402
from activity import engine  # noqa: E402
from activity.models import Run, Worker  # noqa: E402
from activity.operations import OPERATIONS  # noqa: E402
from activity.operations.base import Operation  # noqa: E402
from catalog.demo_shop import build_shop  # noqa: E402
from catalog.models import Container, Datastore  # noqa: E402
from tests.gate import Gates  # noqa: E402

PG_SOURCE = "postgresql://postgres@127.0.0.1:5432/runboard_bench_shop"
# The recovery bench's workers: beats, and the silence after which the reaper takes work back.
RECOVERY_ENV = {
    "RUNBOARD_HEARTBEAT": "0.2",
    "RUNBOARD_HEARTBEAT_TIMEOUT": "2",
    "RUNBOARD_REAP_EVERY": "0.5",
    "RUNBOARD_ABORT_POLL": "0.05",
}
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


def start_worker(*, gated: Path | None = None, **env: str) -> subprocess.Popen:
    """A real worker process, polling the queue every 0.1 s; with `gated`, a worker whose
    Profile waits at gates in that folder (tests/gate.py)."""
    command = ["-m", "tests.gate_worker"] if gated else ["manage.py", "worker"]
    env = os.environ | {"RUNBOARD_DB_POOL": "false"} | env
    if gated:
        env["RUNBOARD_GATES"] = str(gated)
    process = subprocess.Popen(
        [sys.executable, *command, "--no-reload", "--no-startup-delay", "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    name = f"{socket.gethostname()[:40]}:{process.pid}"
    until(lambda: Worker.objects.filter(name=name).exists(), f"worker {name} to start")
    return process


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # a gated container it still waits in
            process.wait()


def abort_leftovers() -> None:
    """Runs an interrupted bench left live: the workers measured would take them first."""
    now = timezone.now()
    Run.objects.filter(status__in=["queued", "running"]).update(
        status="aborted", finished_at=now, heartbeat_at=None
    )
    DBTaskResult.objects.filter(status=TaskResultStatus.READY).delete()


def until(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"Timed out waiting for {what}")
        time.sleep(0.02)


def ended(run: Run) -> bool:
    return not Run.objects.filter(pk=run.pk, status__in=["queued", "running"]).exists()


def workers_speedup(admin: User, store: Datastore, repeat: int = 3) -> dict[int, Wall]:
    """Per number of worker processes (1, 2), the median wall time of one Profile run, and the
    CPU its workers and the whole machine used meanwhile: on a shared machine, two workers are
    only as fast as the cores others leave them. The workers are up and polling before the run
    is launched; one and two alternate."""

    def wall(processes: int) -> Wall:
        workers = [start_worker(RUNBOARD_RUN_PARALLELISM=str(processes)) for _ in range(processes)]
        try:
            run = Run.launch(Run.Type.PROFILE, store, by=admin, options={"record_limit": 600_000})
            cpu, busy, started = cpu_seconds(workers), machine_busy(), time.perf_counter()
            until(lambda: ended(run), f"run #{run.pk} to end", timeout=600)
            elapsed = time.perf_counter() - started
            cpu, busy = cpu_seconds(workers) - cpu, machine_busy() - busy
        finally:
            stop(*workers)
        run.refresh_from_db()
        assert run.status == "success", run.detail
        return Wall(elapsed, cpu / elapsed, busy / elapsed)

    walls: dict[int, list[Wall]] = {1: [], 2: []}
    for _ in range(repeat):
        for processes in (1, 2):
            walls[processes].append(wall(processes))
    return {n: sorted(w, key=lambda wall: wall.seconds)[len(w) // 2] for n, w in walls.items()}


@dataclass
class Wall:
    seconds: float
    workers_cores: float  # CPU seconds the workers used per second of wall time
    machine_cores: float  # the same for every process of the machine (ours, PostgreSQL's, others')


def cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """CPU time (user + system) these live processes used so far (Linux /proc; 0 elsewhere)."""
    total = 0
    for process in processes:
        with suppress(OSError):
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds every core of the machine spent busy so far (Linux /proc; 0 elsewhere)."""
    with suppress(OSError):
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
    return 0.0


def recovery(admin: User, store: Datastore, containers: int = 40, repeat: int = 7) -> list[float]:
    """Seconds from killing (kill -9) the worker that holds a container to the run ending
    `success` on its own, for each of `repeat` runs. Its containers are gated (tests/gate.py): worker A holds the
    first at its gate while worker B does all the others, so the time measured is the healing
    alone — the reaper noticing the silence, and a live worker finishing what A held."""
    names = [f"g{i:02d}" for i in range(containers)]
    for name in names:
        Container.objects.get_or_create(datastore=store, name=name)
    return [heal(admin, store, names) for _ in range(repeat)]


def heal(admin: User, store: Datastore, names: list[str]) -> float:
    gates = Gates(Path(tempfile.mkdtemp(prefix="gates-", dir=BENCH)))
    gates.open(*names[1:])
    run = Run.launch(Run.Type.PROFILE, store, by=admin, options={"containers": names})
    env = RECOVERY_ENV | {"RUNBOARD_RUN_PARALLELISM": "2"}
    a = start_worker(gated=gates.folder, **env)
    until(lambda: gates.entered_by(names[0]), "worker A to hold the first container")
    b = start_worker(gated=gates.folder, **env)
    try:
        until(
            lambda: Run.objects.get(pk=run.pk).containers_done == len(names) - 1,
            "worker B to do the others",
        )
        # At a random moment of the reaper's cycle: a fixed one would measure one phase only.
        time.sleep(random.uniform(0, float(RECOVERY_ENV["RUNBOARD_REAP_EVERY"])))
        a.kill()
        killed = time.perf_counter()
        a.wait()
        gates.open(names[0])
        until(lambda: ended(run), f"run #{run.pk} to end")
        healed = time.perf_counter() - killed
    finally:
        stop(a, b)
    run.refresh_from_db()
    assert run.status == "success", f"#{run.pk} {run.status}: {run.detail}"
    assert run.units.get(name=names[0]).losses == 1
    return healed


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def row(label: str, *cells: str) -> None:
    print(f"  {label:<58}" + "".join(f" {cell:>15}" for cell in cells))


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
    abort_leftovers()
    for store in [*stores.values(), big]:
        engine.execute(Run.launch(Run.Type.SYNC, store, by=admin).pk)

    print(f"\nEngine (Runboard's own database: {connection.vendor}); medians")
    per_container = statistics.median(overhead(admin, stores["SQLite"]) for _ in range(5))
    row(
        "overhead per container (an operation that does nothing)",
        f"{per_container:.2f} ms",
        "target ≤ 2 ms",
        verdict(per_container <= 2),
    )

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
                "target ≤ 1.2",
                verdict(run_ms / sql_ms <= 1.2),
            )

    latency = abort_latency(admin, big)
    row(
        f"abort landing inside a {BIG_ROWS:,}-row container",
        f"{latency:.0f} ms",
        "target ≤ 1000 ms",
        verdict(latency <= 1000),
    )
    if connection.vendor == "postgresql":
        walls = workers_speedup(admin, big)
        one, two = walls[1].seconds, walls[2].seconds
        row(
            f"Profile of {BIG_TABLES} big tables: 1 worker vs 2",
            f"{one:.1f} s",
            f"{two:.1f} s",
            f"speed-up {one / two:.2f}x",
            "target ≥ 1.8x",
            verdict(one / two >= 1.8),
        )
        for n, wall in walls.items():
            print(
                f"    {n} worker{'s' * (n > 1)}: they used {wall.workers_cores:.2f} cores, "
                f"the whole machine {wall.machine_cores:.2f} of {os.cpu_count()}"
            )
        # What the engine itself loses to sharing a run: the speed-up for the cores they got.
        got = walls[2].workers_cores / walls[1].workers_cores
        print(f"    speed-up per core the two got: {one / two / got:.2f} (1.00: no loss)")
    else:
        print("  (two workers sharing a run: run this bench on PostgreSQL)")

    timeout, tick = (
        float(RECOVERY_ENV[f"RUNBOARD_{k}"]) for k in ("HEARTBEAT_TIMEOUT", "REAP_EVERY")
    )
    print(
        "  kill -9 of one of two workers, the one holding a container: "
        + ", ".join(f"{k.removeprefix('RUNBOARD_')}={v}s" for k, v in RECOVERY_ENV.items())
    )
    gated = Datastore.objects.update_or_create(
        name="bench-gated", defaults={"connection_url": urls["SQLite"]}
    )[0]
    healed = recovery(admin, gated)
    row(
        f"  ... until its run ends success, by itself ({len(healed)} kills)",
        f"median {statistics.median(healed):.2f} s",
        f"worst {max(healed):.2f} s",
        f"target ≤ {timeout + tick:g} s",
        verdict(max(healed) <= timeout + tick),
    )


if __name__ == "__main__":
    main()
