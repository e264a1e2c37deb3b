"""The reaper: what dead workers held goes back to the living, so that runs heal themselves.

Every worker process runs it (Keeper, below) and `manage.py reap_runs` runs it once; every write
is conditional, so any number of reapers may run at once. A worker is dead when it stopped
beating its Worker row; a container or a run is lost when nobody beat its heartbeat for
RUNBOARD_HEARTBEAT_TIMEOUT seconds.

- A dead worker's queue entries are closed (django-tasks-db leaves them running forever).
- A lost container goes back to pending for another worker; one that has lost its worker twice
  is given up as a failure, so that a table that kills its worker cannot loop forever.
- A running run nobody works on is queued again (unless a queue entry already waits for it, as
  after a graceful hand-over); with an abort pending it lands on aborted instead. A run queued
  again MAX_REQUEUES times lands on failure ("worker lost"), resumable.
- A queued run whose queue entry is gone, or held by a dead worker, is queued again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from activity import tasks
from activity.models import Run, RunContainer, RunLog, Worker
from activity.rules import RunStatus

logger = logging.getLogger("runboard.reaper")

MAX_REQUEUES = 3
# Queued runs checked per pass, oldest first: the check reads the queue, so it is bounded.
QUEUED_BATCH = 500


@dataclass
class Reaped:
    entries_closed: int = 0
    containers_reopened: int = 0
    containers_failed: int = 0
    runs_requeued: int = 0
    runs_landed: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())


def reap(now: datetime | None = None) -> Reaped:
    now = now or timezone.now()
    deadline = now - timedelta(seconds=settings.RUNBOARD["HEARTBEAT_TIMEOUT"])
    reaped = Reaped(entries_closed=tasks.close_abandoned(Worker.alive(deadline), deadline))
    for unit in RunContainer.objects.lost(deadline).filter(run__status=RunStatus.RUNNING):
        give_back(unit, deadline, reaped)
    alive = Worker.alive(deadline)
    for run in Run.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=deadline):
        look_after(run, deadline, alive, reaped)
    requeue_stranded(deadline, reaped)
    return reaped


def give_back(unit: RunContainer, deadline: datetime, reaped: Reaped) -> None:
    """A container whose worker stopped beating it: pending again, or failed on its 2nd loss."""
    since = clock(unit.heartbeat_at)
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=unit.run_id)
        lost = RunContainer.objects.lost(deadline).filter(pk=unit.pk, worker=unit.worker)
        if unit.losses + 1 >= RunContainer.MAX_LOSSES:
            error = f"lost its worker twice (last: {unit.worker}, silent since {since} UTC)"
            if lost.update(
                status=RunContainer.Status.FAILURE,
                finished_at=timezone.now(),
                heartbeat_at=None,
                losses=F("losses") + 1,
                error=error,
            ):
                RunLog.objects.create(run=run, unit=unit, level="error", message=error)
                Run.objects.filter(pk=run.pk).update(
                    containers_done=F("containers_done") + 1, has_logs=True
                )
                reaped.containers_failed += 1
        elif lost.reopen(lost=True):
            run.log(
                f"{unit.name}: its worker {unit.worker} went silent at {since}: unfinished again"
            )
            reaped.containers_reopened += 1


def look_after(run: Run, deadline: datetime, alive: set[str], reaped: Reaped) -> None:
    """A running run that nobody beats: queue it again, or land it if it cannot go on."""
    with transaction.atomic():
        run = (
            Run.objects.select_for_update()
            .filter(pk=run.pk, status=RunStatus.RUNNING, heartbeat_at__lt=deadline)
            .first()
        )
        if run is None or taken_care_of([run.task_id], alive):
            return  # landed meanwhile, or its queue entry waits for (or was just taken by) one
        since = clock(run.heartbeat_at)
        if run.abort_requested_at:
            run.units.reopen()
            run.log(
                f"No worker acknowledged the abort (silent since {since}): aborted by the system"
            )
            reaped.runs_landed += run.land(RunStatus.ABORTED)
        elif run.requeues >= MAX_REQUEUES:
            run.units.reopen()
            run.log(f"Worker lost: no heartbeat since {since}, {run.requeues} times", "error")
            reaped.runs_landed += run.land(
                RunStatus.FAILURE, f"worker lost (no heartbeat since {since} UTC)"
            )
        else:
            run.units.lost(deadline).reopen(lost=True)
            run.log(f"Its workers went silent at {since}: queued again for another worker")
            Run.objects.filter(pk=run.pk).update(requeues=F("requeues") + 1)
            run.enqueue()
            reaped.runs_requeued += 1


def requeue_stranded(deadline: datetime, reaped: Reaped) -> None:
    """Queued runs with nothing in the queue to start them: their entry vanished, or the worker
    that took it died before starting the run."""
    queued = dict(
        Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=deadline)
        .order_by("id")
        .values_list("pk", "task_id")[:QUEUED_BATCH]
    )
    if not queued:
        return
    alive = Worker.alive(deadline)
    cared_for = taken_care_of(list(queued.values()), alive)
    for pk, entry in queued.items():
        if entry in cared_for:
            continue
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(pk=pk, status=RunStatus.QUEUED).first()
            if run is None or run.task_id != entry:
                continue
            run.log("Nothing in the queue would start it (its worker died?): queued again")
            run.enqueue()
            reaped.runs_requeued += 1


def taken_care_of(entries: list[str], alive: set[str]) -> set[str]:
    """The queue entries that wait for a worker or are held by a live one."""
    held = tasks.holders(entries)
    return tasks.waiting(entries) | {entry for entry, worker in held.items() if worker in alive}


def clock(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%H:%M:%S") if moment else "—"


class Keeper(threading.Thread):
    """Inside every worker process: beats the process's Worker row every HEARTBEAT seconds and
    does its periodic duties (reaping, firing schedules), each every so many seconds; a database
    error is logged and the duty tried again next time."""

    def __init__(self, worker: str, duties: list[tuple[float, Callable[[], object]]]):
        super().__init__(daemon=True, name="keeper")
        self.worker = worker
        self.duties = duties

    def run(self) -> None:
        beat = settings.RUNBOARD["HEARTBEAT"]
        due = [time.monotonic() + every for every, _ in self.duties]
        while True:
            try:
                close_old_connections()
                Worker.beat(self.worker)
                for i, (every, duty) in enumerate(self.duties):
                    if time.monotonic() >= due[i]:
                        due[i] = time.monotonic() + every
                        if done := duty():
                            logger.info("%s: %s", duty.__name__, done)
            except Exception:
                logger.exception("keeper of %s failed; trying again", self.worker)
            # Woken when a duty is due, not at the first beat after it: with REAP_EVERY 0.5 and
            # HEARTBEAT 0.2 the reaper would run every 0.6 s, and a lost worker's work would go
            # back one beat later than the heartbeat timeout and one REAP_EVERY.
            time.sleep(max(0.0, min(beat, min(due, default=math.inf) - time.monotonic())))
