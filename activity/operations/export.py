"""Export: anomalies, checks or field profiles into tables of the enrichment datastore."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django import forms

from activity.operations.base import Operation
from activity.operations.enrichment import EnrichmentOptions, destination, table_name
from activity.rules import RunType
from catalog.connectors import DATE, INTEGER, NUMBER, TEXT
from catalog.models import Anomaly, Check, FieldProfile

# The same columns whatever the source database: (name, kind), then how to read them.
ASSETS = {
    "anomalies": [
        ("anomaly_id", INTEGER),
        ("container", TEXT),
        ("field", TEXT),
        ("check_id", INTEGER),
        ("rule", TEXT),
        ("description", TEXT),
        ("status", TEXT),
        ("failed_count", INTEGER),
        ("run_id", INTEGER),
        ("created_at", DATE),
        ("examples", TEXT),
    ],
    "checks": [
        ("check_id", INTEGER),
        ("container", TEXT),
        ("field", TEXT),
        ("rule", TEXT),
        ("params", TEXT),
        ("status", TEXT),
        ("inferred", INTEGER),
        ("description", TEXT),
    ],
    "profiles": [
        ("container", TEXT),
        ("field", TEXT),
        ("type", TEXT),
        ("records", INTEGER),
        ("nulls", INTEGER),
        ("distinct_values", INTEGER),
        ("min", TEXT),
        ("max", TEXT),
        ("mean", NUMBER),
        ("min_length", INTEGER),
        ("max_length", INTEGER),
        ("profiled_at", DATE),
        ("run_id", INTEGER),
    ],
}
BATCH = 2000


class ExportOptions(EnrichmentOptions):
    assets = forms.MultipleChoiceField(
        choices=[("anomalies", "Anomalies"), ("checks", "Checks"), ("profiles", "Field profiles")],
        initial=["anomalies", "checks", "profiles"],
    )


class Export(Operation):
    type = RunType.EXPORT
    unit_label = "assets"
    options_form = ExportOptions
    counters = (("assets_exported", "Assets exported"), ("rows_exported", "Rows exported"))
    unit_columns = (("rows_exported", "Rows"),)

    def plan(self, datastore, options, target=None):
        return [(None, asset) for asset in ASSETS if asset in options["assets"]]

    def start(self, job) -> None:
        destination(job)

    def compute(self, job, unit) -> tuple[str, int]:
        datastore = job.run.datastore
        dest = destination(job)
        name = table_name(datastore.enrichment_prefix, "export", unit.name)
        columns = [(column, dest.column_type(kind)) for column, kind in ASSETS[unit.name]]
        rows = self.rows(unit.name, datastore, job.options.get("containers"))
        written = dest.replace_table(name, columns, batches(job, rows))
        job.log(f"Wrote {written:,} {unit.name} into {name}", unit=unit)
        return name, written

    def save(self, job, unit, result: tuple[str, int]) -> dict[str, int]:
        return {"assets_exported": 1, "rows_exported": result[1]}

    def rows(self, asset: str, datastore, containers: list[str] | None) -> Iterator[tuple]:
        scope = {"container__datastore": datastore}
        if containers:
            scope["container__name__in"] = containers
        if asset == "anomalies":
            anomalies = Anomaly.objects.filter(**scope).order_by("id")
            for a in anomalies.select_related("container", "quality_check__field").iterator(BATCH):
                check = a.quality_check
                yield (
                    a.pk,
                    a.container.name,
                    check.field.name if check and check.field else None,
                    a.quality_check_id,
                    check.rule if check else None,
                    a.description,
                    a.status,
                    a.failed_count,
                    a.run_number,
                    a.created_at.isoformat(),
                    json.dumps(a.examples, sort_keys=True),
                )
        elif asset == "checks":
            checks = (
                Check.objects.filter(**scope).order_by("id").select_related("container", "field")
            )
            for c in checks.iterator(BATCH):
                yield (
                    c.pk,
                    c.container.name,
                    c.field.name if c.field else None,
                    c.rule,
                    json.dumps(c.params, sort_keys=True),
                    c.status,
                    int(c.inferred),
                    c.description,
                )
        else:
            profiles = FieldProfile.objects.filter(
                **{f"field__{key}": value for key, value in scope.items()}
            ).select_related("field__container")
            for p in profiles.order_by("field__container__name", "field__position").iterator(BATCH):
                yield (
                    p.field.container.name,
                    p.field.name,
                    p.field.type,
                    p.count,
                    p.nulls,
                    p.distinct,
                    p.min,
                    p.max,
                    p.mean,
                    p.min_length,
                    p.max_length,
                    p.profiled_at.isoformat(),
                    p.run_number,
                )


def batches(job, rows: Iterator[tuple], size: int = BATCH) -> Iterator[list[tuple]]:
    """Group rows into batches, stopping between two of them when an abort was requested."""
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            job.checkpoint()
            yield batch
            batch = []
    job.checkpoint()
    if batch:
        yield batch
