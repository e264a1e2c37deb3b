from __future__ import annotations

from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from activity.engine import Reaper


class Command(DbWorkerCommand):
    help = "Run a Runboard worker: executes queued runs and reaps runs whose workers died."

    def handle(self, *args, **options) -> None:
        Reaper().start()
        super().handle(*args, **options)
