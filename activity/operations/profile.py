"""Profile: per-field statistics computed by SQL in the source, and the checks they suggest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils import timezone

from activity.operations.base import MAX_RECORD_LIMIT, Operation, OptionsForm, catalogued, json_safe
from activity.rules import RunType
from catalog.connectors import BOOLEAN, DATE, NUMBER, TEXT, kind_of
from catalog.models import Check, Field, FieldProfile

# What a Profile writes of each field's statistics (all of FieldProfile but the field).
PROFILED = [
    "run_number",
    "profiled_at",
    "count",
    "nulls",
    "distinct",
    "min",
    "max",
    "mean",
    "min_length",
    "max_length",
    "values",
]
# A field with at most this many distinct values gets its values listed (and an "in set" check).
FEW_VALUES = 10


class ProfileOptions(OptionsForm):
    record_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RECORD_LIMIT,
        help_text="Profile only the first N records of each table.",
    )
    infer_checks = forms.BooleanField(
        required=False, initial=True, help_text="Infer checks from the statistics."
    )
    infer_as_draft = forms.BooleanField(
        required=False, help_text="Create inferred checks as drafts instead of active."
    )


@dataclass
class Stats:
    field: Field
    kind: str
    count: int = 0
    nulls: int = 0
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    values: dict[str, int] | None = None
    raw_values: list[Any] = field(default_factory=list)


@dataclass
class Profiled:
    records: int
    stats: list[Stats]


class Profile(Operation):
    type = RunType.PROFILE
    options_form = ProfileOptions
    counters = (
        ("containers_profiled", "Profiled"),
        ("records_profiled", "Records profiled"),
        ("fields_profiled", "Fields profiled"),
        ("checks_added", "Checks added"),
        ("checks_updated", "Checks updated"),
    )
    unit_columns = (("records_profiled", "Records"), ("checks_added", "Checks"))

    def compute(self, job, unit) -> Profiled:
        container = catalogued(unit)
        fields = list(container.fields.present())
        src = job.source
        source = src.sample(container.name, job.options.get("record_limit"))
        stats = [Stats(f, kind_of(f.type)) for f in fields]
        columns = ["COUNT(*)"]
        for s in stats:
            q = src.quote(s.field.name)
            columns.append(f"COUNT({q})")
            if s.kind in (NUMBER, TEXT, DATE, BOOLEAN):
                columns.append(f"COUNT(DISTINCT {q})")
            if s.kind in (NUMBER, TEXT, DATE):
                columns += [f"MIN({q})", f"MAX({q})"]
            if s.kind == NUMBER:
                columns.append(f"AVG({q})")
            if s.kind == TEXT:
                columns += [f"MIN({src.length(q)})", f"MAX({src.length(q)})"]
        row = iter(src.query(f"SELECT {', '.join(columns)} FROM {source}")[0])
        records = next(row)
        for s in stats:
            nonnull = next(row)
            s.count, s.nulls = records, records - nonnull
            if s.kind in (NUMBER, TEXT, DATE, BOOLEAN):
                s.distinct = next(row)
            if s.kind in (NUMBER, TEXT, DATE):
                s.min, s.max = next(row), next(row)
            if s.kind == NUMBER:
                mean = next(row)
                s.mean = float(mean) if mean is not None else None
            if s.kind == TEXT:
                s.min_length, s.max_length = next(row), next(row)
        for s in stats:
            if s.distinct is not None and 0 < s.distinct <= FEW_VALUES and s.kind != DATE:
                job.checkpoint()
                q = src.quote(s.field.name)
                counted = src.query(
                    f"SELECT {q}, COUNT(*) FROM {source} WHERE {q} IS NOT NULL GROUP BY {q}"
                )
                s.raw_values = sorted((v for v, _ in counted), key=str)
                s.values = {str(json_safe(v)): n for v, n in counted}
        return Profiled(records, stats)

    def save(self, job, unit, result: Profiled) -> dict[str, int]:
        container = unit.container
        now = timezone.now()
        # One statement for all the fields' profiles, new or not.
        FieldProfile.objects.bulk_create(
            [
                FieldProfile(
                    field=s.field,
                    run_number=job.run.pk,
                    profiled_at=now,
                    count=s.count,
                    nulls=s.nulls,
                    distinct=s.distinct,
                    min=_text(s.min),
                    max=_text(s.max),
                    mean=s.mean,
                    min_length=s.min_length,
                    max_length=s.max_length,
                    values=s.values,
                )
                for s in result.stats
            ],
            update_conflicts=True,
            unique_fields=["field"],
            update_fields=PROFILED,
        )
        container.profiled_at = now
        if not job.options.get("record_limit"):
            container.row_count = result.records
        container.save(update_fields=["profiled_at", "row_count", "updated_at"])
        counters = {
            "containers_profiled": 1,
            "records_profiled": result.records,
            "fields_profiled": len(result.stats),
        }
        if job.options.get("infer_checks"):
            counters |= self.sync_inferred(job, container, result)
        return counters

    def sync_inferred(self, job, container, result: Profiled) -> dict[str, int]:
        """Create the checks the statistics suggest, update those inferred before, and archive the
        inferred ones the data no longer supports. Checks written by people are never touched.
        A statement for each of the three, whatever the number of checks."""
        existing = {(c.field_id, c.rule): c for c in container.checks.filter(inferred=True)}
        status = Check.Status.DRAFT if job.options.get("infer_as_draft") else Check.Status.ACTIVE
        now = timezone.now()
        added, updated = [], []
        for s in result.stats:
            for rule, params in infer(s):
                check = existing.pop((s.field.pk, rule), None)
                if check is None:
                    added.append(
                        Check(
                            container=container,
                            field=s.field,
                            rule=rule,
                            params=params,
                            status=status,
                            inferred=True,
                            description=f"Inferred by run #{job.run.pk}",
                        )
                    )
                elif check.params != params or check.status == Check.Status.ARCHIVED:
                    check.params, check.updated_at = params, now
                    if check.status == Check.Status.ARCHIVED:
                        check.status = status
                    updated.append(check)
        Check.objects.bulk_create(added)
        Check.objects.bulk_update(updated, ["params", "status", "updated_at"])
        stale = [c.pk for c in existing.values() if c.status != Check.Status.ARCHIVED]
        archived = Check.objects.filter(pk__in=stale).update(
            status=Check.Status.ARCHIVED, updated_at=now
        )
        return {"checks_added": len(added), "checks_updated": len(updated) + archived}

    def summary(self, run) -> str:
        c = run.counters
        return (
            f"{c.get('fields_profiled', 0):,} fields · "
            f"{c.get('checks_added', 0) + c.get('checks_updated', 0):,} checks inferred"
        )


def infer(s: Stats) -> list[tuple[str, dict]]:
    """The checks a field's statistics suggest: what held on every profiled record."""
    nonnull = s.count - s.nulls
    if s.count == 0:
        return []
    rules: list[tuple[str, dict]] = []
    if s.nulls == 0:
        rules.append((Check.Rule.NOT_NULL, {}))
    if s.kind in (NUMBER, TEXT) and nonnull > 1 and s.distinct == nonnull:
        rules.append((Check.Rule.UNIQUE, {}))
    if s.kind == NUMBER and s.min is not None:
        rules.append((Check.Rule.BETWEEN, {"min": json_safe(s.min), "max": json_safe(s.max)}))
    if (
        s.values
        and s.kind in (NUMBER, TEXT)
        and nonnull >= 2 * FEW_VALUES
        and s.distinct != nonnull
    ):
        rules.append((Check.Rule.IN_SET, {"values": [json_safe(v) for v in s.raw_values]}))
    if s.kind == DATE and s.max is not None and _is_past(s.max):
        rules.append((Check.Rule.NOT_FUTURE, {}))
    # What the data suggests may still not fit (a SQLite number column holding text): the same
    # definition as for checks people write decides.
    return [(rule, params) for rule, params in rules if not Check.unfit(rule, s.field, params)]


def _text(value: Any) -> str | None:
    return None if value is None else str(json_safe(value))


def _is_past(value: Any) -> bool:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment <= timezone.now()
    return str(json_safe(value)) <= timezone.now().strftime("%Y-%m-%d %H:%M:%S")
