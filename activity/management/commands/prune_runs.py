from __future__ import annotations

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from activity.retention import prune


def age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d{1,5})([dh])", text.strip())
    if not match:
        raise CommandError(
            f"--older-than takes a number of days or hours, such as 90d or 12h, not {text!r}."
        )
    number, unit = int(match[1]), match[2]
    return timedelta(days=number) if unit == "d" else timedelta(hours=number)


class Command(BaseCommand):
    help = (
        "Remove finished runs older than a cutoff, in batches, with an audit record each; what "
        "they produced stays, and the chains of live runs are kept."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", required=True, help="90d, 12h …")
        parser.add_argument("--dry-run", action="store_true", help="Count them, remove nothing.")

    def handle(self, *args, older_than: str, dry_run: bool, **options) -> None:
        count = prune(age(older_than), dry_run=dry_run)
        verb = "Would remove" if dry_run else "Removed"
        self.stdout.write(f"{verb} {count:,} run(s) created more than {older_than} ago.")
