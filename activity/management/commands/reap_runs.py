from __future__ import annotations

from django.core.management.base import BaseCommand

from activity.engine import reap


class Command(BaseCommand):
    help = "Land runs whose worker stopped beating (failure, or aborted if an abort was pending)."

    def handle(self, *args, **options) -> None:
        landed = reap()
        self.stdout.write(f"Landed {landed} run(s) whose worker was lost.")
