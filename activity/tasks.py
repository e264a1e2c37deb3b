"""The queue: it carries "work on run X" and nothing else; the rest lives in our tables.

The queue is django-tasks-db's table in Runboard's own database. Two things rest on that, both
deliberate exceptions to the house rules: a run and its queue entry commit in one transaction
(Run._create enqueues inside it, not on commit, so no crash between the two can leave a run
queued with nothing to start it), and the reaper reads the queue to find runs whose entry is
gone or held by a dead worker. Moving to another django.tasks backend means revisiting both.

A leaf module: the task imports the engine only when it runs.
"""

from __future__ import annotations

from datetime import datetime

from django.tasks import task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, TaskResultStatus


@task()
def execute_run(run_id: int) -> None:
    """Work on run #run_id."""
    from activity import engine  # at run time: the queue module stays a leaf

    engine.execute(run_id)


def enqueue(run_id: int) -> str:
    """Queue "work on run X" in the caller's transaction; the id of the queue entry."""
    return str(execute_run.enqueue(run_id).id)


def waiting(entry_ids: list[str]) -> set[str]:
    """Which of these queue entries still wait for a worker."""
    ready = DBTaskResult.objects.filter(pk__in=entry_ids, status=TaskResultStatus.READY)
    return {str(pk) for pk in ready.values_list("pk", flat=True)}


def holders(entry_ids: list[str]) -> dict[str, str]:
    """The worker holding each of these queue entries that a worker took and has not finished."""
    taken = DBTaskResult.objects.filter(pk__in=entry_ids, status=TaskResultStatus.RUNNING)
    return {str(pk): ids[-1] for pk, ids in taken.values_list("pk", "worker_ids") if ids}


def close_abandoned(live_workers: set[str], taken_before: datetime) -> int:
    """Close the entries that workers which stopped beating left running: django-tasks-db never
    does (a killed worker leaves them RUNNING forever)."""
    taken = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=taken_before
    )
    abandoned = [
        pk
        for pk, ids in taken.values_list("pk", "worker_ids")
        if not ids or ids[-1] not in live_workers
    ]
    return taken.filter(pk__in=abandoned).update(
        status=TaskResultStatus.FAILED,
        finished_at=timezone.now(),
        exception_class_path="activity.reaper.WorkerLost",
        traceback="The worker holding this entry stopped beating: the reaper closed it.",
    )
