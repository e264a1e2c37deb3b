from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from activity.operations import OPERATIONS
from activity.rules import RunType, authorize_launch
from catalog.models import Datastore
from schedules import cron

# What a schedule may run: everything a person launches from the page (External Scans come
# with records, which a clock does not have).
SCHEDULABLE = [(t.value, t.label) for t in RunType if t != RunType.EXTERNAL_SCAN]


class ScheduleQuerySet(models.QuerySet):
    def visible_to(self, user) -> ScheduleQuerySet:
        """The schedules of the datastores the user has a level on (SPEC §8: outsiders 404)."""
        return self.filter(datastore__in=Datastore.objects.visible_to(user))

    def due(self, now: datetime) -> ScheduleQuerySet:
        return self.filter(active=True, next_fire_at__lte=now)


class Schedule(models.Model):
    """An operation on a clock (SPEC §8). Workers fire each due time exactly once, launching an
    ordinary run with the owner's permissions as they are at that moment."""

    class Outcome(models.TextChoices):
        LAUNCHED = "launched", "Run created"
        SKIPPED = "skipped", "Skipped: its previous run was still live"
        REFUSED = "refused", "Refused"

    name = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=SCHEDULABLE)
    datastore = models.ForeignKey(Datastore, on_delete=models.CASCADE, related_name="schedules")
    target = models.ForeignKey(
        Datastore, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    options = models.JSONField(default=dict, blank=True)
    cron = models.CharField(max_length=100, help_text="5 fields, in UTC.")
    active = models.BooleanField(default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="schedules"
    )
    # Null while paused; the due query serves it from an index.
    next_fire_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True)
    last_note = models.CharField(max_length=500, blank=True)
    last_run_number = models.BigIntegerField(null=True, blank=True)
    fires = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(F("next_fire_at"), condition=Q(active=True), name="schedule_due_idx")
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("schedules:schedule-detail", args=[self.pk])

    @property
    def in_words(self) -> str:
        return cron.in_words(self.cron)

    def next_after(self, moment: datetime) -> datetime:
        return cron.next_fires(self.cron, 1, after=moment)[0]

    def configure(
        self,
        *,
        by,
        name: str,
        type: str,
        datastore,
        target,
        options: dict,
        cron_expression: str,
        active: bool,
    ) -> None:
        """Set what it runs and when, checked as a launch is (the editor permission on its
        datastores, the operation's own options form) and saved; whoever saves it owns it from
        then on, and its runs are launched with their permissions. Raises InvalidTransition
        (403) or ValidationError naming the field."""
        authorize_launch(by, datastore, target)
        errors = {}
        if not name.strip():
            errors["name"] = "A schedule needs a name."
        if type not in dict(SCHEDULABLE):
            errors["type"] = f"{type!r} cannot be scheduled."
        try:
            cron_expression = cron.validate(cron_expression)
        except cron.InvalidCron as error:
            errors["cron"] = str(error)
        if errors:
            raise ValidationError(errors)
        options = OPERATIONS[type].clean_options(datastore, options, target)
        self.name, self.type, self.datastore, self.target = (
            name.strip()[:100],
            type,
            datastore,
            target,
        )
        self.options, self.cron, self.active, self.owner = options, cron_expression, active, by
        self.plan()
        self.save()

    def switch(self, active: bool, *, by) -> None:
        """Pause (no fire) or resume (from the next due time after now); editors only."""
        authorize_launch(by, self.datastore, self.target)
        self.active = active
        self.plan()
        self.save(update_fields=["active", "next_fire_at"])

    def delete_by(self, by) -> None:
        authorize_launch(by, self.datastore, self.target)
        self.delete()

    def plan(self, now: datetime | None = None) -> None:
        """Set the next fire time from now: active, or paused (none)."""
        self.next_fire_at = self.next_after(now or timezone.now()) if self.active else None
