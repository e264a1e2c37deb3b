"""The Activity list: its filters, keyset pages, and the figures above it.

Every query here starts from Run.objects.visible_to(user), runs in constant time whatever the
depth of the history (keyset pages on indexed columns, no COUNT over the history), and the whole
page costs a fixed number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.db.models import Avg, BigIntegerField, Count, F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, RowNumber
from django.utils import timezone
from django.utils.functional import cached_property

from accounts.models import Level, Team, User
from activity.models import Run, RunContainer, RunDay, RunEvent, RunLog
from activity.rules import LIVE, RunStatus, RunType
from catalog.forms import DayField, IdField, parse_id, parse_number
from catalog.models import Anomaly, Datastore

# sort key → the (field, descending) columns the keyset pages on, the id always last
SORTS = {
    "newest": (("id", True),),
    "oldest": (("id", False),),
    "longest": (("duration", True), ("id", True)),
    "shortest": (("duration", False), ("id", False)),
}
SORT_LABELS = [
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("longest", "Longest first"),
    ("shortest", "Shortest first"),
]
PAGE_SIZES = [25, 50, 100]
HEATMAP_WEEKS = 26


class RunFilters(forms.Form):
    """The list's query string. Invalid input is a 400 with these messages, never a 500."""

    q = forms.CharField(required=False, max_length=20, label="Run")
    type = forms.ChoiceField(required=False, choices=[("", "All types"), *RunType.choices])
    status = forms.ChoiceField(required=False, choices=[("", "All"), *RunStatus.choices])
    datastore = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    # Who triggered the runs: a username typed in (the list of everyone who could launch grows
    # with the users, and it was a query on every page), or a user's id from a link.
    by = forms.CharField(required=False, max_length=150, strip=True, label="Triggered by")
    triggered_by = forms.CharField(required=False, max_length=20)
    has_logs = forms.BooleanField(required=False)
    schedule = IdField(required=False)  # the runs a schedule launched: its page links here
    created_from = DayField(required=False)
    created_to = DayField(required=False)
    day = DayField(required=False)  # a day of the heatmap: from and to that day
    sort = forms.ChoiceField(required=False, choices=SORT_LABELS)
    size = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=50, choices=[(n, n) for n in PAGE_SIZES]
    )
    after = forms.CharField(required=False, max_length=60)
    before = forms.CharField(required=False, max_length=60)

    def __init__(self, *args, datastores: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["datastore"].choices = [("", "All"), *datastores]

    def clean_triggered_by(self) -> int | None:
        text = self.cleaned_data["triggered_by"].strip()
        return parse_id(text) if text else None

    def clean_q(self) -> int | None:
        text = self.cleaned_data["q"].strip().lstrip("#")
        if not text:
            return None
        try:
            return parse_id(text)
        except forms.ValidationError:
            raise forms.ValidationError("Search by run id: a number such as #1294.") from None

    def clean(self):
        data = super().clean()
        data["sort"] = data.get("sort") or "newest"
        if data.get("day"):
            data["created_from"] = data["created_to"] = data["day"]
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            raise forms.ValidationError("The date range ends before it starts.")
        if data.get("after") and data.get("before"):
            raise forms.ValidationError("Ask for the newer or the older page, not both.")
        for name in ("after", "before"):
            if data.get(name):
                data[name] = parse_cursor(data[name], data["sort"])
        return data


def parse_cursor(text: str, sort: str) -> tuple:
    """The (duration, id) or (id,) a page link continues from; ValidationError if malformed."""
    parts = text.split(":")
    try:
        if len(parts) != len(SORTS[sort]):
            raise forms.ValidationError("wrong number of parts")
        values = [parse_number(part) for part in parts]
    except forms.ValidationError:
        raise forms.ValidationError(
            "That page link is malformed: go back to the first page."
        ) from None
    if len(values) == 2:
        return (timedelta(microseconds=values[0]), values[1])
    return tuple(values)


def cursor_of(run: Run, sort: str) -> str:
    if len(SORTS[sort]) == 2:
        micros = run.duration // timedelta(microseconds=1)
        return f"{micros}:{run.pk}"
    return str(run.pk)


def rows(runs):
    """The runs as their rows print them: with the names of their datastores and people, rather
    than a model instance of each (building those cost more than printing the whole row)."""
    return runs.with_links().annotate(
        datastore_name=F("datastore__name"),
        target_name=F("target__name"),
        triggered_by_name=F("triggered_by__username"),
        aborted_by_name=F("aborted_by__username"),
    )


def filter_form(user: User, data) -> RunFilters:
    return RunFilters(data, datastores=datastores_seen(user))


def datastores_seen(user: User) -> list[tuple[int, str]]:
    """The datastores the user sees, by name, for the filter.

    For a member it is one query over their teams, which also tells their level on each
    datastore and the badge of their header: User.datastore_levels and User.badge, by the same
    rules, are set from it instead of asking two more queries.
    """
    if user.is_admin:
        return list(Datastore.objects.order_by("name").values_list("pk", "name"))
    teams = Team.objects.filter(members=user).order_by("-level", "name")
    held = list(teams.values_list("name", "level", "datastores__pk", "datastores__name"))
    levels: dict[int, Level] = {}
    names: dict[int, str] = {}
    for _, level, pk, name in held:
        if pk is not None:
            levels[pk] = max(levels.get(pk, Level(level)), Level(level))
            names[pk] = name
    user.datastore_levels = levels
    user.badge = f"{Level(held[0][1]).label} · {held[0][0]}" if held else "No team yet"
    return sorted(names.items(), key=lambda item: item[1])


def matching(filters: dict, scope: Datastore | None = None) -> Q:
    """The filters as one condition, status excepted (the tabs count without it)."""
    condition = Q()
    if scope is not None:
        condition &= Q(datastore=scope)
    if filters.get("q") is not None:
        condition &= Q(pk=filters["q"])
    if filters.get("type"):
        condition &= Q(type=filters["type"])
    if filters.get("datastore"):
        condition &= Q(datastore_id=filters["datastore"])
    if filters.get("by"):
        condition &= Q(triggered_by__username=filters["by"])
    if filters.get("triggered_by"):
        condition &= Q(triggered_by_id=filters["triggered_by"])
    if filters.get("has_logs"):
        condition &= Q(has_logs=True)
    if filters.get("schedule"):
        condition &= Q(schedule_id=filters["schedule"])
    if filters.get("created_from"):
        condition &= Q(created_at__gte=start_of(filters["created_from"]))
    if filters.get("created_to"):
        condition &= Q(created_at__lt=start_of(filters["created_to"] + timedelta(days=1)))
    return condition


@dataclass
class Page:
    runs: list[Run]
    newer: str | None  # cursor of the page before (newer in the default sort)
    older: str | None


def page(runs, filters: dict) -> Page:
    """One keyset page: `after` moves along the sort, `before` back; no OFFSET, no COUNT."""
    sort, size = filters["sort"], filters.get("size") or 50
    columns = SORTS[sort]
    if filters.get("status"):
        runs = runs.filter(status=filters["status"])
    if len(columns) == 2:
        runs = runs.filter(duration__isnull=False)
    backwards = bool(filters.get("before"))
    cursor = filters.get("before") or filters.get("after")
    if cursor:
        runs = runs.filter(beyond(columns, cursor, forward=not backwards))
    order = [f"{'-' if desc != backwards else ''}{name}" for name, desc in columns]
    found = list(rows(runs).order_by(*order)[: size + 1])
    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()
    at_start = not cursor or (backwards and not more)
    at_end = (not backwards and not more) or not found
    return Page(
        runs=found,
        newer=None if at_start or not found else cursor_of(found[0], sort),
        older=None if at_end else cursor_of(found[-1], sort),
    )


def beyond(columns, cursor: tuple, *, forward: bool) -> Q:
    """Rows after the cursor in the sort order (forward) or before it: a row-value comparison
    spelled out, (a < x) OR (a = x AND b < y), which the (a, b) indexes serve."""
    condition = Q()
    for i, (name, desc) in enumerate(columns):
        lookup = "lt" if desc == forward else "gt"
        equal = {columns[j][0]: cursor[j] for j in range(i)}
        condition |= Q(**equal, **{f"{name}__{lookup}": cursor[i]})
    return condition


def live_figures(user: User, condition: Q, shown: list[Run]) -> tuple[dict, dict]:
    """The tabs' live counts (of the runs matching the filters) and the queue places of the
    page's queued runs (among every queued run the user sees, as queue_places() tells them): one
    aggregate over the user's live runs, however many there are on the page."""
    waiting = sorted(run.pk for run in shown if run.status == RunStatus.QUEUED)
    figures = (
        Run.objects.visible_to(user)
        .live()
        .aggregate(
            **{status: Count("pk", filter=condition & Q(status=status)) for status in LIVE},
            **{
                f"p{pk}": Count("pk", filter=Q(status=RunStatus.QUEUED, pk__lte=pk))
                for pk in waiting
            },
        )
    )
    places = {pk: figures[f"p{pk}"] for pk in waiting}
    return {status: figures[status] for status in LIVE}, places


def queue_places(runs: list[Run], user: User) -> dict[int, int]:
    """Each queued run's place in the queue, counted over the queued runs the user may see.

    Workers take every datastore's runs oldest first, so other teams' queued runs may be ahead
    too; how many is not this user's to know (their count would leak another team's activity).
    One aggregate over the queue ahead of the page's last queued run, whatever its length.
    """
    waiting = sorted(run.pk for run in runs if run.status == RunStatus.QUEUED)
    if not waiting:
        return {}
    ahead = Run.objects.visible_to(user).filter(status=RunStatus.QUEUED, pk__lte=waiting[-1])
    places = ahead.aggregate(**{f"p{pk}": Count("pk", filter=Q(pk__lte=pk)) for pk in waiting})
    return {int(alias[1:]): place for alias, place in places.items()}


# What the expanded row shows of a run ----------------------------------------------------------

UNITS_SHOWN = 50
LOG_SHOWN = 200


@dataclass
class RunDetail:
    run: Run
    units: list[RunContainer]
    unit_counts: dict[str, int]
    logs: list[RunLog]
    log_total: int | None
    last_log_id: int
    events: list[RunEvent]
    counters: list[tuple[str, int]]
    anomalies: int

    @property
    def more_units(self) -> int:
        return sum(self.unit_counts.values()) - len(self.units)

    @property
    def chips(self) -> list[str]:
        """The options the run was launched with, as the expanded row's chips."""
        chips = []
        for key, value in self.run.options.items():
            name = key.replace("_", " ")
            if value is True:
                chips.append(name)
            elif key == "containers" and not value:
                chips.append(f"containers: all ({self.run.containers_total})")
            elif isinstance(value, list):
                more = f" +{len(value) - 3}" if len(value) > 3 else ""
                chips.append(f"{name}: {', '.join(map(str, value[:3]))}{more}")
            elif value not in (False, None, ""):
                chips.append(f"{name} {value}")
        return chips


def detail(run: Run, *, errors_only: bool = False) -> RunDetail:
    """What the expanded row shows, in a fixed number of queries whatever the run's size: the
    first containers, the tail of the run-level log (its errors only), the timeline and the
    counters."""
    logs = run_level(run.logs.all(), errors_only).annotate(total=Window(Count("pk")))
    tail = list(logs.order_by("-id")[:LOG_SHOWN])[::-1]
    total = tail[0].total if tail else 0  # counted in the same pass: all the entries before LIMIT
    return details([run], {run.pk: tail}, totals={run.pk: total})[run.pk]


def live_details(runs: list[Run], after: dict[int, int]) -> dict[int, RunDetail]:
    """What the live poll brings the open rows: their parts that change and the run-level log
    entries after the last one each row holds. The same queries for one open row or many."""
    if not runs:
        return {}
    since = Q()
    for pk in (run.pk for run in runs):
        since |= Q(run_id=pk, pk__gt=after[pk])
    new = ranked(run_level(RunLog.objects.filter(since), False), "-id", LOG_SHOWN)
    tails: dict[int, list[RunLog]] = {}
    for entry in sorted(new, key=lambda entry: entry.pk):
        tails.setdefault(entry.run_id, []).append(entry)
    return details(runs, tails, after=after)


def run_level(logs, errors_only: bool):
    logs = logs.filter(unit__isnull=True)
    return logs.exclude(level=RunLog.Level.INFO) if errors_only else logs


def ranked(rows, order: str, first: int) -> list:
    """The first rows of each run in this order: one query for any number of runs."""
    place = Window(RowNumber(), partition_by=F("run_id"), order_by=F(order.lstrip("-")))
    if order.startswith("-"):
        place = Window(RowNumber(), partition_by=F("run_id"), order_by=F(order[1:]).desc())
    return list(rows.annotate(place=place).filter(place__lte=first))


def details(
    runs: list[Run],
    tails: dict[int, list[RunLog]],
    totals: dict[int, int] | None = None,
    after: dict[int, int] | None = None,
) -> dict[int, RunDetail]:
    """The expanded rows of these runs around their log tails, in four queries for any number of
    runs and any run size: the first containers (ranked by position within each run, then their
    log counts and last entries), the containers' statuses, the timelines, the anomalies."""
    ids = [run.pk for run in runs]
    first = RunContainer.objects.filter(run_id__in=ids).annotate(
        place=Window(RowNumber(), partition_by=F("run_id"), order_by=F("position").asc())
    )
    logs = RunLog.objects.filter(unit=OuterRef("pk")).order_by("-id")
    counted = logs.order_by().values("unit").annotate(n=Count("pk")).values("n")
    units: dict[int, list[RunContainer]] = {}
    for unit in (
        RunContainer.objects.filter(pk__in=first.filter(place__lte=UNITS_SHOWN).values("pk"))
        .annotate(
            log_count=Coalesce(Subquery(counted), 0),
            last_level=Subquery(logs.values("level")[:1]),
            last_message=Subquery(logs.values("message")[:1]),
        )
        .order_by("run_id", "position")
    ):
        units.setdefault(unit.run_id, []).append(unit)
    counts: dict[int, dict[str, int]] = {}
    for run_id, status, n in (
        RunContainer.objects.filter(run_id__in=ids)
        .order_by()
        .values_list("run_id", "status")
        .annotate(n=Count("pk"))
    ):
        counts.setdefault(run_id, {})[status] = n
    events: dict[int, list[RunEvent]] = {}
    for event in RunEvent.objects.filter(run_id__in=ids):
        events.setdefault(event.run_id, []).append(event)
    anomalies = dict(
        Anomaly.objects.filter(run_number__in=ids)
        .order_by()
        .values_list("run_number")
        .annotate(n=Count("pk"))
    )
    after = after or {}
    return {
        run.pk: RunDetail(
            run=run,
            units=units.get(run.pk, []),
            unit_counts=counts.get(run.pk, {}),
            logs=tails.get(run.pk, []),
            log_total=totals.get(run.pk) if totals is not None else None,
            last_log_id=tails[run.pk][-1].pk if tails.get(run.pk) else after.get(run.pk, 0),
            events=events.get(run.pk, []),
            counters=[(label, run.counters.get(key, 0)) for key, label in run.operation.counters],
            anomalies=anomalies.get(run.pk, 0),
        )
        for run in runs
    }


# The figures above the list ------------------------------------------------------------------


class Insights:
    """The figures above the list: the last 7 days' KPIs and 26 weeks of daily counts. The page
    caches them rendered (views.figures), so these queries run at most once every TTL seconds
    for each set of visible datastores, not on every request."""

    TTL = 30

    def __init__(self, user: User, scope: Datastore | None, selected: date | None):
        self.user, self.scope, self.selected = user, scope, selected

    @property
    def cache_key(self) -> str:
        if self.scope is not None:
            seen = f"datastore-{self.scope.pk}"
        else:
            seen = (
                "all"
                if self.user.is_admin
                else ",".join(map(str, sorted(self.user.datastore_levels)))
            )
        return f"activity-figures|{seen}|{timezone.now().date()}"

    @cached_property
    def kpis(self) -> dict:
        return kpis(self.user, self.scope)

    @cached_property
    def heatmap(self) -> dict:
        return heatmap(self.user, self.scope, self.selected)


def kpis(user: User, scope: Datastore | None = None) -> dict:
    """The strip above the list: the last 7 days of runs the user can see."""
    runs = Run.objects.visible_to(user).filter(created_at__gte=timezone.now() - timedelta(days=7))
    if scope is not None:
        runs = runs.filter(datastore=scope)
    figures = runs.aggregate(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=RunStatus.SUCCESS)),
        failed=Count("id", filter=Q(status=RunStatus.FAILURE)),
        aborted=Count("id", filter=Q(status=RunStatus.ABORTED)),
        duration=Avg("duration"),
        records=Sum(Cast(KT("counters__records_scanned"), BigIntegerField())),
    )
    finished = figures["succeeded"] + figures["failed"] + figures["aborted"]
    figures["success_rate"] = 100 * figures["succeeded"] / finished if finished else None
    return figures


@dataclass
class HeatDay:
    day: date
    runs: int
    level: int
    future: bool

    @property
    def iso(self) -> str:
        return self.day.isoformat()

    @property
    def label(self) -> str:
        return f"{self.runs} run{'' if self.runs == 1 else 's'} on {self.day:%a %b} {self.day.day}"


def heatmap(user: User, scope: Datastore | None = None, selected: date | None = None) -> dict:
    """Runs per day for the last 26 weeks, Monday-first columns, from the daily counts."""
    today = timezone.now().date()
    first = today - timedelta(days=today.weekday() + 7 * (HEATMAP_WEEKS - 1))
    days = RunDay.objects.filter(day__gte=first)
    if scope is not None:
        days = days.filter(datastore=scope)
    elif not user.is_admin:
        days = days.filter(datastore_id__in=list(user.datastore_levels))
    counts = dict(days.order_by().values_list("day").annotate(n=Sum("runs")))
    peak = max(counts.values(), default=0)
    cells = []
    for offset in range(7 * HEATMAP_WEEKS):
        day = first + timedelta(days=offset)
        n = counts.get(day, 0)
        level = 0 if not n else min(4, 1 + (4 * (n - 1)) // max(peak, 1))
        cells.append(HeatDay(day, n, level, day > today))
    months = []  # one label per week column, set where a month starts
    for week in range(HEATMAP_WEEKS):
        monday = first + timedelta(weeks=week)
        starts = week == 0 or monday.month != (monday - timedelta(weeks=1)).month
        months.append(monday.strftime("%b") if starts else "")
    return {
        "cells": cells,
        "months": months,
        "total": sum(counts.values()),
        "today": today,
        "selected": selected,
    }


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
