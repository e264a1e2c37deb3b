"""Schedules over the API (SPEC §8): the same checks as the Schedules pages, through the model."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from activity.rules import InvalidTransition, RunType
from api.operations import datastore_seen, options_of, refusal
from api.paging import PageQuery, paginate
from api.schemas import Error, Ref, RunOperation, page_of
from schedules.models import SCHEDULABLE, Schedule

router = Router(tags=["schedules"])


class ScheduleOut(Schema):
    id: int
    name: str
    type: str
    datastore_id: int
    datastore: Ref
    target_datastore: Ref | None
    options: dict
    cron: str = Field(description="5 fields, in UTC.")
    cron_in_words: str
    active: bool
    owner: str | None = Field(description="Whose permissions its runs are launched with.")
    next_fire_at: datetime | None
    last_fired_at: datetime | None
    last_outcome: str | None = Field(description="launched, skipped or refused.")
    last_note: str | None
    last_operation_id: int | None


class ScheduleIn(RunOperation):
    """A schedule: what to run (the options of `POST /operations/run`) and when."""

    name: str = Field(max_length=100)
    cron: str = Field(description='5 fields, in UTC: "0 2 * * *" is every day at 02:00.')
    active: bool = True


class ScheduleChange(Schema):
    """What a PUT changes; what it leaves out stays as it was."""

    name: str | None = Field(None, max_length=100)
    cron: str | None = None
    active: bool | None = None


def schedule(item: Schedule) -> dict:
    return {
        "id": item.pk,
        "name": item.name,
        "type": item.type,
        "datastore_id": item.datastore_id,
        "datastore": {"id": item.datastore_id, "name": item.datastore.name},
        "target_datastore": {"id": item.target_id, "name": item.target.name}
        if item.target
        else None,
        "options": item.options,
        "cron": item.cron,
        "cron_in_words": item.in_words,
        "active": item.active,
        "owner": item.owner.username if item.owner else None,
        "next_fire_at": item.next_fire_at,
        "last_fired_at": item.last_fired_at,
        "last_outcome": item.last_outcome or None,
        "last_note": item.last_note or None,
        "last_operation_id": item.last_run_number,
    }


def schedules_of(request):
    return (
        Schedule.objects.visible_to(request.user)
        .select_related("datastore", "target", "owner")
        .order_by("id")
    )


def visible(request, pk: int) -> Schedule:
    item = schedules_of(request).filter(pk=pk).first()
    if item is None:
        raise Http404(f"No schedule {pk} that you can see.")
    return item


@router.post(
    "",
    response={200: ScheduleOut, **dict.fromkeys((403, 404, 422), Error)},
    summary="Create a schedule",
)
def create(request, body: ScheduleIn):
    if body.type == "catalog":
        body.type = "sync"
    if body.type not in dict(SCHEDULABLE):
        raise HttpError(422, f"type: {body.type} cannot be scheduled.")
    datastore = datastore_seen(request, body.datastore_id, "datastore_id")
    target = datastore_seen(request, body.target_datastore_id, "target_datastore_id")
    options, names = options_of(RunType(body.type), body, datastore)
    item = Schedule()
    try:
        item.configure(
            by=request.user,
            name=body.name,
            type=body.type,
            datastore=datastore,
            target=target,
            options=options,
            cron_expression=body.cron,
            active=body.active,
        )
    except InvalidTransition as error:
        raise HttpError(403, error.message) from None
    except ValidationError as error:
        raise refusal(error, names) from None
    return schedule(visible(request, item.pk))


class ScheduleFilters(Schema):
    datastore: list[int] | None = Field(None, description="Repeatable.")


@router.get("", response=page_of(ScheduleOut), summary="List schedules")
def list_schedules(request, filters: Query[ScheduleFilters], paging: Query[PageQuery]):
    rows = schedules_of(request)
    if filters.datastore:
        rows = rows.filter(datastore_id__in=filters.datastore)
    seen = "all" if request.user.is_admin else sorted(request.user.datastore_levels)
    return paginate(
        rows,
        paging,
        key=f"schedules|{seen}|{filters.model_dump_json()}",
        fetch=lambda ids: sorted(rows.filter(pk__in=ids), key=lambda s: ids.index(s.pk)),
        shape=schedule,
    )


@router.get("/{int:schedule_id}", response={200: ScheduleOut, 404: Error}, summary="One schedule")
def get_schedule(request, schedule_id: int):
    return schedule(visible(request, schedule_id))


@router.put(
    "/{int:schedule_id}",
    response={200: ScheduleOut, **dict.fromkeys((403, 404, 422), Error)},
    summary="Rename, retime, pause or resume a schedule",
)
def change(request, schedule_id: int, body: ScheduleChange):
    item = visible(request, schedule_id)
    try:
        if body.name is not None or body.cron is not None:
            item.configure(
                by=request.user,
                name=item.name if body.name is None else body.name,
                type=item.type,
                datastore=item.datastore,
                target=item.target,
                options=item.options,
                cron_expression=item.cron if body.cron is None else body.cron,
                active=item.active if body.active is None else body.active,
            )
        elif body.active is not None:
            item.switch(body.active, by=request.user)
    except InvalidTransition as error:
        raise HttpError(403, error.message) from None
    except ValidationError as error:
        raise refusal(error, {}) from None
    return schedule(visible(request, schedule_id))


@router.delete(
    "/{int:schedule_id}", response={204: None, 403: Error, 404: Error}, summary="Delete a schedule"
)
def delete(request, schedule_id: int):
    try:
        visible(request, schedule_id).delete_by(request.user)
    except InvalidTransition as error:
        raise HttpError(403, error.message) from None
    return HttpResponse(status=204)
