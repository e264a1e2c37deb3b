"""External Scan: check records produced outside Runboard against a container's checks.

The records (a CSV upload, or JSON from the API) are validated before any run exists, stored with
the run, then loaded by the worker into a private in-memory SQLite table named and typed like the
container, where the very same SQL as a Scan runs the container's active checks.
"""

from __future__ import annotations

import csv
import io
import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from activity.models import Run, RunUpload
from activity.operations.base import Operation, OptionsForm, Skipped
from activity.operations.export import batches
from activity.operations.scan import Scanned, check_records, record_anomalies
from activity.rules import RunType
from catalog.connectors import connect
from catalog.connectors.sqlite import MEMORY
from catalog.models import Check, Container

NOT_A_TYPE = re.compile(r"[^\w ]")


class ExternalScanOptions(OptionsForm):
    containers = None
    container = forms.CharField(max_length=255)
    filename = forms.CharField(max_length=255, required=False)
    max_examples = forms.IntegerField(initial=10, min_value=0, max_value=100)

    def clean_container(self) -> str:
        name = self.cleaned_data["container"]
        if not self.datastore.containers.present().filter(name=name).exists():
            raise ValidationError(f"{self.datastore} has no container named {name}.")
        return name


class ExternalScan(Operation):
    type = RunType.EXTERNAL_SCAN
    unit_label = "table"
    options_form = ExternalScanOptions
    counters = (("records_checked", "Records checked"), ("anomalies_identified", "Anomalies"))
    unit_columns = counters

    def plan(self, datastore, options, target=None):
        container = datastore.containers.get(name=options["container"])
        return [(container, container.name)]

    def start(self, job) -> None:
        pass  # the records come with the run; the source is read only for references

    def compute(self, job, unit) -> Scanned:
        container = unit.container
        if container is None:
            raise Skipped(f"{unit.name} is no longer in the catalog")
        upload = RunUpload.objects.get(run_id=job.run.pk)
        memory = connect(MEMORY)
        job.hold("memory", memory)
        fields = list(container.fields.present().order_by("position"))
        q = memory.quote
        # Declared types give the columns the source's affinity: "12.5" compares as a number.
        definition = ", ".join(f"{q(f.name)} {NOT_A_TYPE.sub(' ', f.type)}" for f in fields)
        memory.execute(f"CREATE TABLE {q(container.name)} ({definition})")
        insert = (
            f"INSERT INTO {q(container.name)} ({', '.join(map(q, upload.columns))}) "
            f"VALUES ({', '.join('?' * len(upload.columns))})"
        )
        for batch in batches(job, iter(map(tuple, upload.rows))):
            memory.executemany(insert, batch)
        self.load_references(job, memory, container)
        return check_records(job, unit, memory)

    def load_references(self, job, memory, container: Container) -> None:
        """Copy from the source the referenced keys that the records use, so that References
        checks run on the records as they would on the table."""
        checks = container.checks.filter(status=Check.Status.ACTIVE, rule=Check.Rule.REFERENCES)
        q = memory.quote
        for check in checks.select_related("field"):
            other, key = check.params.get("container", ""), check.params.get("field", "")
            if other == container.name or not check.field:
                continue
            values = [
                row[0]
                for row in memory.query(
                    f"SELECT DISTINCT {q(check.field.name)} FROM {q(container.name)} "
                    f"WHERE {q(check.field.name)} IS NOT NULL"
                )
            ]
            src = job.source
            found: list = []
            for start in range(0, len(values), 500):
                job.checkpoint()
                chunk = values[start : start + 500]
                found += src.query(
                    f"SELECT {src.quote(key)} FROM {src.quote(other)} "
                    f"WHERE {src.quote(key)} IN ({', '.join([src.placeholder] * len(chunk))})",
                    chunk,
                )
            memory.execute(f"CREATE TABLE IF NOT EXISTS {q(other)} ({q(key)})")
            memory.executemany(f"INSERT INTO {q(other)} VALUES (?)", found)

    def save(self, job, unit, result: Scanned) -> dict[str, int]:
        record_anomalies(job, unit, result.failures)
        return {"records_checked": result.records, "anomalies_identified": len(result.failures)}

    def summary(self, run) -> str:
        c = run.counters
        return f"{c.get('records_checked', 0):,} records · {c.get('anomalies_identified', 0)} anomalies"


def receive(
    container: Container, columns: list[str], rows: list[list], *, by, filename: str = ""
) -> Run:
    """Create the External Scan run of these records; they were validated by read_csv()."""
    with transaction.atomic():
        run = Run.launch(
            RunType.EXTERNAL_SCAN,
            container.datastore,
            by=by,
            options={"container": container.name, "filename": filename},
        )
        RunUpload.objects.create(run=run, filename=filename, columns=columns, rows=rows)
    return run


def read_csv(container: Container, upload, filename: str = "") -> tuple[list[str], list[list]]:
    """The header and records of an uploaded CSV file, or ValidationError saying what is wrong."""
    limit = settings.RUNBOARD["UPLOAD_MAX_BYTES"]
    data = upload.read(limit + 1)
    if not data:
        raise ValidationError("The file is empty.")
    if len(data) > limit:
        raise ValidationError(f"The file is larger than the limit of {limit / 2**20:.0f} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError(
            f"The file is not UTF-8 text: byte 0x{data[error.start]:02x} at position "
            f"{error.start} cannot be read. Save it as CSV UTF-8 and upload it again."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise ValidationError(
                "The file has no header row: its first line must name the columns."
            )
        known = list(container.fields.present().order_by("position").values_list("name", flat=True))
        if unknown := [name for name in header if name not in known]:
            raise ValidationError(
                f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                f"{container.name} has {', '.join(known)}."
            )
        if len(set(header)) != len(header):
            twice = sorted({name for name in header if header.count(name) > 1})
            raise ValidationError(
                f"Column {', '.join(twice)} appears more than once in the header."
            )
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise ValidationError(
                    f"Line {reader.line_num} has {len(row)} values, but the header has "
                    f"{len(header)} columns."
                )
            rows.append([value if value != "" else None for value in row])
    except csv.Error as error:
        raise ValidationError(
            f"The file is not valid CSV (line {reader.line_num}): {error}."
        ) from None
    if not rows:
        raise ValidationError("The file has a header but no records.")
    return header, rows
