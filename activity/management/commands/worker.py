from __future__ import annotations

from django_tasks_db.management.commands import db_worker

from activity import engine


class Worker(db_worker.Worker):
    def shutdown(self, signum, frame) -> None:
        engine.stopping.set()  # the run at hand stops after its current container
        super().shutdown(signum, frame)


class Command(db_worker.Command):
    help = "Run a Runboard worker: executes queued runs and reaps runs whose workers died."

    def handle(self, *args, **options) -> None:
        # db_worker builds its Worker by this module-level name: ours also tells the engine.
        db_worker.Worker = Worker
        engine.Reaper().start()
        super().handle(*args, **options)
