"""Promote: copy checks from a source datastore's containers to the target's same-named ones."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone

from activity.operations.base import Operation, OptionsForm, Skipped
from activity.rules import RunType
from catalog.models import Check, Container, Field

# What a copy takes from its check (and a later Promote updates).
COPIED = ["field", "rule", "params", "status", "description"]


class PromoteOptions(OptionsForm):
    def clean(self):
        data = super().clean()
        if self.target is None:
            raise ValidationError("Choose the datastore to promote checks to.")
        if self.target == self.datastore:
            raise ValidationError("The target datastore must differ from the source.")
        return data


class Promote(Operation):
    type = RunType.PROMOTE
    options_form = PromoteOptions
    counters = (
        ("checks_created", "Created"),
        ("checks_updated", "Updated"),
        ("checks_skipped", "Skipped"),
    )
    unit_columns = (("checks_created", "Created"), ("checks_updated", "Updated"))

    def start(self, job) -> None:
        pass  # Runboard's own catalog is all it reads and writes

    def compute(self, job, unit) -> tuple[Container, list[tuple[Check, Field | None]]]:
        if unit.container is None:
            raise Skipped(f"{unit.name} is no longer in the catalog")
        target = (
            Container.objects.present().filter(datastore=job.run.target, name=unit.name).first()
        )
        if target is None:
            raise Skipped(f"{job.run.target} has no container named {unit.name}")
        fields = {f.name.lower(): f for f in target.fields.present()}
        checks = unit.container.checks.filter(
            status__in=[Check.Status.ACTIVE, Check.Status.DRAFT]
        ).select_related("field")
        return target, [(c, fields.get(c.field.name.lower()) if c.field else None) for c in checks]

    def save(self, job, unit, result) -> dict[str, int]:
        target, pairs = result
        earlier = {c.promoted_from_id: c for c in target.checks.filter(promoted_from__isnull=False)}
        counts = {"checks_created": 0, "checks_updated": 0, "checks_skipped": 0}
        created, updated, now = [], [], timezone.now()
        where = f"{job.run.target}.{target.name}"
        for check, field in pairs:
            missing = check.field is not None and field is None
            # The same field may have another type there: an unfit copy is a draft, as a check
            # a person wrote so would be refused.
            unfit = {} if missing else Check.unfit(check.rule, field, check.params)
            if missing:
                job.log(
                    f"{check}: no field {check.field.name} in {where}; promoted as draft",
                    "warning",
                    unit,
                )
            elif unfit:
                reasons = " ".join(unfit.values()).rstrip(".")
                job.log(f"{check}: {reasons} in {where}; promoted as draft", "warning", unit)
            values = {
                "field": field,
                "rule": check.rule,
                "params": check.params,
                "status": Check.Status.DRAFT if missing or unfit else check.status,
                "description": check.description or f"Promoted from {job.run.datastore}",
            }
            copy = earlier.get(check.pk)
            if copy is None:
                created.append(Check(container=target, promoted_from=check, **values))
            elif any(getattr(copy, key) != value for key, value in values.items()):
                for key, value in values.items():
                    setattr(copy, key, value)
                copy.updated_at = now
                updated.append(copy)
            else:
                counts["checks_skipped"] += 1
        # A statement for the new copies and one for the changed ones, however many.
        Check.objects.bulk_create(created)
        Check.objects.bulk_update(updated, [*COPIED, "updated_at"])
        counts["checks_created"], counts["checks_updated"] = len(created), len(updated)
        return counts

    def summary(self, run) -> str:
        c = run.counters
        return (
            f"{c.get('checks_created', 0)} created · {c.get('checks_updated', 0)} updated · "
            f"{c.get('checks_skipped', 0)} skipped"
        )
