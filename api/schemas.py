"""The shapes of the API, as its OpenAPI document shows them to clients (SPEC §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict


class Error(Schema):
    detail: str = Field(description="What went wrong, for a person to read.")


class Ref(Schema):
    id: int
    name: str


class Parent(Schema):
    id: int
    kind: Literal["resume", "rerun"]


class Progress(Schema):
    total_containers: int
    containers_analyzed: int
    records_processed: int
    fields_profiled: int | None = Field(None, description="Profile only.")
    checks_synchronized: int | None = Field(None, description="Profile only: checks inferred.")
    anomalies_identified: int | None = Field(None, description="Scan and External Scan only.")


class Operation(Schema):
    id: int
    type: Literal["sync", "profile", "scan", "external_scan", "export", "materialize", "promote"]
    created: datetime
    start_time: datetime | None
    end_time: datetime | None = Field(description="Null until the operation is finished.")
    result: Literal["queued", "running", "success", "failure", "aborted"]
    message: str | None = Field(
        description="Null unless the operation finished with log entries worth reading."
    )
    detail: str | None = Field(description="Why it failed.")
    triggered_by: str | None = Field(description="The user who launched it; null for the system.")
    datastore_id: int
    datastore: Ref
    target_datastore: Ref | None = Field(description="Promote only: where checks are copied.")
    schedule: Ref | None
    containers: list[Ref]
    options: dict
    parent: Parent | None
    has_logs: bool
    aborting: bool = Field(description="An abort was requested and the worker is stopping.")
    status: Progress


class RunOperation(Schema):
    """What to run. Options a type does not know are ignored; invalid ones are refused (422)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["sync", "catalog", "profile", "scan", "export", "materialize", "promote"]
    datastore_id: int
    include: list[str] | None = Field(None, description='Sync: ["table", "view"].')
    prune: bool | None = Field(None, description="Sync: mark containers gone from the source.")
    recreate: bool | None = Field(None, description="Sync: restore pruned containers found again.")
    container_names: list[str] | None = Field(
        None, description="Profile, Scan, Materialize: the containers to process; absent = all."
    )
    infer_as_draft: bool | None = Field(None, description="Profile: infer checks as drafts.")
    max_records_analyzed_per_partition: int | None = Field(
        None, description="Profile, Scan: records read per container (-1 or absent: all)."
    )
    incremental: bool | None = Field(None, description="Scan: only records above the last mark.")
    incremental_field: str | None = Field(None, description="Scan: the field that marks progress.")
    auto_resolve_passed_anomalies: bool | None = Field(
        None, description="Scan: resolve open anomalies whose checks pass again."
    )
    enrichment_source_record_limit: int | None = Field(
        None, description="Scan: example records kept per anomaly (≤ 100)."
    )
    max_records_per_partition: int | None = Field(
        None, description="Materialize: records copied per container (-1 or absent: all)."
    )
    asset_type: Literal["anomalies", "checks", "profiles"] | None = Field(
        None, description="Export: what to write."
    )
    container_ids: list[int] | None = Field(None, description="Export: the containers to cover.")
    target_datastore_id: int | None = Field(None, description="Promote: where to copy checks.")


class Datastore(Schema):
    id: int
    name: str
    enrichment_datastore: Ref | None
    created: datetime


class Container(Schema):
    id: int
    name: str
    container_type: Literal["table", "view"]
    datastore: Ref
    fields: list[str]
    row_count: int | None
    profiled_at: datetime | None
    removed: bool


class Anomaly(Schema):
    id: int
    status: str
    description: str
    failed_count: int
    datastore: Ref
    container: Ref
    check_id: int | None
    rule: str | None
    field: str | None
    operation_id: int = Field(description="The run that found it first (kept after its deletion).")
    last_seen_operation_id: int | None = Field(description="The last run that found it failing.")
    times_seen: int = Field(description="How many scans found it failing.")
    recurring: bool = Field(description="It was resolved once and failed again.")
    created: datetime
    resolved_at: datetime | None
    examples: list[dict]


class Status(Schema):
    version: str
    database: Literal["ok", "unreachable"]
    workers: list[str] = Field(description="Workers seen in the last minute.")


def page_of(item: type[Schema]) -> type[Schema]:
    """{items, total, page, size, pages} of the given item."""
    return type(
        f"{item.__name__}Page",
        (Schema,),
        {
            "__annotations__": {
                "items": list[item],
                "total": int,
                "page": int,
                "size": int,
                "pages": int,
            }
        },
    )
