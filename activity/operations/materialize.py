"""Materialize: copy containers' records into tables of the enrichment datastore."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from django import forms

from activity.operations.base import MAX_RECORD_LIMIT, Operation, Skipped, catalogued
from activity.operations.enrichment import EnrichmentOptions, destination, table_name
from activity.rules import RunType
from catalog.connectors import BOOLEAN, NUMBER, SourceError, kind_of


class MaterializeOptions(EnrichmentOptions):
    record_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RECORD_LIMIT,
        help_text="Copy at most N records of each container.",
    )


class Materialize(Operation):
    type = RunType.MATERIALIZE
    options_form = MaterializeOptions
    counters = (("containers_materialized", "Materialized"), ("rows_written", "Rows written"))
    unit_columns = (("rows_written", "Rows"),)

    def start(self, job) -> None:
        job.source  # noqa: B018 - connect to both before the first container
        destination(job)

    def compute(self, job, unit) -> tuple[str, int]:
        container = catalogued(unit)
        fields = list(container.fields.present().order_by("position"))
        if not fields:
            raise Skipped(f"{unit.name} has no fields: run a Sync first")
        src, datastore = job.source, job.run.datastore
        dest = destination(job)
        kinds = [kind_of(f.type) for f in fields]
        columns = [(f.name, dest.column_type(kind)) for f, kind in zip(fields, kinds, strict=True)]
        sql = f"SELECT {', '.join(src.quote(f.name) for f in fields)} FROM {src.quote(unit.name)}"
        if limit := job.options.get("record_limit"):
            sql += f" LIMIT {int(limit)}"

        def batches():
            for _, rows in src.stream(sql, batch_size=5000):
                job.checkpoint()
                yield [tuple(map(convert, kinds, row)) for row in rows]
            job.checkpoint()

        name = table_name(datastore.enrichment_prefix, "mat", unit.name)
        written = dest.replace_table(name, columns, batches())
        job.log(f"Wrote {written:,} records into {name}", unit=unit)
        return name, written

    def save(self, job, unit, result: tuple[str, int]) -> dict[str, int]:
        unit.result = {"table": result[0]}
        return {"containers_materialized": 1, "rows_written": result[1]}

    def summary(self, run) -> str:
        c = run.counters
        return f"{c.get('containers_materialized', 0)} tables · {c.get('rows_written', 0):,} rows written"


def convert(kind: str, value: Any) -> Any:
    """A source value as the enrichment column of its kind takes it."""
    if value is None:
        return None
    if kind == NUMBER:
        if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
            return value
        try:
            return decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            raise SourceError(f"Value {value!r} of a numeric column is not a number") from None
    if kind == BOOLEAN:
        return bool(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)
