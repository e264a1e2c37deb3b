"""Firing schedules: every worker process calls fire_due() every RUNBOARD_SCHEDULER_TICK seconds.

Each due time fires exactly once however many workers tick: a worker claims it with a conditional
update of the schedule's next fire time, in the same transaction that launches the run, so the
losers update nothing and a crash loses neither the claim nor the run. The next fire time is the
first one after now, not after the missed one: a schedule that was down for hours fires once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from activity.models import Run
from activity.rules import LIVE, InvalidTransition
from schedules.models import Schedule

logger = logging.getLogger("runboard.schedules")

# Due schedules fired per tick, oldest due first: a backlog drains over a few ticks.
BATCH = 200


def fire_due(now: datetime | None = None) -> int:
    """Fire every schedule due at `now`; how many this worker fired."""
    now = now or timezone.now()
    due = Schedule.objects.due(now).select_related("datastore", "target").order_by("next_fire_at")
    return sum(fire(schedule, now) for schedule in due[:BATCH])


def fire(schedule: Schedule, now: datetime) -> bool:
    """Claim the schedule's due time and launch its run; False when another worker did."""
    with transaction.atomic():
        claimed = Schedule.objects.filter(
            pk=schedule.pk, active=True, next_fire_at=schedule.next_fire_at
        ).update(next_fire_at=schedule.next_after(now), last_fired_at=now, fires=F("fires") + 1)
        if not claimed:
            return False
        outcome, note, run = launch(schedule)
        Schedule.objects.filter(pk=schedule.pk).update(
            last_outcome=outcome,
            last_note=note[:500],
            last_run_number=run.pk if run else F("last_run_number"),
        )
    logger.info("schedule %s (#%s): %s", schedule.name, schedule.pk, note)
    return True


def launch(schedule: Schedule) -> tuple[str, str, Run | None]:
    """The run of this fire, as its owner launches it now; or why there is none."""
    owner = User.objects.filter(pk=schedule.owner_id, is_active=True).first()
    if owner is None:
        return Schedule.Outcome.REFUSED, "Its owner is gone or inactive: it needs a new one.", None
    if live := Run.objects.filter(schedule=schedule, status__in=LIVE).order_by("-id").first():
        return Schedule.Outcome.SKIPPED, f"Skipped: run #{live.pk} was still {live.status}.", None
    try:
        run = Run.launch(
            schedule.type,
            schedule.datastore,
            by=owner,
            options=schedule.options,
            target=schedule.target,
            trigger=Run.Trigger.SCHEDULE,
            schedule=schedule,
        )
    except InvalidTransition as refusal:
        return Schedule.Outcome.REFUSED, f"Refused: {refusal.message}", None
    except ValidationError as error:
        return (
            Schedule.Outcome.REFUSED,
            f"Refused: its options no longer hold: {' '.join(error.messages)}",
            None,
        )
    return Schedule.Outcome.LAUNCHED, f"Run #{run.pk} created.", run
