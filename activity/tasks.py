from __future__ import annotations

from django.tasks import task

from activity import engine


@task()
def execute_run(run_id: int) -> None:
    """Work on run #run_id: the queue carries nothing else; the rest lives in our tables."""
    engine.execute(run_id)
