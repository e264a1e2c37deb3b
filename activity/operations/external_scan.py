"""External Scan: check records produced outside Runboard against a container's checks.

The records (a CSV upload, or JSON from the API) are validated as they stream in, before any run
exists, and stored with the run as compressed CSV; the worker streams them into a private
temporary SQLite database (on disk, so memory stays flat whatever the upload) with a table named
and typed like the container, where the very same SQL as a Scan runs the container's active
checks on the columns the records carry.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import chain

import ijson
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from activity.operations.base import Operation, OptionsForm, Skipped
from activity.operations.export import batches
from activity.operations.scan import (
    Scanned,
    Scope,
    active_checks,
    check_records,
    record_anomalies,
)
from activity.rules import RunType
from catalog.connectors import BOOLEAN, DATE, NUMBER, connect, kind_of
from catalog.connectors.sqlite import SCRATCH
from catalog.models import Check, Container

NOT_A_TYPE = re.compile(r"[^\w ]")


class TooLarge(ValidationError):
    """The records are over the size limit (an API answers 413)."""


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"The records are larger than the limit of {limit / 2**20:.0f} MB.")


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
        upload = job.run.upload
        scratch = connect(SCRATCH)
        job.hold("scratch", scratch)
        fields = list(container.fields.present().order_by("position"))
        q = scratch.quote
        # Declared types give the columns the source's affinity: "12.5" compares as a number.
        definition = ", ".join(f"{q(f.name)} {NOT_A_TYPE.sub(' ', f.type)}" for f in fields)
        scratch.execute(f"CREATE TABLE {q(container.name)} ({definition})")
        insert = (
            f"INSERT INTO {q(container.name)} ({', '.join(map(q, upload.columns))}) "
            f"VALUES ({', '.join('?' * len(upload.columns))})"
        )
        for batch in batches(job, stored_rows(upload.data)):
            with scratch.transaction():
                scratch.executemany(insert, batch)
        # A column the records leave out is not theirs to fail: its checks are not evaluated.
        checks, left_out = [], set()
        for check in active_checks(container):
            if check.field is None or check.field.name in upload.columns:
                checks.append(check)
            else:
                left_out.add(check.field.name)
        if left_out:
            job.log(
                f"Not evaluated: the checks on {', '.join(sorted(left_out))}, "
                "which the records leave out",
                unit=unit,
            )
        self.load_references(job, scratch, container, checks)
        return check_records(job, unit, scratch, checks, Scope.table(scratch, container.name))

    def load_references(self, job, memory, container: Container, checks: list[Check]) -> None:
        """Copy from the source the referenced keys that the records use, so that References
        checks run on the records as they would on the table."""
        q = memory.quote
        for check in checks:
            if check.rule != Check.Rule.REFERENCES:
                continue
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


@dataclass
class Records:
    """Records received for an External Scan, validated: their columns, how many there are, and
    the records themselves as gzip-compressed CSV (read back a row at a time by stored_rows)."""

    columns: list[str]
    count: int
    data: bytes


def read_csv(container: Container, upload) -> Records:
    """The records of an uploaded CSV file, validated as they stream (memory stays flat
    whatever the file's size), or ValidationError saying what is wrong and where."""
    limit = settings.RUNBOARD["UPLOAD_MAX_BYTES"]
    if not upload.size:
        raise ValidationError("The file is empty.")
    if upload.size > limit:
        raise too_large(limit)
    upload.seek(0)
    text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise ValidationError(
                "The file has no header row: its first line must name the columns."
            )
        return validated(container, header, (row for row in reader if row), reader)
    except UnicodeDecodeError:
        raise ValidationError(
            f"The file is not UTF-8 text: line {reader.line_num + 1} holds bytes that cannot be "
            "read. Save it as CSV UTF-8 and upload it again."
        ) from None
    except csv.Error as error:
        raise ValidationError(
            f"The file is not valid CSV (line {reader.line_num}): {error}."
        ) from None
    finally:
        text.detach()  # leave the upload open: Django closes it


def read_objects(container: Container, stream, *, limit: int) -> Records:
    """The records of a JSON list of objects (the API), read as they stream and validated exactly
    like a CSV file's. The columns are the keys of the first record, in the container's order;
    a later record may leave one out (NULL) but not bring another."""
    records = ijson.items(Capped(stream, limit), "item", use_float=True)
    try:
        first = next(records, None)
        if not isinstance(first, dict) or not first:
            raise ValidationError("Send the records as a JSON list of objects (not empty).")
        order = {name: i for i, name in enumerate(present_fields(container))}
        header = sorted(first, key=lambda key: (order.get(key, len(order)), key))
        return validated(
            container, header, rows_of(header, chain([first], records)), None, "Record"
        )
    except ijson.JSONError as error:
        raise ValidationError(f"The body is not valid JSON: {error}.") from None


def rows_of(header: list[str], records) -> Iterator[list[str]]:
    known = set(header)
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ValidationError(f"Record {number} is not an object.")
        if extra := sorted(set(record) - known):
            raise ValidationError(
                f"Record {number} has {', '.join(extra)}, which the first record has not: "
                "give every record the keys of the first."
            )
        for key, value in record.items():
            if value is not None and not isinstance(value, str | int | float | bool):
                raise ValidationError(
                    f"Record {number}, {key}: expected a string, number, boolean or null."
                )
        yield [as_text(record.get(key)) for key in header]


class Capped:
    """A request body read at most `limit` bytes far: the records are refused beyond."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.read_so_far = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson asks for nothing first, to learn bytes from text
            return b""
        chunk = self.stream.read(size if size > 0 else 2**16)
        self.read_so_far += len(chunk)
        if self.read_so_far > self.limit:
            raise too_large(self.limit)
        return chunk


def present_fields(container: Container) -> dict[str, str]:
    return dict(container.fields.present().order_by("position").values_list("name", "type"))


def validated(container, header: list[str], rows: Iterable[list], reader, what: str = "Line"):
    """Check the header and every value against the container's columns, writing the records
    compressed as they go; a record beyond the limit, a value of the wrong type, a NUL
    character or a short line is refused with where it is."""
    fields = present_fields(container)
    if unknown := [name for name in header if name not in fields]:
        raise ValidationError(
            f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(str, unknown))}: "
            f"{container.name} has {', '.join(fields)}."
        )
    if len(set(header)) != len(header):
        twice = sorted({name for name in header if header.count(name) > 1})
        raise ValidationError(f"Column {', '.join(twice)} appears more than once in the header.")
    kinds = [kind_of(fields[name]) for name in header]
    most = settings.RUNBOARD["UPLOAD_MAX_RECORDS"]
    buffer = io.BytesIO()
    count = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=5, mtime=0) as packed:
        out = io.TextIOWrapper(packed, encoding="utf-8", newline="")
        writer = csv.writer(out)
        for count, row in enumerate(rows, start=1):
            where = f"Line {reader.line_num}" if reader else f"{what} {count}"
            if count > most:
                raise ValidationError(f"The records are more than the limit of {most:,}.")
            if len(row) != len(header):
                raise ValidationError(
                    f"{where} has {len(row)} values, but the header has {len(header)} columns."
                )
            for name, kind, value in zip(header, kinds, row, strict=True):
                if refusal := invalid(kind, value):
                    raise ValidationError(f"{where}, column {name}: {refusal}")
            writer.writerow(row)
        out.flush()
        out.detach()
    if not count:
        raise ValidationError("The file has a header but no records.")
    return Records(columns=header, count=count, data=buffer.getvalue())


def invalid(kind: str, value: str) -> str | None:
    """Why the text cannot be a value of a column of this kind, or None ("" is NULL)."""
    if "\x00" in value:
        return "it contains a NUL character."
    if value == "":
        return None
    shown = value if len(value) <= 30 else value[:30] + "…"
    if kind == NUMBER:
        try:
            float(value)
        except ValueError:
            return f"{shown!r} is not a number."
    elif kind == BOOLEAN and value.strip().lower() not in BOOLEANS:
        return f"{shown!r} is not a boolean (true/false, 1/0, yes/no)."
    elif kind == DATE and not is_iso_moment(value.strip()):
        return f"{shown!r} is not an ISO date or time (such as 2025-01-31 or 2025-01-31 08:30:00)."
    return None


BOOLEANS = {"true", "false", "t", "f", "1", "0", "yes", "no"}


def is_iso_moment(text: str) -> bool:
    for kind in (date, datetime, time):
        try:
            kind.fromisoformat(text)
        except ValueError:
            continue
        return True
    return False


def as_text(value) -> str:
    """A JSON value as the CSV holds it: null is an empty value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stored_rows(data: bytes) -> Iterator[tuple]:
    """The stored records back, a row at a time; an empty value is NULL."""
    with gzip.open(io.BytesIO(data), "rt", encoding="utf-8", newline="") as text:
        for row in csv.reader(text):
            yield tuple(value if value != "" else None for value in row)
