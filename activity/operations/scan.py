"""Scan: run a container's active checks as SQL in the source and record what fails."""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.utils import timezone

from activity.operations.base import (
    MAX_RECORD_LIMIT,
    Operation,
    OptionsForm,
    Skipped,
    catalogued,
    json_safe,
)
from activity.rules import RunType
from catalog.connectors import Connector, QueryInterrupted, SourceError, SourceUnavailable
from catalog.models import Anomaly, Check


class ScanOptions(OptionsForm):
    mode = forms.ChoiceField(
        choices=[("full", "Full"), ("incremental", "Incremental")], initial="full"
    )
    incremental_field = forms.CharField(
        required=False, max_length=255, help_text="Incremental: scan records above its last value."
    )
    max_examples = forms.IntegerField(initial=10, min_value=0, max_value=100)
    record_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RECORD_LIMIT,
        help_text="Scan only the first N records of each table.",
    )
    auto_resolve = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Resolve open anomalies of checks that pass again (full scans).",
    )

    def clean(self):
        data = super().clean()
        if data.get("mode") == "incremental" and not data.get("incremental_field"):
            self.add_error("incremental_field", "An incremental scan needs an incremental field.")
        return data


@dataclass
class Failure:
    check: Check
    count: int
    examples: list[dict]
    description: str


@dataclass
class Scanned:
    records: int
    failures: list[Failure] = field(default_factory=list)
    passed: list[int] = field(default_factory=list)
    mark: object = None


class Scan(Operation):
    type = RunType.SCAN
    options_form = ScanOptions
    counters = (
        ("containers_scanned", "Scanned"),
        ("records_scanned", "Records scanned"),
        ("anomalies_identified", "Anomalies"),
        ("anomalies_resolved", "Resolved"),
    )
    unit_columns = (("records_scanned", "Records"), ("anomalies_identified", "Anomalies"))

    def compute(self, job, unit) -> Scanned:
        container = catalogued(unit)
        src: Connector = job.source
        checks = active_checks(container)
        limit = job.options.get("record_limit")
        if job.options.get("mode") != "incremental":
            return check_records(job, unit, src, checks, limit=limit)
        name = job.options["incremental_field"]
        if not container.fields.present().filter(name=name).exists():
            raise Skipped(f"{unit.name} has no field {name!r} to scan incrementally")
        scope, params = "1=1", []
        mark = container.incremental_mark or {}
        if mark.get("field") == name:
            scope, params = f"src.{src.quote(name)} > {src.placeholder}", [mark["value"]]
        result = check_records(job, unit, src, checks, scope, params, limit=limit)
        table, q = relation(src, container.name, limit), src.quote(name)
        last = src.scalar(f"SELECT MAX(src.{q}) FROM {table} AS src WHERE {scope}", params)
        result.mark = json_safe(last)
        return result

    def save(self, job, unit, result: Scanned) -> dict[str, int]:
        record_anomalies(job, unit, result.failures)
        if result.mark is not None:
            unit.container.incremental_mark = {
                "field": job.options["incremental_field"],
                "value": result.mark,
            }
            unit.container.save(update_fields=["incremental_mark", "updated_at"])
        unit.result = {"passed": result.passed}
        return {
            "containers_scanned": 1,
            "records_scanned": result.records,
            "anomalies_identified": len(result.failures),
        }

    def finish(self, job) -> dict[str, int]:
        """Auto-resolve (SPEC §5): only a full scan that ends in success resolves anything."""
        if job.options.get("mode") != "full" or not job.options.get("auto_resolve"):
            return {}
        passed = [
            pk
            for result in job.run.units.filter(status="success").values_list("result", flat=True)
            for pk in result.get("passed", [])
        ]
        resolved = (
            Anomaly.objects.open()
            .filter(quality_check_id__in=passed)
            .update(
                status=Anomaly.Status.RESOLVED,
                resolved_at=timezone.now(),
                resolved_by_run_number=job.run.pk,
            )
        )
        if resolved:
            job.log(f"Resolved {resolved} anomalies whose checks pass again")
        return {"anomalies_resolved": resolved}

    def summary(self, run) -> str:
        found = run.counters.get("anomalies_identified", 0)
        return f"{found:,} anomal{'y' if found == 1 else 'ies'}"


def active_checks(container) -> list[Check]:
    return list(container.checks.filter(status=Check.Status.ACTIVE).select_related("field"))


def relation(src: Connector, table: str, limit: int | None) -> str:
    """The table, or its first `limit` records, as something to select FROM."""
    quoted = src.quote(table)
    return f"(SELECT * FROM {quoted} LIMIT {int(limit)})" if limit else quoted


def check_records(
    job,
    unit,
    src: Connector,
    checks: list[Check],
    scope: str = "1=1",
    params=(),
    limit: int | None = None,
) -> Scanned:
    """Run the checks as SQL on `src`, over the records of the unit's table within `scope`
    (its first `limit` records when given)."""
    table = relation(src, unit.container.name, limit)
    records = src.scalar(f"SELECT COUNT(*) FROM {table} AS src WHERE {scope}", params)
    result = Scanned(records)
    for check in checks:
        job.checkpoint()
        try:
            failure = run_check(job, src, table, check, scope, params, records)
        except (QueryInterrupted, SourceUnavailable):
            raise
        except SourceError as error:
            job.log(f"Check {check} could not run: {error}", "warning", unit)
            continue
        if failure:
            result.failures.append(failure)
        else:
            result.passed.append(check.pk)
    return result


def run_check(job, src: Connector, table, check, scope, params, records) -> Failure | None:
    if check.rule == Check.Rule.ROW_COUNT:
        low, high = check.params.get("min"), check.params.get("max")
        if (low is None or records >= low) and (high is None or records <= high):
            return None
        return Failure(check, records, [], f"{check}: {records:,} records, outside [{low}, {high}]")
    condition, condition_params = failing(src, table, check)
    where = f"WHERE {scope} AND ({condition})"
    all_params = [*params, *condition_params]
    count = src.scalar(f"SELECT COUNT(*) FROM {table} AS src {where}", all_params)
    if not count:
        return None
    examples: list[dict] = []
    if limit := job.options.get("max_examples", 10):
        sql = f"SELECT * FROM {table} AS src {where} LIMIT {int(limit)}"
        for names, rows in src.stream(sql, all_params):
            examples += [{n: json_safe(v) for n, v in zip(names, row, strict=True)} for row in rows]
    return Failure(check, count, examples, f"{check}: {count:,} of {records:,} records fail")


def record_anomalies(job, unit, failures: list[Failure]) -> None:
    Anomaly.objects.bulk_create(
        Anomaly(
            container=unit.container,
            quality_check=f.check,
            run_id=job.run.pk,
            run_number=job.run.pk,
            description=f.description[:500],
            failed_count=f.count,
            examples=f.examples,
        )
        for f in failures
    )


def failing(src: Connector, table: str, check: Check) -> tuple[str, list]:
    """The SQL condition true for the records that fail the check, with its parameters."""
    p = src.placeholder
    params = check.params or {}
    if check.field is None:
        raise SourceError(f"{check.get_rule_display()} needs a field")
    f = f"src.{src.quote(check.field.name)}"
    match check.rule:
        case Check.Rule.NOT_NULL:
            return f"{f} IS NULL", []
        case Check.Rule.UNIQUE:
            bare = src.quote(check.field.name)
            return (
                f"{f} IN (SELECT {bare} FROM {table} AS dup GROUP BY {bare} HAVING COUNT(*) > 1)",
                [],
            )
        case Check.Rule.BETWEEN:
            parts, values = [], []
            if params.get("min") is not None:
                parts.append(f"{f} < {p}")
                values.append(params["min"])
            if params.get("max") is not None:
                parts.append(f"{f} > {p}")
                values.append(params["max"])
            return " OR ".join(parts) or "1=0", values
        case Check.Rule.IN_SET:
            values = list(params.get("values", []))
            if not values:
                return f"{f} IS NOT NULL", []
            return f"{f} IS NOT NULL AND {f} NOT IN ({', '.join([p] * len(values))})", values
        case Check.Rule.MATCHES:
            return f"{f} IS NOT NULL AND NOT ({src.matches(f)})", [params.get("pattern", "")]
        case Check.Rule.NOT_FUTURE:
            return f"{f} > {src.now()}", []
        case Check.Rule.REFERENCES:
            other = src.quote(params.get("container", ""))
            key = src.quote(params.get("field", ""))
            return (
                f"{f} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {other} AS ref WHERE ref.{key} = {f})",
                [],
            )
    raise SourceError(f"Unknown rule {check.rule!r}")
