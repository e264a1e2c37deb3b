"""A stand-in for Profile whose containers wait at gates the test opens, so that a test decides
exactly when a container is in flight, instead of racing the clock on big tables.

A gated container writes its worker's name into <gates>/<container>.entered when it starts, then
waits until <gates>/<container>.open exists, looking for an abort between two looks. Real worker
processes get it with `python -m tests.gate_worker` (see there); the test holds a Gates.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from activity.operations.profile import Profile, Profiled
from activity.operations.scan import Scan
from tests.base import wait_for


class Gates:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def entered_by(self, name: str) -> list[str]:
        """The workers that started this container, in order."""
        path = self.folder / f"{name}.entered"
        return path.read_text().split() if path.exists() else []

    def wait_entered(self, name: str, times: int = 1) -> str:
        """Wait until the container was started `times` times; the worker that did it last."""
        return wait_for(
            lambda: len(self.entered_by(name)) >= times and self.entered_by(name)[-1],
            what=f"{name} to be started {times} time(s)",
        )

    def open(self, *names: str) -> None:
        for name in names:
            (self.folder / f"{name}.open").touch()


def wait_at(gate: Path, name: str, job=None) -> None:
    with (gate / f"{name}.entered").open("a") as entered:
        entered.write(f"{job.worker if job else os.getpid()}\n")
    while not (gate / f"{name}.open").exists():
        if job is not None:
            job.checkpoint()
        time.sleep(0.01)


class GatedProfile(Profile):
    """Profile with no source: each container waits at its gate, then profiles nothing."""

    def start(self, job):
        return None

    def compute(self, job, unit) -> Profiled:
        wait_at(Path(os.environ["RUNBOARD_GATES"]), unit.name, job)
        return Profiled(records=0, stats=[])


class GatedScan(Scan):
    """A real Scan whose containers each wait at their gate before they are read."""

    def compute(self, job, unit):
        wait_at(Path(os.environ["RUNBOARD_GATES"]), unit.name, job)
        return super().compute(job, unit)
