"""What the benchmarks share: a Django set up on a benchmark database, and medians."""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(default_url: str) -> None:
    """Django on DATABASE_URL (or `default_url`), production-like: no DEBUG, pooled connections."""
    os.environ.setdefault("DATABASE_URL", default_url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("RUNBOARD_MANIFEST_STATIC", "false")
    os.environ["DEBUG"] = "false"
    # Production-like settings refuse to start without a key: a throwaway one for the bench.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgresql"):
        ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as db:
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            db.execute(f'CREATE DATABASE "{name}"')


def median_ms(action: Callable[[], object], repeat: int = 15, warmup: int = 3) -> float:
    for _ in range(warmup):
        action()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def row(label: str, *cells: str) -> None:
    print(f"  {label:<44}" + "".join(f"{cell:>16}" for cell in cells))
