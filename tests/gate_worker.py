"""`python -m tests.gate_worker [worker options]`: a real Runboard worker whose Profile waits at
the test's gates (tests/gate.py), in folder RUNBOARD_GATES.

- RUNBOARD_GATED=scan: a real Scan waits at the gates instead (Profile then runs for real).
- RUNBOARD_GATE_START=1: the worker also waits at the gate "start" after taking a run from the
  queue and before starting it, so a test can kill it in between.
- RUNBOARD_FAIL_BEATS=n: its first n heartbeats fail as a database blip would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core.management import execute_from_command_line  # noqa: E402
from django.db import OperationalError  # noqa: E402

from activity import engine  # noqa: E402
from activity.models import Run  # noqa: E402
from activity.operations import OPERATIONS  # noqa: E402
from tests.gate import GatedProfile, GatedScan, wait_at  # noqa: E402

if os.environ.get("RUNBOARD_GATED") == "scan":
    OPERATIONS["scan"] = GatedScan()
else:
    OPERATIONS["profile"] = GatedProfile()

if os.environ.get("RUNBOARD_GATE_START"):
    start = Run.start

    def gated_start(run: Run, worker: str) -> bool:
        wait_at(Path(os.environ["RUNBOARD_GATES"]), "start")
        return start(run, worker)

    Run.start = gated_start

failures = int(os.environ.get("RUNBOARD_FAIL_BEATS", "0"))
if failures:
    beat = engine.Monitor.beat

    def failing_beat(monitor: engine.Monitor) -> None:
        global failures
        if failures > 0:
            failures -= 1
            raise OperationalError("database is locked (a blip injected by the test)")
        beat(monitor)

    engine.Monitor.beat = failing_beat

execute_from_command_line(["manage.py", "worker", *sys.argv[1:]])
