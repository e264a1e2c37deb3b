"""The catalog, read-only (datastores, containers, anomalies), and External Scan uploads."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from activity.models import Run
from activity.operations.external_scan import TooLarge, read_csv, read_objects, too_large
from activity.rules import InvalidTransition, authorize_launch
from api.operations import REFUSALS, operation, operations_of, with_containers
from api.paging import PageQuery, paginate
from api.schemas import Anomaly as AnomalyOut
from api.schemas import Container as ContainerOut
from api.schemas import Datastore as DatastoreOut
from api.schemas import Error, Operation, page_of
from catalog.models import Anomaly, Container, Datastore
from catalog.models import Field as CatalogField

router = Router(tags=["catalog"])


def ref(obj) -> dict:
    return {"id": obj.pk, "name": obj.name}


def seen_key(request, kind: str, filters: Schema) -> str:
    seen = "all" if request.user.is_admin else sorted(request.user.datastore_levels)
    return f"{kind}|{seen}|{filters.model_dump_json()}"


def by_ids(rows, ids: list[int]):
    found = {row.pk: row for row in rows.filter(pk__in=ids)}
    return [found[pk] for pk in ids if pk in found]


# Datastores ------------------------------------------------------------------------------------


def datastore(store: Datastore) -> dict:
    return {
        "id": store.pk,
        "name": store.name,
        "enrichment_datastore": ref(store.enrichment) if store.enrichment else None,
        "created": store.created_at,
    }


def datastores_of(request):
    return Datastore.objects.visible_to(request.user).select_related("enrichment").order_by("id")


class NoFilters(Schema):
    pass


@router.get("/datastores", response=page_of(DatastoreOut), summary="List datastores")
def list_datastores(request, paging: Query[PageQuery]):
    rows = datastores_of(request)
    key = seen_key(request, "datastores", NoFilters())
    return paginate(rows, paging, key=key, fetch=lambda ids: by_ids(rows, ids), shape=datastore)


@router.get("/datastores/{int:datastore_id}", response={200: DatastoreOut, 404: Error})
def get_datastore(request, datastore_id: int):
    store = datastores_of(request).filter(pk=datastore_id).first()
    if store is None:
        raise Http404(f"No datastore {datastore_id} that you can see.")
    return datastore(store)


# Containers ------------------------------------------------------------------------------------


def container(item: Container) -> dict:
    return {
        "id": item.pk,
        "name": item.name,
        "container_type": item.kind,
        "datastore": ref(item.datastore),
        "fields": [field.name for field in item.fields.all()],
        "row_count": item.row_count,
        "profiled_at": item.profiled_at,
        "removed": item.removed_at is not None,
    }


def containers_of(request):
    fields = CatalogField.objects.present().only("container_id", "name").order_by("position")
    return (
        Container.objects.filter(datastore__in=Datastore.objects.visible_to(request.user))
        .select_related("datastore")
        .prefetch_related(Prefetch("fields", queryset=fields))
        .order_by("id")
    )


class ContainerFilters(Schema):
    datastore: list[int] | None = Field(None, description="Repeatable.")


@router.get("/containers", response=page_of(ContainerOut), summary="List containers")
def list_containers(request, filters: Query[ContainerFilters], paging: Query[PageQuery]):
    rows = containers_of(request)
    if filters.datastore:
        rows = rows.filter(datastore_id__in=filters.datastore)
    key = seen_key(request, "containers", filters)
    return paginate(rows, paging, key=key, fetch=lambda ids: by_ids(rows, ids), shape=container)


@router.get("/containers/{int:container_id}", response={200: ContainerOut, 404: Error})
def get_container(request, container_id: int):
    return container(visible_container(request, container_id))


def visible_container(request, pk: int) -> Container:
    item = containers_of(request).filter(pk=pk).first()
    if item is None:
        raise Http404(f"No container {pk} that you can see.")
    return item


# Anomalies -------------------------------------------------------------------------------------


def anomaly(item: Anomaly) -> dict:
    check = item.quality_check
    return {
        "id": item.pk,
        "status": item.status,
        "description": item.description,
        "failed_count": item.failed_count,
        "datastore": ref(item.container.datastore),
        "container": ref(item.container),
        "check_id": item.quality_check_id,
        "rule": check.rule if check else None,
        "field": check.field.name if check and check.field else None,
        "operation_id": item.run_number,
        "last_seen_operation_id": item.last_seen_run_number,
        "times_seen": item.times_seen,
        "recurring": item.recurring,
        "created": item.created_at,
        "resolved_at": item.resolved_at,
        "examples": item.examples,
    }


def anomalies_of(request):
    return (
        Anomaly.objects.filter(container__datastore__in=Datastore.objects.visible_to(request.user))
        .select_related("container__datastore", "quality_check__field")
        .order_by("-id")
    )


class AnomalyFilters(Schema):
    datastore: list[int] | None = Field(None, description="Repeatable.")
    container: list[int] | None = Field(None, description="Repeatable.")
    status: list[str] | None = Field(
        None, description="Repeatable: active, acknowledged, resolved, … or open."
    )
    operation: int | None = Field(None, description="Found failing (again) by this operation.")


@router.get("/anomalies", response={200: page_of(AnomalyOut), 422: Error}, summary="List anomalies")
def list_anomalies(request, filters: Query[AnomalyFilters], paging: Query[PageQuery]):
    rows = anomalies_of(request)
    if filters.datastore:
        rows = rows.filter(container__datastore_id__in=filters.datastore)
    if filters.container:
        rows = rows.filter(container_id__in=filters.container)
    if filters.status:
        wanted = {status.lower() for status in filters.status}
        if unknown := wanted - {*Anomaly.Status.values, "open"}:
            raise HttpError(422, f"status: unknown {', '.join(sorted(unknown))}.")
        if "open" in wanted:
            wanted = (wanted - {"open"}) | set(Anomaly.OPEN)
        rows = rows.filter(status__in=wanted)
    if filters.operation:
        rows = rows.seen_by(filters.operation)
    key = seen_key(request, "anomalies", filters)
    return paginate(rows, paging, key=key, fetch=lambda ids: by_ids(rows, ids), shape=anomaly)


@router.get("/anomalies/{int:anomaly_id}", response={200: AnomalyOut, 404: Error})
def get_anomaly(request, anomaly_id: int):
    item = anomalies_of(request).filter(pk=anomaly_id).first()
    if item is None:
        raise Http404(f"No anomaly {anomaly_id} that you can see.")
    return anomaly(item)


# External Scan -----------------------------------------------------------------------------------

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/json": {
                "schema": {"type": "array", "items": {"type": "object"}},
            },
        },
    }
}


@router.post(
    "/containers/{int:container_id}/scan",
    response={200: Operation, 413: Error, **REFUSALS},
    summary="Record an External Scan of records produced elsewhere",
    openapi_extra=UPLOAD_BODY,
)
def external_scan(request, container_id: int):
    """The records, as a CSV file (multipart field `file`, a header naming the container's
    columns) or a JSON list of objects, are validated exactly like an upload in the page, before
    any operation exists: a refusal (422) names the line or record and the column."""
    target = visible_container(request, container_id)
    try:
        authorize_launch(request.user, target.datastore)
    except InvalidTransition as error:
        raise HttpError(403, error.message) from None
    limit = settings.RUNBOARD["UPLOAD_MAX_BYTES"]
    try:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    try:
        if size > limit + 2**16:
            raise too_large(limit)
        if request.content_type == "multipart/form-data":
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationError("Send the CSV file in the multipart field `file`.")
            records, filename = read_csv(target, upload), upload.name
        else:
            records, filename = read_objects(target, request, limit=limit), "records.json"
    except ValidationError as error:
        raise HttpError(
            413 if isinstance(error, TooLarge) else 422, " ".join(error.messages)
        ) from None
    run = Run.receive(target, records, by=request.user, filename=filename, trigger=Run.Trigger.API)
    return operation(with_containers(operations_of(request.user).filter(pk=run.pk))[0])
