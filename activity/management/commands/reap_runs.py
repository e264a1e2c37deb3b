from __future__ import annotations

from django.core.management.base import BaseCommand

from activity.reaper import reap


class Command(BaseCommand):
    help = "Give back what dead workers held: their containers, runs and queue entries."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Reaped: {reap()}")
