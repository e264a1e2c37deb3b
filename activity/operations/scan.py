"""Scan: a container's active checks, computed in the source in one pass, and what fails.

One aggregate query reads the records once and counts, for every row-level check, the records
that fail it (`COUNT(*) FILTER (WHERE …)`, which SQLite and PostgreSQL both plan as one scan);
uniqueness and references get one set-based query each, in shapes both databases plan linearly
(a grouped subquery, an anti-join); examples are read only for the checks that failed. An
incremental scan reads its upper bound first, then every query reads exactly the records
above the last mark and up to that bound, which becomes the next mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
from catalog.models import Anomaly, Check, Field


class ScanOptions(OptionsForm):
    mode = forms.ChoiceField(
        choices=[("full", "Full"), ("incremental", "Incremental")], initial="full"
    )
    incremental_field = forms.ChoiceField(
        required=False,
        help_text="Incremental: scan the records above its last value; every container scanned "
        "must have it.",
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["incremental_field"].choices = [("", "—")] + [
            (name, name) for name in present_fields(self.datastore).distinct().order_by("name")
        ]

    def clean(self):
        data = super().clean()
        name = data.get("incremental_field")
        if (
            data.get("mode") == "incremental"
            and not name
            and "incremental_field" not in self.errors
        ):
            self.add_error("incremental_field", "An incremental scan needs an incremental field.")
        elif name and data.get("mode") == "incremental":
            containers = self.datastore.containers.present()
            if data.get("containers"):
                containers = containers.filter(name__in=data["containers"])
            lacking = containers.exclude(fields__name=name, fields__removed_at__isnull=True)
            if names := list(lacking.values_list("name", flat=True)[:4]):
                self.add_error(
                    "incremental_field",
                    f"{', '.join(names)} {'has' if len(names) == 1 else 'have'} no field {name}: "
                    "choose one every container scanned has, or fewer containers.",
                )
        return data


def present_fields(datastore):
    """The names of the fields of a datastore's present containers."""
    return Field.objects.filter(
        container__datastore=datastore, container__removed_at__isnull=True, removed_at__isnull=True
    ).values_list("name", flat=True)


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
    # When the checks were read: auto-resolve leaves anomalies seen after that moment alone.
    checked_at: datetime | None = None


@dataclass
class Scope:
    """The records a scan reads, as `FROM {relation} AS <alias> WHERE {where(alias)}`; and the
    records a uniqueness check compares them with (`everything`, `everything_where`)."""

    relation: str
    condition: str = "1=1"  # on the alias "src"
    params: list = field(default_factory=list)
    everything: str = ""
    everything_condition: str = "1=1"  # on the alias "dup"
    everything_params: list = field(default_factory=list)

    @classmethod
    def table(cls, src: Connector, name: str, limit: int | None = None) -> Scope:
        """All the table's records, or its first `limit`."""
        quoted = src.quote(name)
        relation = f"(SELECT * FROM {quoted} LIMIT {int(limit)})" if limit else quoted
        return cls(relation, everything=relation)


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
            return check_records(job, unit, src, checks, Scope.table(src, container.name, limit))
        name = job.options["incremental_field"]
        if not container.fields.present().filter(name=name).exists():
            raise Skipped(f"{unit.name} has no field {name!r} to scan incrementally")
        mark = container.incremental_mark or {}
        scope, upper = incremental_scope(src, container.name, name, mark, limit)
        if upper is None:  # nothing new since the last mark: read nothing more
            job.log(f"No records above the last mark of {name}", unit=unit)
            return Scanned(records=0, checked_at=timezone.now())
        # A row count judges the whole table, which an incremental scan does not read.
        checks = [check for check in checks if check.rule != Check.Rule.ROW_COUNT]
        result = check_records(job, unit, src, checks, scope)
        result.mark = json_safe(upper)
        return result

    def save(self, job, unit, result: Scanned) -> dict[str, int]:
        record_anomalies(job, unit, result.failures)
        if result.mark is not None:
            unit.container.incremental_mark = {
                "field": job.options["incremental_field"],
                "value": result.mark,
            }
            unit.container.save(update_fields=["incremental_mark", "updated_at"])
        unit.result = {
            "passed": result.passed,
            "checked_at": result.checked_at.isoformat() if result.checked_at else None,
        }
        return {
            "containers_scanned": 1,
            "records_scanned": result.records,
            "anomalies_identified": len(result.failures),
        }

    def finish(self, job) -> dict[str, int]:
        """Auto-resolve (SPEC §5): only a full scan that ends in success resolves anything, and
        only anomalies last seen before this run checked their container again."""
        if job.options.get("mode") != "full" or not job.options.get("auto_resolve"):
            return {}
        resolved = 0
        for unit in job.run.units.filter(status="success").only("container_id", "result"):
            checked_at = unit.result.get("checked_at")
            if unit.result.get("passed") and checked_at:
                resolved += Anomaly.objects.pass_again(
                    unit.container_id,
                    unit.result["passed"],
                    datetime.fromisoformat(checked_at),
                    run_number=job.run.pk,
                )
        if resolved:
            job.log(f"Resolved {resolved} anomalies whose checks pass again")
        return {"anomalies_resolved": resolved}

    def summary(self, run) -> str:
        found = run.counters.get("anomalies_identified", 0)
        return f"{found:,} anomal{'y' if found == 1 else 'ies'}"


def active_checks(container) -> list[Check]:
    return list(container.checks.filter(status=Check.Status.ACTIVE).select_related("field"))


def incremental_scope(
    src: Connector, table: str, name: str, mark: dict, limit: int | None
) -> tuple[Scope, object]:
    """The records above the last mark and up to an upper bound read first (so that rows
    inserted meanwhile wait for the next scan, none skipped), and that bound (None: nothing new).
    With a record limit, the bound is the limit-th new value: the next scan goes on from there."""
    quoted, f, p = src.quote(table), src.quote(name), src.placeholder
    above, params = ("", [])
    if mark.get("field") == name:
        above, params = f"{f} > {p}", [mark["value"]]
    where = f"WHERE {above}" if above else ""
    if limit:
        upper = src.scalar(
            f"SELECT MAX({f}) FROM (SELECT {f} FROM {quoted} {where} "
            f"ORDER BY {f} LIMIT {int(limit)}) AS batch",
            params,
        )
    else:
        upper = src.scalar(f"SELECT MAX({f}) FROM {quoted} {where}", params)
    if upper is None:
        return Scope(quoted), None
    condition = f"src.{f} <= {p}" + (f" AND src.{f} > {p}" if above else "")
    return (
        Scope(
            quoted,
            condition,
            [upper, *params],
            everything=quoted,
            everything_condition=f"dup.{f} <= {p}",
            everything_params=[upper],
        ),
        upper,
    )


SHARED = {
    Check.Rule.NOT_NULL,
    Check.Rule.BETWEEN,
    Check.Rule.IN_SET,
    Check.Rule.MATCHES,
    Check.Rule.NOT_FUTURE,
}


def check_records(job, unit, src: Connector, checks: list[Check], scope: Scope) -> Scanned:
    """Run the checks on the records of the unit's table within `scope`: the row-level ones in
    one aggregate pass, the others in one set-based query each, then examples of what failed.
    A check whose SQL breaks is logged and left out; the others go on."""
    checked_at = timezone.now()
    shared = [check for check in checks if check.rule in SHARED]
    records, counts = one_pass(job, unit, src, shared, scope)
    for check in checks:
        if check.rule in (Check.Rule.UNIQUE, Check.Rule.REFERENCES):
            job.checkpoint()
            counts[check.pk] = guarded(job, unit, check, lambda c=check: count_of(src, c, scope))
    result = Scanned(records, checked_at=checked_at)
    for check in checks:
        if check.rule == Check.Rule.ROW_COUNT:
            low, high = check.params.get("min"), check.params.get("max")
            if (low is None or records >= low) and (high is None or records <= high):
                result.passed.append(check.pk)
            else:
                description = f"{check}: {records:,} records, outside [{low}, {high}]"
                result.failures.append(Failure(check, records, [], description))
            continue
        count = counts.get(check.pk)
        if count is None:
            continue  # it could not run: logged
        if not count:
            result.passed.append(check.pk)
            continue
        job.checkpoint()
        examples = guarded(job, unit, check, lambda c=check: examples_of(job, src, c, scope)) or []
        result.failures.append(
            Failure(check, count, examples, f"{check}: {count:,} of {records:,} records fail")
        )
    return result


def one_pass(job, unit, src: Connector, checks: list[Check], scope: Scope):
    """The number of records and, for each check, of those that fail it: one query. If it
    breaks, each check is counted on its own to find (and log) the one that cannot run."""
    conditions = [failing(src, check, scope) for check in checks]
    columns = ["COUNT(*)"] + [f"COUNT(*) FILTER (WHERE {sql})" for sql, _ in conditions]
    params = [value for _, values in conditions for value in values] + scope.params
    sql = f"SELECT {', '.join(columns)} FROM {scope.relation} AS src WHERE {scope.condition}"
    job.checkpoint()
    try:
        row = src.query(sql, params)[0]
    except (QueryInterrupted, SourceUnavailable):
        raise
    except SourceError:
        records = src.scalar(
            f"SELECT COUNT(*) FROM {scope.relation} AS src WHERE {scope.condition}", scope.params
        )
        counts = {}
        for check in checks:
            job.checkpoint()
            count = guarded(job, unit, check, lambda c=check: count_of(src, c, scope))
            if count is not None:
                counts[check.pk] = count
        return records, counts
    return row[0], {check.pk: count for check, count in zip(checks, row[1:], strict=True)}


def guarded(job, unit, check: Check, compute):
    """compute(), or None when the check's SQL fails on this table (logged as a warning)."""
    try:
        return compute()
    except (QueryInterrupted, SourceUnavailable):
        raise
    except SourceError as error:
        job.log(f"Check {check} could not run: {error}", "warning", unit)
        return None


def count_of(src: Connector, check: Check, scope: Scope) -> int:
    sql, params = failing(src, check, scope)
    return src.scalar(
        f"SELECT COUNT(*) FROM {scope.relation} AS src WHERE {scope.condition} AND ({sql})",
        [*scope.params, *params],
    )


def examples_of(job, src: Connector, check: Check, scope: Scope) -> list[dict]:
    limit = job.options.get("max_examples", 10)
    if not limit:
        return []
    sql, params = failing(src, check, scope)
    statement = (
        f"SELECT * FROM {scope.relation} AS src WHERE {scope.condition} AND ({sql}) "
        f"LIMIT {int(limit)}"
    )
    examples: list[dict] = []
    for names, rows in src.stream(statement, [*scope.params, *params]):
        examples += [{n: json_safe(v) for n, v in zip(names, row, strict=True)} for row in rows]
    return examples


def failing(src: Connector, check: Check, scope: Scope) -> tuple[str, list]:
    """The SQL condition true for the records (alias `src`) that fail the check, and its
    parameters."""
    p = src.placeholder
    params = check.params or {}
    if check.field is None:
        raise SourceError(f"{check.get_rule_display()} needs a field")
    f = f"src.{src.quote(check.field.name)}"
    match check.rule:
        case Check.Rule.NOT_NULL:
            return f"{f} IS NULL", []
        case Check.Rule.UNIQUE:
            bare = f"dup.{src.quote(check.field.name)}"
            return (
                f"{f} IN (SELECT {bare} FROM {scope.everything} AS dup "
                f"WHERE {scope.everything_condition} GROUP BY {bare} HAVING COUNT(*) > 1)",
                list(scope.everything_params),
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
            return f"{f} IS NOT NULL AND {src.absent_from(f, other, key)}", []
    raise SourceError(f"Unknown rule {check.rule!r}")


def record_anomalies(job, unit, failures: list[Failure]) -> None:
    """Each failing check's anomaly on this container: the open one seen again, a resolved one
    reopened as recurring, or a new one (one open anomaly per check and container)."""
    for failure in failures:
        Anomaly.objects.record(
            container=unit.container,
            check=failure.check,
            run_number=job.run.pk,
            description=failure.description[:500],
            failed_count=failure.count,
            examples=failure.examples,
        )
