"""Operations (runs): launch, read, list, abort, resume, rerun, delete — each through the same
launch code, rules and one action entry point (Run.perform) as the pages."""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from activity import bulk
from activity.models import Run, RunContainer
from activity.rules import TERMINAL, Action, InvalidTransition, RunType
from api.paging import PageQuery, paginate
from api.schemas import Error, Operation, RunOperation, page_of
from catalog.models import Datastore

router = Router(tags=["operations"])

REFUSALS = {403: Error, 404: Error, 409: Error, 422: Error}
RECORDS = (
    "records_profiled",
    "records_scanned",
    "records_checked",
    "rows_written",
    "rows_exported",
)


def operation(run: Run) -> dict:
    """A run as the API shows it (SPEC §7). `run` comes from `operations_of()`."""
    counters = run.counters
    progress = {
        "total_containers": run.containers_total,
        "containers_analyzed": run.containers_done,
        "records_processed": sum(counters.get(key, 0) for key in RECORDS),
    }
    if run.type == RunType.PROFILE:
        progress["fields_profiled"] = counters.get("fields_profiled", 0)
        progress["checks_synchronized"] = counters.get("checks_added", 0) + counters.get(
            "checks_updated", 0
        )
    if run.type in (RunType.SCAN, RunType.EXTERNAL_SCAN):
        progress["anomalies_identified"] = counters.get("anomalies_identified", 0)
    finished = run.status in TERMINAL
    return {
        "id": run.pk,
        "type": run.type,
        "created": run.created_at,
        "start_time": run.started_at,
        "end_time": (run.finished_at or run.created_at) if finished else None,
        "result": run.status,
        "message": (run.message or "Finished with warnings or errors in its log.")
        if finished and run.has_logs
        else None,
        "detail": run.detail or None,
        "triggered_by": run.triggered_by.username if run.triggered_by else None,
        "datastore_id": run.datastore_id,
        "datastore": {"id": run.datastore_id, "name": run.datastore.name},
        "target_datastore": {"id": run.target_id, "name": run.target.name} if run.target else None,
        "schedule": {"id": run.schedule_id, "name": run.trigger_label} if run.schedule_id else None,
        "containers": run.container_refs,
        "options": run.options,
        "parent": {"id": run.parent_id, "kind": run.link} if run.parent_id else None,
        "has_logs": run.has_logs,
        "aborting": run.is_aborting,
        "status": progress,
    }


def operations_of(user):
    """The runs a user may see, with what `operation()` reads but their containers."""
    return Run.objects.visible_to(user).select_related("datastore", "target", "triggered_by")


def with_containers(runs) -> list[Run]:
    """The runs, each with its containers as {id, name}: one query for all, read as plain
    values (a run of 1,000 containers would otherwise build 1,000 objects)."""
    runs = list(runs)
    refs: dict[int, list] = {run.pk: [] for run in runs}
    units = RunContainer.objects.filter(run_id__in=refs, container__isnull=False)
    for run_id, container_id, name in units.order_by("run_id", "position").values_list(
        "run_id", "container_id", "name"
    ):
        refs[run_id].append({"id": container_id, "name": name})
    for run in runs:
        run.container_refs = refs[run.pk]
    return runs


def visible(request, pk: int) -> Run:
    found = with_containers(operations_of(request.user).filter(pk=pk))
    if not found:
        raise Http404(f"No operation {pk} that you can see.")
    return found[0]


# Launching -------------------------------------------------------------------------------------

SYNC_INCLUDE = {"table": "tables", "tables": "tables", "view": "views", "views": "views"}


def options_of(kind: str, body: RunOperation, datastore: Datastore) -> tuple[dict, dict]:
    """The run's options from the API's names, and which API field each option came from (to
    name it when the option is refused)."""
    given = body.model_dump(exclude_unset=True)
    options, names = {}, {}

    def take(field: str, option: str, convert=lambda value: value) -> None:
        if given.get(field) is not None:
            options[option], names[option] = convert(given[field]), field

    def limit(value: int) -> int | None:
        return None if value == -1 else value  # -1 means "all records", as in Qualytics

    match kind:
        case RunType.SYNC:
            take("include", "include", lambda kinds: [SYNC_INCLUDE.get(k, k) for k in kinds])
            take("prune", "prune")
            take("recreate", "recreate")
        case RunType.PROFILE:
            take("container_names", "containers")
            take("infer_as_draft", "infer_as_draft")
            take("max_records_analyzed_per_partition", "record_limit", limit)
        case RunType.SCAN:
            take("container_names", "containers")
            take("incremental", "mode", lambda on: "incremental" if on else "full")
            take("incremental_field", "incremental_field")
            take("auto_resolve_passed_anomalies", "auto_resolve")
            take("enrichment_source_record_limit", "max_examples")
            take("max_records_analyzed_per_partition", "record_limit", limit)
        case RunType.EXPORT:
            take("asset_type", "assets", lambda asset: [asset])
            take("container_ids", "containers", lambda ids: container_names(datastore, ids))
        case RunType.MATERIALIZE:
            take("container_names", "containers")
            take("max_records_per_partition", "record_limit", limit)
    # What a type refuses as a whole is about the datastores it needs.
    names[NON_FIELD_ERRORS] = "target_datastore_id" if kind == RunType.PROMOTE else "datastore_id"
    return {k: v for k, v in options.items() if v is not None}, names


def container_names(datastore: Datastore, ids: list[int]) -> list[str]:
    names = dict(datastore.containers.present().filter(pk__in=ids).values_list("pk", "name"))
    if missing := [pk for pk in ids if pk not in names]:
        raise HttpError(422, f"container_ids: {datastore} has no container {missing[0]}.")
    return [names[pk] for pk in ids]


def datastore_seen(request, pk: int | None, field: str) -> Datastore | None:
    if pk is None:
        return None
    datastore = Datastore.objects.visible_to(request.user).filter(pk=pk).first()
    if datastore is None:
        raise Http404(f"{field}: no datastore {pk} that you can see.")
    return datastore


def refusal(error: ValidationError, names: dict[str, str]) -> HttpError:
    """422 naming the API field behind each refused option."""
    if hasattr(error, "error_dict"):
        problems = [
            f"{names.get(option, option)}: {' '.join(messages)}"
            for option, messages in error.message_dict.items()
        ]
        return HttpError(422, "; ".join(problems))
    return HttpError(422, " ".join(error.messages))


@router.post("/run", response={200: Operation, **REFUSALS}, summary="Launch an operation")
def run(request, body: RunOperation):
    kind = RunType.SYNC if body.type == "catalog" else RunType(body.type)
    datastore = datastore_seen(request, body.datastore_id, "datastore_id")
    target = datastore_seen(request, body.target_datastore_id, "target_datastore_id")
    options, names = options_of(kind, body, datastore)
    try:
        launched = Run.launch(
            kind,
            datastore,
            by=request.user,
            options=options,
            target=target,
            trigger=Run.Trigger.API,
        )
    except InvalidTransition as error:
        raise HttpError(403, error.message) from None
    except ValidationError as error:
        raise refusal(error, names) from None
    return operation(visible(request, launched.pk))


# Reading ---------------------------------------------------------------------------------------


@router.get("/{int:operation_id}", response={200: Operation, 404: Error}, summary="One operation")
def get_operation(request, operation_id: int):
    return operation(visible(request, operation_id))


Kind = Literal[
    "sync", "catalog", "profile", "scan", "external_scan", "export", "materialize", "promote"
]
Result = Literal["queued", "running", "success", "failure", "aborted"]


class OperationFilters(Schema):
    datastore: list[int] | None = Field(None, description="Repeatable.")
    container: int | None = Field(None, description="Operations that processed this container.")
    operation_type: Kind | None = None
    result: list[Result] | None = Field(None, description="Repeatable.")
    finished: bool | None = None
    start_date: str | None = Field(None, description="Created on or after (ISO date or time).")
    end_date: str | None = Field(None, description="Created on or before (ISO date or time).")
    has_logs: bool | None = None
    schedule_id: int | None = Field(None, description="Operations a schedule launched.")
    sort_created: str = Field("desc", pattern="^(asc|desc)$")


def moment(text: str | None, field: str, *, end: bool = False) -> datetime | None:
    """An ISO date or date and time; a bare date's end is the end of that day."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise HttpError(
            422, f"{field}: expected an ISO date or date and time, not {text[:40]!r}."
        ) from None
    if len(text) <= 10:  # a bare date
        value = datetime.combine(value.date(), time.max if end else time.min)
    return value if value.tzinfo else timezone.make_aware(value, timezone.get_current_timezone())


def filtered(request, filters: OperationFilters):
    runs = Run.objects.visible_to(request.user)
    if filters.datastore:
        runs = runs.filter(datastore_id__in=filters.datastore)
    if filters.container:
        ran = RunContainer.objects.filter(run=OuterRef("pk"), container_id=filters.container)
        runs = runs.filter(Exists(ran))
    if filters.operation_type:
        runs = runs.filter(
            type="sync" if filters.operation_type == "catalog" else filters.operation_type
        )
    if filters.result:
        runs = runs.filter(status__in=filters.result)
    if filters.finished is not None:
        runs = runs.terminal() if filters.finished else runs.live()
    if start := moment(filters.start_date, "start_date"):
        runs = runs.filter(created_at__gte=start)
    if end := moment(filters.end_date, "end_date", end=True):
        runs = runs.filter(created_at__lte=end)
    if filters.has_logs is not None:
        runs = runs.filter(has_logs=filters.has_logs)
    if filters.schedule_id is not None:
        runs = runs.filter(schedule_id=filters.schedule_id)
    return runs.order_by("id" if filters.sort_created == "asc" else "-id")


@router.get("", response={200: page_of(Operation), 422: Error}, summary="List operations")
def list_operations(request, filters: Query[OperationFilters], paging: Query[PageQuery]):
    runs = filtered(request, filters)
    seen = "all" if request.user.is_admin else sorted(request.user.datastore_levels)
    order = "id" if filters.sort_created == "asc" else "-id"

    def fetch(ids: list[int]):
        return with_containers(operations_of(request.user).filter(pk__in=ids).order_by(order))

    return paginate(
        runs,
        paging,
        key=f"operations|{seen}|{filters.model_dump_json()}",
        fetch=fetch,
        shape=operation,
    )


# Acting ------------------------------------------------------------------------------------------


def act(request, operation_id: int, action: Action) -> Run | None:
    """Take the action through the one entry point; 403/409 as the pages answer them."""
    run = visible(request, operation_id)
    try:
        return run.perform(action, by=request.user, trigger=Run.Trigger.API)
    except InvalidTransition as error:
        raise HttpError(403 if error.forbidden else 409, error.message) from None
    except ValidationError as error:  # a Rerun whose options no longer hold
        raise HttpError(409, " ".join(error.messages)) from None


@router.put(
    "/abort/{int:operation_id}",
    response={200: Operation, 403: Error, 404: Error},
    summary="Abort an operation (best effort)",
)
def abort(request, operation_id: int):
    """A queued operation is aborted at once, a running one stops at its next container. One that
    finished, or is already aborting, is answered as it is: clients treat abort as best effort."""
    try:
        act(request, operation_id, Action.ABORT)
    except HttpError as error:
        if error.status_code != 409:
            raise
    return operation(visible(request, operation_id))


@router.put("/resume/{int:operation_id}", response={200: Operation, **REFUSALS}, summary="Resume")
def resume(request, operation_id: int):
    return operation(visible(request, act(request, operation_id, Action.RESUME).pk))


@router.put("/rerun/{int:operation_id}", response={200: Operation, **REFUSALS}, summary="Rerun")
def rerun(request, operation_id: int):
    return operation(visible(request, act(request, operation_id, Action.RERUN).pk))


@router.delete(
    "/{int:operation_id}",
    response={204: None, 403: Error, 404: Error, 409: Error},
    summary="Delete a finished operation",
)
def delete(request, operation_id: int):
    act(request, operation_id, Action.DELETE)
    return HttpResponse(status=204)


# Many at once --------------------------------------------------------------------------------------


class BulkIn(Schema):
    """An action on many operations: the listed `ids`, or every one the `filters` of
    `GET /operations` match (at most 1,000)."""

    action: Literal["abort", "resume", "rerun", "delete"]
    ids: list[int] | None = Field(None, max_length=bulk.BOUND)
    filters: OperationFilters | None = None


class BulkResult(Schema):
    id: int
    result: Literal["done", "refused"]
    status: int = Field(description="What the single action would answer: 200, 403, 404, 409.")
    detail: str | None
    operation_id: int | None = Field(description="The new operation of a resume or rerun.")


class BulkOut(Schema):
    done: int
    refused: int
    results: list[BulkResult]


@router.post("/bulk", response={200: BulkOut, 422: Error}, summary="Act on many operations")
def act_on_many(request, body: BulkIn):
    if body.ids is None and body.filters is None:
        raise HttpError(422, "ids: give the operations, or filters that select them.")
    runs = filtered(request, body.filters or OperationFilters())
    try:
        ids = bulk.selected(runs, body.ids)
    except bulk.TooMany as error:
        raise HttpError(422, str(error)) from None
    outcomes = bulk.apply(Action(body.action), ids, by=request.user, trigger=Run.Trigger.API)
    return {
        "done": sum(o.done for o in outcomes),
        "refused": sum(not o.done for o in outcomes),
        "results": [
            {
                "id": o.run_id,
                "result": "done" if o.done else "refused",
                "status": o.status,
                "detail": o.reason or None,
                "operation_id": o.new_run_id,
            }
            for o in outcomes
        ],
    }
