"""What leaves the history for good: deleted runs once their undo window has passed, and, when
RUNBOARD_RETENTION_DAYS is set, terminal runs older than that. Workers do both (their keeper);
`manage.py prune_runs` does the second on demand. Each batch is its own short transaction, so
pruning a long history never holds a lock for long; what the runs produced stays."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from activity.models import Run
from activity.rules import LIVE

BATCH = 500


def purge_deleted(now: datetime | None = None) -> int:
    """Remove the runs deleted longer ago than the undo window; how many."""
    window = (now or timezone.now()) - timedelta(seconds=settings.RUNBOARD["UNDO_SECONDS"])
    return Run.purge(Run.objects.filter(deleted_at__lt=window))


def prunable(older_than: timedelta, now: datetime | None = None):
    """Terminal runs created before the cutoff, but for the chains of live runs: a live run's
    parent, its parent's parent… stay (Resume and the timeline point at them)."""
    cutoff = (now or timezone.now()) - older_than
    keep: set[int] = set()
    parents = set(
        Run.objects.filter(status__in=LIVE, parent__isnull=False).values_list(
            "parent_id", flat=True
        )
    )
    while parents - keep:
        keep |= parents
        parents = set(
            Run.objects.filter(pk__in=parents, parent__isnull=False).values_list(
                "parent_id", flat=True
            )
        )
    return Run.objects.terminal().filter(created_at__lt=cutoff).exclude(pk__in=keep).order_by("id")


def prune(older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None) -> int:
    """Remove terminal runs older than `older_than`, BATCH at a time; how many (would be)."""
    runs = prunable(older_than, now)
    if dry_run:
        return runs.count()
    removed = 0
    while ids := list(runs.values_list("pk", flat=True)[:BATCH]):
        removed += Run.purge(Run.objects.filter(pk__in=ids), reason="retention")
    return removed


def prune_by_setting() -> int:
    """The worker's daily duty: prune with RUNBOARD_RETENTION_DAYS, if set."""
    days = settings.RUNBOARD["RETENTION_DAYS"]
    return prune(timedelta(days=days)) if days else 0
