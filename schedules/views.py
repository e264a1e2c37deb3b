from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from activity.models import Run
from activity.rules import InvalidTransition
from catalog.models import Datastore
from schedules.forms import ScheduleForm, TimingForm
from schedules.models import Schedule

LIST = "schedules/schedule_list.html"
FORM = "schedules/schedule_form.html"


def visible_schedule(request, pk: int) -> Schedule:
    """The schedule if the user sees its datastore; 404 otherwise, never 403."""
    return get_object_or_404(
        Schedule.objects.visible_to(request.user).select_related("datastore", "target", "owner"),
        pk=pk,
    )


@require_GET
def schedule_list(request, datastore_id: int | None = None):
    scope = None
    schedules = Schedule.objects.visible_to(request.user).select_related("datastore", "owner")
    if datastore_id is not None:
        scope = get_object_or_404(Datastore.objects.visible_to(request.user), pk=datastore_id)
        schedules = schedules.filter(datastore=scope)
    schedules = list(schedules.order_by("datastore__name", "name"))
    last_runs = Run.objects.filter(
        pk__in=[s.last_run_number for s in schedules if s.last_run_number]
    )
    statuses = dict(last_runs.values_list("pk", "status"))
    return render(
        request,
        LIST,
        {"schedules": schedules, "statuses": statuses, "scope": scope, "section": "schedules"},
    )


@require_http_methods(["GET", "POST"])
def schedule_edit(request, pk: int | None = None):
    """Create (pk None) or change a schedule; read-only for who may not edit it."""
    schedule = visible_schedule(request, pk) if pk else Schedule()
    if pk and not request.user.can_edit(schedule.datastore_id):
        if request.method == "POST":
            raise PermissionDenied(
                f"You need the editor permission on {schedule.datastore} to change it."
            )
        return render(
            request, FORM, {"schedule": schedule, "can_edit": False, "section": "schedules"}
        )
    editable = Datastore.objects.editable_by(request.user)
    if not editable.exists():
        raise PermissionDenied(
            "You need the editor permission on a datastore to schedule operations."
        )
    data = request.POST if request.method == "POST" else None
    form = ScheduleForm(
        data, initial=initial_of(schedule) or request.GET.dict(), datastores=editable
    )
    # The options as saved, or as "Schedule this" brought them from the launch page.
    initial = (
        schedule.options
        if pk
        else {
            name.removeprefix("option-"): request.GET.getlist(name)
            if len(request.GET.getlist(name)) > 1
            else request.GET[name]
            for name in request.GET
            if name.startswith("option-")
        }
    )
    options = form.options_form(data, initial=initial)
    if data:
        timing = TimingForm(data)
    elif pk:
        timing = TimingForm.of(schedule.cron)
    else:  # a new one; "Schedule this" on the launch page brings its operation, not a timing
        timing = TimingForm(request.GET) if "preset" in request.GET else TimingForm()
    if data and form.is_valid() and options.is_valid() and timing.is_valid():
        try:
            schedule.configure(
                by=request.user,
                name=form.cleaned_data["name"],
                type=form.cleaned_data["type"],
                datastore=form.cleaned_data["datastore"],
                target=form.cleaned_data.get("target"),
                options=options.options(),
                cron_expression=timing.cleaned_data["expression"],
                active=schedule.active if pk else True,
            )
        except InvalidTransition as refusal:
            raise PermissionDenied(refusal.message) from None
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Schedule “{schedule.name}” saved: {schedule.in_words}.")
            return redirect("schedules:schedule-list")
    context = {"schedule": schedule if pk else None, "form": form, "options_form": options}
    context |= {"timing": timing, "can_edit": True, "section": "schedules"}
    return render(request, FORM, context, status=400 if data else 200)


def initial_of(schedule: Schedule) -> dict | None:
    if not schedule.pk:
        return None
    return {
        "name": schedule.name,
        "datastore": schedule.datastore_id,
        "type": schedule.type,
        "target": schedule.target_id,
    }


@require_GET
def schedule_preview(request):
    """The next five fire times of the timing filled in so far (an htmx fragment)."""
    timing = TimingForm(request.GET)
    return render(request, f"{FORM}#preview", {"timing": timing})


@require_POST
def schedule_switch(request, pk: int):
    schedule = visible_schedule(request, pk)
    active = request.POST.get("active") == "1"
    try:
        schedule.switch(active, by=request.user)
    except InvalidTransition as refusal:
        raise PermissionDenied(refusal.message) from None
    if active:
        done = f"resumed: it fires next at {schedule.next_fire_at:%Y-%m-%d %H:%M} UTC"
    else:
        done = "paused"
    messages.success(request, f"Schedule “{schedule.name}” {done}.")
    return redirect("schedules:schedule-list")


@require_http_methods(["GET", "POST"])
def schedule_delete(request, pk: int):
    schedule = visible_schedule(request, pk)
    if not request.user.can_edit(schedule.datastore_id):
        raise PermissionDenied(
            f"You need the editor permission on {schedule.datastore} to delete its schedules."
        )
    if request.method == "GET":
        return render(
            request,
            "schedules/schedule_delete.html",
            {"schedule": schedule, "section": "schedules"},
        )
    try:
        schedule.delete_by(request.user)
    except InvalidTransition as refusal:
        raise PermissionDenied(refusal.message) from None
    messages.success(request, f"Schedule “{schedule.name}” deleted; the runs it launched stay.")
    return redirect("schedules:schedule-list")
