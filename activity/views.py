from __future__ import annotations

import re

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from activity import listing, rules
from activity.forms import LaunchForm, UploadForm
from activity.models import Run, RunContainer
from activity.rules import Action, InvalidTransition
from catalog.forms import parse_id, parse_number
from catalog.models import Container, Datastore

LIST = "activity/run_list.html"


def visible_runs(request):
    return listing.rows(Run.objects.visible_to(request.user))


def visible_run(request, pk: int) -> Run:
    """The run if the user may see it; 404 otherwise, never 403 (SPEC §1)."""
    return get_object_or_404(visible_runs(request), pk=pk)


def prepare(runs: list[Run], user, places: dict[int, int] | None = None) -> list[Run]:
    """Attach what each row shows that is not a column: its actions and its place in the queue."""
    if places is None:
        places = listing.queue_places(runs, user)
    for run in runs:
        run.actions = run.actions_for(user)
        run.queue_place = places.get(run.pk)
    return runs


@require_GET
def run_list(request, datastore_id: int | None = None):
    scope = None
    if datastore_id is not None:
        scope = get_object_or_404(Datastore.objects.visible_to(request.user), pk=datastore_id)
    form = listing.filter_form(request.user, request.GET)
    context = {
        "form": form,
        "scope": scope,
        "section": "activity",
        "list_url": request.get_full_path(),
        "query": query_without(request, "after", "before", "status"),
    }
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        context |= {"runs": [], "errors": errors, "live_counts": {}, "live_rows": 0}
        return render(request, results_or_page(request), context, status=400)
    filters = form.cleaned_data
    condition = listing.matching(filters, scope)
    page = listing.page(Run.objects.visible_to(request.user).filter(condition), filters)
    live_counts, places = listing.live_figures(request.user, condition, page.runs)
    context |= {
        "runs": prepare(page.runs, request.user, places),
        "page": page,
        "filters": filters,
        "live_counts": live_counts,
        "live_rows": sum(run.is_live for run in page.runs),
    }
    if not request.htmx or request.htmx.target != "results":
        context["figures"] = figures(request, scope, one_day(filters))
    return render(request, results_or_page(request), context)


def figures(request, scope: Datastore | None, day) -> str:
    """The KPIs and the heatmap above the list, rendered at most once every Insights.TTL seconds
    for each set of visible datastores and outlined day. They come in the same response as the
    rows: measured, fetching them after the rows delayed the first row instead."""
    insights = listing.Insights(request.user, scope, day)
    return cache.get_or_set(
        f"{insights.cache_key}|{day}",
        lambda: mark_safe(render_to_string(f"{LIST}#kpis_and_heatmap", {"insights": insights})),
        insights.TTL,
    )


def one_day(filters: dict):
    """The day a heatmap click filtered on, to outline it."""
    day = filters.get("created_from")
    return day if day and day == filters.get("created_to") else None


def results_or_page(request) -> str:
    return f"{LIST}#results" if request.htmx and request.htmx.target == "results" else LIST


def query_without(request, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


@require_GET
def run_detail(request, pk: int):
    run = visible_run(request, pk)
    if request.htmx:
        return render_row(request, run, expanded=request.GET.get("view") != "row")
    return render(request, "activity/run_detail.html", detail_context(request, run))


def detail_context(request, run: Run, message: str = "") -> dict:
    prepare([run], request.user)
    return {
        "run": run,
        "expanded": True,
        "message": message,
        "section": "activity",
        "detail": listing.detail(run, errors_only=request.GET.get("log") == "errors"),
        "list_url": safe_next(request),
    }


def render_row(
    request, run: Run, *, expanded: bool, message: str = "", status: int = 200, extra=None
):
    """The run's row for htmx: in place for the row's own links, out of band for the answer to
    one of the page's forms (a POST)."""
    prepare([run], request.user)
    context = {
        "run": run,
        "expanded": expanded,
        "message": message,
        "list_url": safe_next(request),
        "oob": request.method == "POST",
        **(extra or {}),
    }
    if expanded:
        context["detail"] = listing.detail(run, errors_only=request.GET.get("log") == "errors")
    return render(request, f"{LIST}#run_answer", context, status=status)


def safe_next(request) -> str:
    """Where to go back after an action: the list it came from (its filters and page)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    # A path of this site only: redirect() would read a bare word as a URL name to reverse.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return target
    return reverse("activity:run-list")


@require_GET
def unit_log(request, pk: int, unit_id: int):
    run = visible_run(request, pk)
    unit = get_object_or_404(RunContainer, run=run, pk=unit_id)
    entries = unit.logs.order_by("id")[:500]
    template = "activity/unit_log.html#log_lines" if request.htmx else "activity/unit_log.html"
    return render(request, template, {"run": run, "unit": unit, "entries": entries})


@require_GET
def log_download(request, pk: int):
    run = visible_run(request, pk)
    entries = run.logs.select_related("unit").order_by("id").iterator(chunk_size=2000)
    lines = (
        f"{e.at:%Y-%m-%d %H:%M:%S} {e.level:<7} {e.unit.name + ': ' if e.unit else ''}{e.message}\n"
        for e in entries
    )
    response = StreamingHttpResponse(lines, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}.log"'
    return response


# Actions ---------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def run_abort(request, pk: int):
    return act(request, pk, Action.ABORT)


@require_POST
def run_resume(request, pk: int):
    return act(request, pk, Action.RESUME)


@require_POST
def run_rerun(request, pk: int):
    return act(request, pk, Action.RERUN)


@require_http_methods(["GET", "POST"])
def run_delete(request, pk: int):
    return act(request, pk, Action.DELETE)


def act(request, pk: int, action: Action):
    """Take the action; answer htmx with the row (and the new run), a browser with a redirect.

    A refusal answers 403 (no permission) or 409 (the run moved on), with the row or the page
    re-rendered around the message. GET is the confirmation page of Abort and Delete without JS.
    """
    run = visible_run(request, pk)
    if request.method == "GET":
        try:
            rules.authorize(run, action, request.user)
        except InvalidTransition as refusal:
            return refuse(request, run, refusal)
        return render(
            request,
            "activity/confirm.html",
            {"run": run, "action": action, "list_url": safe_next(request)},
        )
    try:
        child = run.perform(action, by=request.user, key=request_key(request, run))
    except (InvalidTransition, ValidationError) as refusal:
        return refuse(request, run, refusal)
    expanded = request.POST.get("expanded") == "1"
    if not request.htmx:
        messages.success(request, done_message(run, action, child))
        return redirect(safe_next(request))
    if action == Action.DELETE:
        return render(request, f"{LIST}#run_deleted", {"pk": pk})
    run = visible_run(request, pk)
    extra = {"new_run": prepare([visible_run(request, child.pk)], request.user)[0]} if child else {}
    return render_row(request, run, expanded=expanded, extra=extra)


# What a form's one-time key looks like: form_key() prints 22 of these characters.
KEY = re.compile(r"[A-Za-z0-9_-]{1,40}")


def request_key(request, run: Run | None = None) -> str | None:
    """The one-time key a launch or rerun form carries, so a double submit acts once.

    The Activity's rows share their page's key (one hidden input, not one per row): a run's
    action is known by the page's key and the run's id, so that rerunning two runs of one page
    makes two runs."""
    key = request.POST.get("key") or None
    if key is not None and not KEY.fullmatch(key):
        raise BadRequest("This form's one-time key is malformed: reload the page and try again.")
    return f"{key}-{run.pk}" if key and run is not None else key


def refuse(request, run: Run, refusal: InvalidTransition | ValidationError):
    status = 403 if getattr(refusal, "forbidden", False) else 409
    message = reason(refusal)
    try:
        run = visible_runs(request).get(pk=run.pk)
    except Run.DoesNotExist:
        context = {"pk": run.pk, "message": message, "oob": request.method == "POST"}
        return render(request, f"{LIST}#run_gone", context, status=status)
    if request.htmx:
        return render_row(
            request,
            run,
            expanded=request.POST.get("expanded") == "1",
            message=message,
            status=status,
        )
    return render(
        request, "activity/run_detail.html", detail_context(request, run, message), status=status
    )


def reason(error: InvalidTransition | ValidationError) -> str:
    return error.message if isinstance(error, InvalidTransition) else " ".join(error.messages)


def done_message(run: Run, action: Action, child: Run | None) -> str:
    return {
        Action.ABORT: f"Abort requested for run #{run.pk}.",
        Action.RESUME: f"Run #{run.pk} resumed as #{child.pk if child else ''}.",
        Action.RERUN: f"Run #{run.pk} rerun as #{child.pk if child else ''}.",
        Action.DELETE: f"Run #{run.pk} deleted; what it produced stays.",
    }[action]


# Live updates ----------------------------------------------------------------------------------

MAX_LIVE = 200


@require_GET
def live(request):
    """One request for every live row of a page: their rows, and for open ones the new log
    entries since the last one the page holds. Stops the polling when none is live any more."""
    try:
        seen = dict(live_token(token, parse_id, str) for token in request.GET.getlist("run"))
        opened = dict(
            live_token(token, parse_id, parse_number) for token in request.GET.getlist("open")
        )
    except (ValidationError, ValueError):
        return HttpResponseBadRequest(
            "Malformed live-update request: run=<id>:<status>, open=<id>:<last log id>."
        )
    if len(seen) > MAX_LIVE:
        return HttpResponseBadRequest(f"A live update covers at most {MAX_LIVE} runs.")
    runs = prepare(list(visible_runs(request).filter(pk__in=seen)), request.user)
    details = listing.live_details([run for run in runs if run.pk in opened], opened)
    for run in runs:
        run.open_detail = details.get(run.pk)
    changed = [
        run
        for run in runs
        if run.status != seen[run.pk] or run.is_aborting and seen[run.pk] != "aborting"
    ]
    live_count = sum(run.is_live for run in runs)
    return render(
        request,
        f"{LIST}#live_answer",
        {"runs": runs, "changed": changed, "still_live": live_count > 0, "live_count": live_count},
    )


def live_token(token: str, key, value) -> tuple:
    """`<id>:<value>` of a live-update query, each side parsed; ValueError when malformed."""
    left, colon, right = token.partition(":")
    if not colon:
        raise ValueError(token)
    return key(left), value(right)


# Launching -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def launch(request):
    editable = Datastore.objects.editable_by(request.user)
    if not editable.exists():
        raise PermissionDenied(
            "You need the editor permission on a datastore to launch operations."
        )
    form = LaunchForm(request.POST or request.GET or None, datastores=editable)
    options_form = form.options_form(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid() and options_form.is_valid():
        try:
            run = Run.launch(
                form.cleaned_data["type"],
                form.cleaned_data["datastore"],
                by=request.user,
                options=options_form.options(),
                target=form.cleaned_data.get("target"),
                request_key=request_key(request),
            )
        except (InvalidTransition, ValidationError) as error:
            messages.error(request, reason(error))
        else:
            messages.success(
                request, f"Run #{run.pk} {run.get_type_display()} queued on {run.datastore}."
            )
            return redirect("activity:run-list")
    template = "activity/launch.html#options" if request.htmx else "activity/launch.html"
    return render(
        request,
        template,
        {"form": form, "options_form": options_form, "section": "activity"},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
def external_scan(request, container_id: int):
    container = get_object_or_404(
        Container.objects.filter(datastore__in=Datastore.objects.visible_to(request.user)),
        pk=container_id,
    )
    try:
        rules.authorize_launch(request.user, container.datastore)
    except InvalidTransition as refusal:
        raise PermissionDenied(refusal.message) from None
    if request_size(request) > settings.RUNBOARD["UPLOAD_MAX_BYTES"] + 2**16:
        limit = settings.RUNBOARD["UPLOAD_MAX_BYTES"] / 2**20
        messages.error(
            request, f"Upload refused: the file is larger than the limit of {limit:.0f} MB."
        )
        return redirect(container)
    form = UploadForm(request.POST, request.FILES, container=container)
    if not form.is_valid():
        refusal = " ".join(m for errors in form.errors.values() for m in errors)
        messages.error(request, f"Upload refused: {refusal} No run was created.")
        return redirect(container)
    records = form.cleaned_data["file"]
    try:
        run = Run.receive(container, records, by=request.user, filename=form.filename)
    except ValidationError as error:
        messages.error(request, f"Upload refused: {reason(error)} No run was created.")
        return redirect(container)
    messages.success(
        request,
        f"External Scan #{run.pk} of {form.filename} queued: "
        f"{records.count:,} record{'s' if records.count != 1 else ''}.",
    )
    return redirect(container)


def request_size(request) -> int:
    """The declared size of the request body, read before Django spools it to disk."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
