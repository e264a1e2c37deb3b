"""The engine: executes a run container by container, in whichever worker process picks it up.

The queue (activity/tasks.py) only carries "work on run X". Everything else lives in our tables:
claiming a run and each of its containers is a conditional UPDATE, so several workers can share a
run and no container is processed twice; a worker owns what it claimed, and each container's
artifacts, counters and log entries commit in one short transaction after its source queries are
done, only if the container is still its own; a monitor thread beats the heartbeat and watches
for an abort; the reaper (activity/reaper.py) takes back what dead workers held.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from activity import tasks
from activity.models import Run, RunContainer, RunEvent, RunLog
from activity.operations.base import Skipped
from activity.rules import RunStatus
from catalog.connectors import (
    QueryInterrupted,
    SourceError,
    SourceRefused,
    SourceUnavailable,
    connect,
)

logger = logging.getLogger("runboard.engine")

Unit = RunContainer


class Aborted(Exception):  # noqa: N818
    """An abort was requested: stop, roll the current container back to unfinished."""


class Interrupted(Exception):  # noqa: N818
    """The run left `running` under this worker (landed by another worker or the reaper)."""


class Fatal(Exception):
    """The run cannot go on: it lands on failure with this message as its detail."""


# Set when the worker process is asked to stop (SIGTERM, Ctrl-C): finish the current container,
# then hand the rest of the run back to the queue instead of working through it.
stopping = threading.Event()


def worker_name() -> str:
    """This process's name: the worker id of its queue entries and of its Worker row."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class Job:
    """One worker's work on one run: its connections, its abort flag, its buffered log."""

    def __init__(self, run: Run, worker: str):
        self.run = run
        self.worker = worker
        self.operation = run.operation
        self.options = run.options
        self.abort_requested = threading.Event()
        self.interrupted = threading.Event()
        self.current: Unit | None = None
        self.logs: list[RunLog] = []
        self.connections: dict[object, object] = {}
        # What an operation reads once per worker and run (Sync: the source's inventory).
        self.memo: dict[str, object] = {}

    @property
    def source(self):
        return self.connect(self.run.datastore)

    def connect(self, datastore, *, write: bool = False):
        """A connection to one of the run's datastores, opened once per job, with retries."""
        key = (datastore.pk, write)
        if key not in self.connections:
            self.connections[key] = self._connect_with_retries(datastore, write)
        return self.connections[key]

    def _connect_with_retries(self, datastore, write: bool):
        delays = settings.RUNBOARD["RECONNECT_DELAYS"]
        attempts = len(delays) + 1
        for attempt, pause in enumerate([*delays, None], start=1):
            try:
                conn = connect(datastore.connection_url, write=write)
            except SourceUnavailable as error:
                if pause is None or isinstance(error, SourceRefused):
                    raise Fatal(f"source datastore unreachable: {error}") from error
                self.log(
                    f"Connection {attempt}/{attempts} to {datastore} failed: {error}", "warning"
                )
                time.sleep(pause)
            else:
                again = f" on attempt {attempt}" if attempt > 1 else ""
                self.log(f"Connected to {datastore} ({conn.describe()}){again}")
                return conn

    def hold(self, name: str, conn) -> None:
        """A connection the operation opened itself, closed and interrupted with the job's."""
        self.connections[name] = conn

    def reconnect(self) -> None:
        self.close()
        self.source  # noqa: B018

    def checkpoint(self) -> None:
        """Called between batches and queries: stop promptly when an abort was requested."""
        if self.interrupted.is_set():
            raise Interrupted
        if self.abort_requested.is_set():
            raise Aborted

    def log(self, message: str, level: str = RunLog.Level.INFO, unit: Unit | None = None) -> None:
        self.logs.append(RunLog(run_id=self.run.pk, unit=unit, level=level, message=message))

    def flush_logs(self) -> bool:
        """Write the buffered entries (inside the caller's transaction); True if any is a warning."""
        entries, self.logs = self.logs, []
        RunLog.objects.bulk_create(entries)
        return any(entry.level != RunLog.Level.INFO for entry in entries)

    def drop_logs_of(self, unit: Unit) -> None:
        self.logs = [entry for entry in self.logs if entry.unit is not unit]

    def interrupt(self) -> None:
        for conn in list(self.connections.values()):
            try:
                conn.interrupt()
            except Exception:  # noqa: BLE001 - the connection may be closing; nothing to cancel
                logger.debug("interrupt failed", exc_info=True)

    def close(self) -> None:
        for conn in self.connections.values():
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                logger.debug("close failed", exc_info=True)
        self.connections.clear()


class Monitor(threading.Thread):
    """Beats the heartbeat of the job's run and container, and watches for an abort.

    It must outlive a database hiccup ("database is locked", a dropped PostgreSQL connection):
    a monitor that died would let the reaper take the work away from a healthy worker.
    """

    def __init__(self, job: Job):
        super().__init__(daemon=True, name=f"monitor-{job.run.pk}")
        self.job = job
        self.stopped = threading.Event()

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.join()

    def run(self) -> None:
        poll, beat = settings.RUNBOARD["ABORT_POLL"], settings.RUNBOARD["HEARTBEAT"]
        last_beat = time.monotonic()
        try:
            while not self.stopped.wait(poll):
                try:
                    self.watch()
                    if time.monotonic() - last_beat >= beat:
                        self.beat()
                        last_beat = time.monotonic()
                except Exception:
                    logger.exception("monitor of run #%s: retrying", self.job.run.pk)
                    connection.close()  # the next query opens a fresh connection
        finally:
            connection.close()

    def watch(self) -> None:
        job = self.job
        state = (
            Run.objects.filter(pk=job.run.pk).values_list("status", "abort_requested_at").first()
        )
        if state is None or state[0] != RunStatus.RUNNING:
            if job.interrupted.is_set():
                return
            job.interrupted.set()
        elif state[1] is not None and not job.abort_requested.is_set():
            job.abort_requested.set()
        else:
            return
        job.interrupt()

    def beat(self) -> None:
        now = timezone.now()
        Run.objects.filter(pk=self.job.run.pk, status=RunStatus.RUNNING).update(heartbeat_at=now)
        if unit := self.job.current:
            unit.beat(now)


def execute(run_id: int, worker: str | None = None) -> None:
    """Work on a run: start it if it is queued, then process pending containers until none are
    left, and land it if this worker is the last one out."""
    run = Run.objects.select_related("datastore", "target").filter(pk=run_id).first()
    if run is None:
        return
    job = Job(run, worker or worker_name())
    if run.status == RunStatus.QUEUED:
        run.start(job.worker)
    run.refresh_from_db()
    if run.status != RunStatus.RUNNING:
        return
    with Monitor(job):
        try:
            if run.begun_at is None:  # it just started, or its starter died before it was ready
                begin(job)
            while True:
                unit = claim_next(job)
                while unit:
                    unit = process(job, unit)
                if stopping.is_set() and hand_over(job):
                    break
                if not wrap_up(job):
                    break
        except Fatal as error:
            land_failure(job, str(error))
        except Interrupted:
            logger.info("run #%s was landed while %s worked on it", run.pk, job.worker)
        finally:
            job.close()


def begin(job: Job) -> None:
    """Once per run: the operation's own start (connect, discover units), then call in helpers."""
    try:
        discovered = job.operation.start(job)
    except ValidationError as error:
        raise Fatal(f"invalid options: {'; '.join(error.messages)}") from error
    except SourceError as error:
        raise Fatal(f"source datastore unreachable: {error}") from error
    with transaction.atomic():
        run = lock_running(job)
        if not Run.objects.filter(pk=run.pk, begun_at__isnull=True).update(begun_at=timezone.now()):
            return  # another worker took over and began it meanwhile
        if discovered is not None:
            job.run.add_units(discovered)
        add_counters(job, {})
        job.flush_logs()
    pending = job.run.units.filter(status=Unit.Status.PENDING).count()
    for _ in range(min(settings.RUNBOARD["RUN_PARALLELISM"], pending) - 1):
        tasks.enqueue(job.run.pk)


def claim_next(job: Job) -> Unit | None:
    """The run's next pending container, now this worker's; None when none is left or the
    worker should take no more (an abort was requested, the process is stopping)."""
    if job.abort_requested.is_set() or job.interrupted.is_set() or stopping.is_set():
        return None
    job.current = Unit.claim_next(job.run.pk, job.worker)
    return job.current


def process(job: Job, unit: Unit) -> Unit | None:
    """Work on one container and commit its outcome. Returns the next container when it was
    claimed in that same transaction: one commit per container instead of two."""
    following = None
    try:
        result = compute(job, unit)
        with transaction.atomic():
            counters = job.operation.save(job, unit, result)
            complete(job, unit, Unit.Status.SUCCESS, counters)
            claimed = claim_next(job)
        following = claimed  # only once committed: a failed commit claimed nothing
    except Skipped as reason:
        with transaction.atomic():
            job.log(str(reason), RunLog.Level.WARNING, unit)
            complete(job, unit, Unit.Status.SKIPPED)
    except Unit.NotOurs:
        # The reaper gave it to another worker while this one looked dead: that one's result
        # counts; this one's was rolled back with the transaction.
        logger.warning("%s: container %s is no longer ours", job.worker, unit.name)
        job.drop_logs_of(unit)
        job.run.log(f"{unit.name}: {job.worker} finished it after it was taken back; dropped")
    except Aborted:
        release(job, unit, "interrupted by the abort: rolled back to unfinished")
    except Interrupted:
        release(job, unit, "interrupted: the run was landed meanwhile")
        raise
    except Fatal:
        release(job, unit, "interrupted by a fatal error: rolled back to unfinished")
        raise
    except Exception as error:  # noqa: BLE001 - any other error fails this container only
        if not isinstance(error, SourceError):
            logger.exception("container %s of run #%s failed", unit.name, job.run.pk)
        message = (
            str(error) if isinstance(error, SourceError) else f"{type(error).__name__}: {error}"
        )
        job.drop_logs_of(unit)
        try:
            with transaction.atomic():
                job.log(message, RunLog.Level.ERROR, unit)
                complete(job, unit, Unit.Status.FAILURE, error=message)
        except Unit.NotOurs:
            job.drop_logs_of(unit)
    finally:
        job.current = following
    return following


def compute(job: Job, unit: Unit):
    """The operation's reads for one container, reconnecting once if the connection dropped."""
    try:
        return compute_once(job, unit)
    except SourceUnavailable as error:
        job.log(f"Lost the connection while on {unit.name}: {error}", RunLog.Level.WARNING)
        job.reconnect()
    try:
        return compute_once(job, unit)
    except SourceUnavailable as error:
        raise Fatal(f"source datastore unreachable: {error}") from error


def compute_once(job: Job, unit: Unit):
    try:
        job.checkpoint()
        job.source.ensure_alive()
        return job.operation.compute(job, unit)
    except QueryInterrupted:
        job.checkpoint()  # an abort cancelled the statement: say so, not "query failed"
        raise


def lock_running(job: Job) -> Run:
    """The run's row, locked for this transaction; Interrupted if it is no longer running."""
    run = Run.objects.select_for_update().only("status").get(pk=job.run.pk)
    if run.status != RunStatus.RUNNING:
        raise Interrupted
    return run


def complete(
    job: Job, unit: Unit, status: str, counters: dict | None = None, error: str = ""
) -> None:
    """Finish a container this worker still owns, with its counters and log, in the caller's
    transaction and after the operation's own writes: the run's row is locked only from here
    to the commit (Interrupted if the run was landed), then the container's (NotOurs if it was
    taken back), in the order the reaper locks them too. Either rolls everything back."""
    add_counters(job, counters or {}, done=1, succeeded=int(status == Unit.Status.SUCCESS))
    unit.finish(status, counters, error)
    job.flush_logs()


def add_counters(job: Job, counters: dict, done: int = 0, succeeded: int = 0) -> None:
    """Add to the run's counters, in the caller's transaction; Interrupted if it is no longer
    running. The caller writes the buffered log (whose warnings this flags) afterwards."""
    warned = any(entry.level != RunLog.Level.INFO for entry in job.logs)
    if not Run.add_progress(job.run.pk, counters, done=done, succeeded=succeeded, warned=warned):
        raise Interrupted


def release(job: Job, unit: Unit, reason: str) -> None:
    """Put an interrupted container back to pending: its work was never committed."""
    job.drop_logs_of(unit)
    with transaction.atomic():
        if unit.release():
            job.run.log(f"{unit.name}: {reason}")


def hand_over(job: Job) -> bool:
    """A stopping worker queues the run again for another one, if work is left. The waiting
    queue entry tells the reaper that the run is not lost, however long the next worker takes."""
    if (
        job.abort_requested.is_set()
        or not job.run.units.filter(status=Unit.Status.PENDING).exists()
    ):
        return False
    with transaction.atomic():
        job.run.log(f"Worker {job.worker} is stopping: the containers left go back to the queue")
        job.run.enqueue()
    return True


def wrap_up(job: Job) -> bool:
    """Land the run if this worker is the last one out. True when work was put back meanwhile."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=job.run.pk)
        if run.status != RunStatus.RUNNING:
            return False
        job.run = run
        open_units = set(
            run.units.filter(status__in=[Unit.Status.PENDING, Unit.Status.RUNNING])
            .values_list("status", flat=True)
            .distinct()
        )
        if Unit.Status.RUNNING in open_units:
            # Another worker is on a container: it lands the run, or, if it died, the reaper
            # gives its container back and queues the run again.
            return False
        if run.abort_requested_at and open_units:
            run.log(f"Aborted by {run.aborted_by or 'System'}: {progress(run)} finished")
            run.land(RunStatus.ABORTED)
            return False
        if open_units:
            return True  # the reaper put a dead worker's container back: take it
        if run.abort_requested_at:
            # Nothing was left to stop: the run lands on what it really did (SPEC §4).
            run.record(RunEvent.Kind.ABORT_TOO_LATE, note="every container had finished")
            run.log("The abort came too late: every container had already finished")
        if given_up := list(
            run.units.filter(status=Unit.Status.FAILURE, losses__gte=Unit.MAX_LOSSES).values_list(
                "name", flat=True
            )[:5]
        ):
            # Workers dying is not the data's fault: like a lost worker, a failure to resume.
            detail = f"{', '.join(given_up)} lost {'its' if len(given_up) == 1 else 'their'} worker twice"
            run.log(f"Failed: {detail}", RunLog.Level.ERROR)
            run.land(RunStatus.FAILURE, detail)
            return False
        if run.containers_total and not run.containers_succeeded:
            detail = f"none of its {run.containers_total} {run.operation.unit_label} succeeded"
            run.log(f"Failed: {detail}", RunLog.Level.ERROR)
            run.land(RunStatus.FAILURE, detail)
            return False
        try:
            add_counters(job, job.operation.finish(job))
            job.flush_logs()
        except Exception as error:  # noqa: BLE001
            logger.exception("finishing run #%s failed", run.pk)
            raise Fatal(f"could not finish: {error}") from error
        run.refresh_from_db()
        run.log(f"Finished: {progress(run)} processed")
        run.land(RunStatus.SUCCESS)
        return False


def land_failure(job: Job, detail: str) -> None:
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=job.run.pk)
        if run.status != RunStatus.RUNNING:
            return
        job.flush_logs()
        run.units.reopen()  # other workers' containers too: the run stops here
        run.log(detail[:1].upper() + detail[1:], RunLog.Level.ERROR)
        run.land(RunStatus.FAILURE, detail)


def progress(run: Run) -> str:
    return f"{run.containers_done} of {run.containers_total} {run.operation.unit_label}"
