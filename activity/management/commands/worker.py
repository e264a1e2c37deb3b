from __future__ import annotations

from django.conf import settings
from django_tasks_db.management.commands import db_worker

from activity import engine
from activity.reaper import Keeper, reap
from activity.retention import prune_by_setting, purge_deleted
from schedules.scheduler import fire_due


class Worker(db_worker.Worker):
    def shutdown(self, signum, frame) -> None:
        engine.stopping.set()  # the run at hand stops after its current container
        super().shutdown(signum, frame)


class Command(db_worker.Command):
    help = (
        "Run a Runboard worker: executes queued runs, fires due schedules and reaps what dead "
        "workers held."
    )

    def handle(self, *args, **options) -> None:
        # db_worker builds its Worker by this module-level name: ours also tells the engine.
        db_worker.Worker = Worker
        # One name for the process: its queue entries, its Worker row and its containers.
        options["worker_id"] = engine.worker_name()
        Keeper(
            options["worker_id"],
            duties=[
                (settings.RUNBOARD["REAP_EVERY"], reap),
                (settings.RUNBOARD["SCHEDULER_TICK"], fire_due),
                (settings.RUNBOARD["UNDO_SECONDS"] / 3, purge_deleted),
                (24 * 3600, prune_by_setting),
            ],
        ).start()
        super().handle(*args, **options)
