from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from catalog.connectors import (
    BOOLEAN,
    DATE,
    NUMBER,
    OTHER,
    TEXT,
    SourceUnavailable,
    connect,
    ensure_allowed,
    kind_of,
    redact,
)


class DatastoreQuerySet(models.QuerySet):
    def visible_to(self, user) -> DatastoreQuerySet:
        if user.is_admin:
            return self
        return self.filter(pk__in=list(user.datastore_levels))

    def editable_by(self, user) -> DatastoreQuerySet:
        """The datastores the user may launch operations on."""
        if user.is_admin:
            return self
        return self.filter(pk__in=[pk for pk in user.datastore_levels if user.can_edit(pk)])


class Datastore(models.Model):
    """A named connection to a real SQL database (SPEC §2)."""

    name = models.CharField(max_length=100, unique=True)
    connection_url = models.CharField(
        max_length=500,
        help_text="sqlite:///absolute/path.db or postgresql://user@host:port/database",
    )
    enrichment = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="enriched",
        help_text="Where exports and materializations of this datastore are written.",
    )
    enrichment_prefix = models.CharField(
        max_length=30,
        default="rb",
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", "Lowercase letters, digits and _.")],
        help_text="Table-name prefix in the enrichment datastore.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DatastoreQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:datastore-detail", args=[self.pk])

    def clean(self) -> None:
        # The worker refuses these too; saying so here keeps them out of the catalog at all.
        try:
            ensure_allowed(self.connection_url)
        except SourceUnavailable as error:
            raise ValidationError({"connection_url": str(error)}) from None

    def connect(self):
        return connect(self.connection_url)

    def connection_shown_to(self, user) -> str:
        """The connection URL, its credentials masked, for editors of this datastore (admins
        included); "" for everyone else, who have no use for where the database lives."""
        return redact(self.connection_url) if user.can_edit(self) else ""


class PresentQuerySet(models.QuerySet):
    """Containers and fields stay after a Sync prunes them, with removed_at set."""

    def present(self) -> PresentQuerySet:
        return self.filter(removed_at__isnull=True)


class Container(models.Model):
    """A table or view of a datastore, found by Sync."""

    class Kind(models.TextChoices):
        TABLE = "table", "Table"
        VIEW = "view", "View"

    datastore = models.ForeignKey(Datastore, on_delete=models.CASCADE, related_name="containers")
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TABLE)
    # Pruned by a Sync (gone from the source); kept so its checks and anomalies stay reachable.
    removed_at = models.DateTimeField(null=True, blank=True)
    row_count = models.BigIntegerField(null=True, blank=True)
    profiled_at = models.DateTimeField(null=True, blank=True)
    # High-water mark of the last incremental scan: {"field": name, "value": last value seen}.
    incremental_mark = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PresentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["datastore", "name"], name="container_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:container-detail", args=[self.pk])


class Field(models.Model):
    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=100, blank=True)
    position = models.PositiveIntegerField(default=0)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = PresentQuerySet.as_manager()

    class Meta:
        ordering = ["container", "position"]
        constraints = [
            models.UniqueConstraint(fields=["container", "name"], name="field_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class FieldProfile(models.Model):
    """Statistics of a field from the last Profile that covered it."""

    field = models.OneToOneField(Field, on_delete=models.CASCADE, related_name="profile")
    run_number = models.BigIntegerField(null=True, blank=True)
    profiled_at = models.DateTimeField()
    count = models.BigIntegerField()
    nulls = models.BigIntegerField()
    distinct = models.BigIntegerField(null=True, blank=True)
    min = models.TextField(null=True, blank=True)
    max = models.TextField(null=True, blank=True)
    mean = models.FloatField(null=True, blank=True)
    min_length = models.IntegerField(null=True, blank=True)
    max_length = models.IntegerField(null=True, blank=True)
    # The values and their counts when the field has only a few distinct values.
    values = models.JSONField(null=True, blank=True)


class Check(models.Model):
    """A quality rule on a container or one of its fields (SPEC §2)."""

    class Rule(models.TextChoices):
        NOT_NULL = "not_null", "Not null"
        UNIQUE = "unique", "Unique"
        BETWEEN = "between", "Between"
        IN_SET = "in_set", "Values in set"
        MATCHES = "matches", "Matches pattern"
        NOT_FUTURE = "not_future", "Not in the future"
        REFERENCES = "references", "References"
        ROW_COUNT = "row_count", "Row count between"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="checks")
    field = models.ForeignKey(
        Field, null=True, blank=True, on_delete=models.CASCADE, related_name="checks"
    )
    rule = models.CharField(max_length=16, choices=Rule.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    description = models.CharField(max_length=300, blank=True)
    inferred = models.BooleanField(default=False)
    # The source check a Promote copied this one from: promoting again updates, never duplicates.
    promoted_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="promotions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["container", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["field", "rule"], condition=Q(inferred=True), name="check_one_inferred"
            ),
            models.UniqueConstraint(
                fields=["container", "promoted_from"],
                condition=Q(promoted_from__isnull=False),
                name="check_one_promotion",
            ),
        ]

    def __str__(self) -> str:
        target = f".{self.field.name}" if self.field_id else ""
        return f"{self.get_rule_display()} on {self.container.name}{target}"

    def get_absolute_url(self) -> str:
        return reverse("catalog:check-detail", args=[self.pk])

    def clean(self) -> None:
        if self.rule not in self.Rule.values:
            return  # clean_fields() says so
        try:
            field, container = self.field, self.container if self.container_id else None
        except (Field.DoesNotExist, Container.DoesNotExist):
            return  # an id that names nothing: clean_fields() says so
        errors = self.unfit(self.rule, field, self.params)
        if field is not None and container is not None and field.container_id != container.pk:
            errors.setdefault("field", f"{field.name} is a field of another container.")
        references = self.rule == self.Rule.REFERENCES and container is not None
        if references and not errors and (missing := self._missing_reference(container)):
            errors["params"] = missing
        if errors:
            raise ValidationError(errors)

    # Which fields each rule fits, by the kind of their type (catalog.connectors.kind_of), and the
    # parameters it takes: the one definition, asked where checks are made — clean() for people
    # (the admin), Profile (it never infers an unfit check), Promote (an unfit copy is a draft) —
    # so that an unfit check is refused once instead of warning on every scan. None: the rule is
    # about the whole container and takes no field. A date range (between) is a fit: ISO dates
    # compare as dates on PostgreSQL and, written ISO, as text on SQLite.
    FITS: ClassVar[dict[str, tuple[str, ...] | None]] = {
        Rule.NOT_NULL: (NUMBER, TEXT, DATE, BOOLEAN, OTHER),
        Rule.UNIQUE: (NUMBER, TEXT, DATE, BOOLEAN, OTHER),
        Rule.BETWEEN: (NUMBER, DATE),
        Rule.IN_SET: (NUMBER, TEXT, DATE, BOOLEAN, OTHER),
        Rule.MATCHES: (TEXT,),
        Rule.NOT_FUTURE: (DATE,),
        Rule.REFERENCES: (NUMBER, TEXT, DATE, BOOLEAN, OTHER),
        Rule.ROW_COUNT: None,
    }
    PARAMS: ClassVar[dict[str, tuple[str, ...]]] = {
        Rule.NOT_NULL: (),
        Rule.UNIQUE: (),
        Rule.BETWEEN: ("min", "max"),
        Rule.IN_SET: ("values",),
        Rule.MATCHES: ("pattern",),
        Rule.NOT_FUTURE: (),
        Rule.REFERENCES: ("container", "field"),
        Rule.ROW_COUNT: ("min", "max"),
    }

    @classmethod
    def unfit(cls, rule: str, field: Field | None, params: Any) -> dict[str, str]:
        """Why `rule` with `params` does not fit `field`, as {"field" or "params": message};
        empty when it fits. Pure: it reads no database."""
        label, fits = cls.Rule(rule).label, cls.FITS[rule]
        problems, kind = {}, None
        if fits is None and field is not None:
            problems["field"] = f"{label} is about the whole container: leave the field empty."
        elif fits is not None and field is None:
            problems["field"] = f"{label} needs a field."
        elif field is not None:
            kind = field_kind(field)
            if kind is not None and kind not in fits:
                kinds = " or ".join(fits)
                what = "of another type" if kind == OTHER else f"a {kind} field"
                problems["field"] = (
                    f"{label} needs a {kinds} field; {field.name} is {what} ({field.type})."
                )
                kind = None
        if problem := cls._params_problem(rule, params, kind):
            problems["params"] = problem
        return problems

    @classmethod
    def _params_problem(cls, rule: str, params: Any, kind: str | None) -> str:
        """What is wrong with the parameters, for a field of `kind` (None: unknown)."""
        label, takes = cls.Rule(rule).label, cls.PARAMS[rule]
        if not isinstance(params, dict):
            return "Parameters are a JSON object, such as {}."
        if extra := sorted(set(params) - set(takes)):
            allowed = ", ".join(takes) if takes else "no parameters"
            return f"{label} takes {allowed}, not {', '.join(extra)}."
        match rule:
            case cls.Rule.BETWEEN:
                return _range_problem(label, params, kind)
            case cls.Rule.ROW_COUNT:
                bounds = [params.get("min"), params.get("max")]
                if all(b is None for b in bounds):
                    return f"{label} needs a min, a max or both."
                if any(b is not None and not _whole(b) for b in bounds):
                    return f"{label} needs whole numbers of records (0 or more)."
                if None not in bounds and bounds[0] > bounds[1]:
                    return f"{label}: min {bounds[0]} is above max {bounds[1]}."
            case cls.Rule.IN_SET:
                values = params.get("values")
                if not isinstance(values, list) or not values:
                    return f'{label} needs a list of values: {{"values": ["a", "b"]}}.'
                if wrong := [v for v in values if not _value_fits(v, kind)]:
                    return f"{label}: {wrong[0]!r} is not {_a_value(kind)}."
            case cls.Rule.MATCHES:
                pattern = params.get("pattern")
                if not isinstance(pattern, str) or not pattern:
                    return f'{label} needs a pattern: {{"pattern": "^[A-Z]{{2}}$"}}.'
                try:
                    re.compile(pattern)
                except re.error as error:
                    return f"{label}: {pattern!r} is not a valid regular expression ({error})."
            case cls.Rule.REFERENCES:
                if not all(isinstance(params.get(k), str) and params[k] for k in takes):
                    return f'{label} needs a container and a field: {{"container": "customers", "field": "id"}}.'
        return ""

    def _missing_reference(self, container: Container) -> str:
        """A References check naming a container or field the catalog does not hold."""
        name, field = self.params["container"], self.params["field"]
        other = container.datastore.containers.present().filter(name=name).first()
        if other is None:
            return f"{container.datastore} has no container {name!r}."
        if not other.fields.present().filter(name=field).exists():
            return f"{name} has no field {field!r}."
        return ""


def field_kind(field: Field) -> str | None:
    """The kind of a field's type; None when the source declared none (a SQLite view's computed
    column): nothing to go by, and SQLite compares anything, so every rule that needs a field
    fits it."""
    return kind_of(field.type) if field.type.strip() else None


def _range_problem(label: str, params: dict, kind: str | None) -> str:
    low, high = params.get("min"), params.get("max")
    if low is None and high is None:
        return f"{label} needs a min, a max or both."
    bounds = [b for b in (low, high) if b is not None]
    numbers, dates = all(_number(b) for b in bounds), all(_date(b) for b in bounds)
    if kind == NUMBER and not numbers:
        return f"{label} on a number field needs numbers for min and max."
    if kind == DATE and not dates:
        return f"{label} on a date field needs ISO dates for min and max, such as 2024-01-31."
    if not (numbers or dates):
        return f"{label} needs numbers (or ISO dates, on a date field) for min and max."
    if low is not None and high is not None:
        lowest, highest = (low, high) if numbers else (_date(low), _date(high))
        if _comparable(lowest, highest) and lowest > highest:
            return f"{label}: min {low} is above max {high}."
    return ""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _comparable(a: datetime | float, b: datetime | float) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return (a.tzinfo is None) == (b.tzinfo is None)
    return True


def _value_fits(value: Any, kind: str | None) -> bool:
    if kind == NUMBER:
        return _number(value)
    if kind == TEXT:
        return isinstance(value, str)
    if kind == DATE:
        return _date(value) is not None
    if kind == BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, str | bool) or _number(value)


def _a_value(kind: str | None) -> str:
    return {
        NUMBER: "a number",
        TEXT: "text (quote it)",
        DATE: "an ISO date",
        BOOLEAN: "true or false",
    }.get(kind, "a plain value (text, a number, true or false)")


class AnomalyQuerySet(models.QuerySet):
    def open(self) -> AnomalyQuerySet:
        return self.filter(status__in=Anomaly.OPEN)

    def seen_by(self, run_number: int) -> AnomalyQuerySet:
        """What a run found failing: new, still failing or failing again."""
        sightings = AnomalyEvent.objects.filter(
            anomaly=OuterRef("pk"), run_number=run_number, kind__in=AnomalyEvent.SIGHTINGS
        )
        return self.filter(Exists(sightings))

    def record(
        self, *, container, check, run_number: int, description: str, failed_count: int, examples
    ) -> Anomaly:
        """A scan found `check` failing on `container`: the one open anomaly of that check is
        seen again, else the last resolved one is reopened as recurring, else a new one. Call
        inside the scan's transaction; a concurrent scan that created it first is caught."""
        now = timezone.now()
        seen = {
            "description": description,
            "failed_count": failed_count,
            "examples": examples,
            "last_seen_run_number": run_number,
            "last_seen_at": now,
        }
        earlier = self.select_for_update().filter(container=container, quality_check=check)
        if anomaly := earlier.filter(status__in=Anomaly.OPEN).first():
            kind, note = AnomalyEvent.Kind.SEEN, "still failing"
        elif anomaly := earlier.filter(status=Anomaly.Status.RESOLVED).order_by("-id").first():
            kind, note = AnomalyEvent.Kind.REOPENED, "fails again: recurring"
            seen |= {"status": Anomaly.Status.ACTIVE, "recurring": True, "resolved_at": None}
            seen["resolved_by_run_number"] = None
        else:
            try:
                with transaction.atomic():
                    anomaly = self.create(
                        container=container,
                        quality_check=check,
                        run_id=run_number,
                        run_number=run_number,
                        **seen,
                    )
            except IntegrityError:  # another scan opened it a moment ago: see it again
                return self.record(
                    container=container,
                    check=check,
                    run_number=run_number,
                    description=description,
                    failed_count=failed_count,
                    examples=examples,
                )
            anomaly.events.create(kind=AnomalyEvent.Kind.FOUND, run_number=run_number, at=now)
            return anomaly
        Anomaly.objects.filter(pk=anomaly.pk).update(times_seen=F("times_seen") + 1, **seen)
        anomaly.events.create(kind=kind, run_number=run_number, at=now, note=note)
        return anomaly

    def pass_again(self, container_id: int, check_ids: list[int], checked_at, *, run_number) -> int:
        """Resolve the open anomalies of checks that passed on a container, when they were last
        seen before the scan checked it: one a concurrent scan saw failing since stays open."""
        passing = self.open().filter(
            container_id=container_id, quality_check_id__in=check_ids, last_seen_at__lt=checked_at
        )
        ids = list(passing.values_list("pk", flat=True))
        now = timezone.now()
        resolved = passing.filter(pk__in=ids).update(
            status=Anomaly.Status.RESOLVED, resolved_at=now, resolved_by_run_number=run_number
        )
        AnomalyEvent.objects.bulk_create(
            AnomalyEvent(
                anomaly_id=pk, kind=AnomalyEvent.Kind.RESOLVED, run_number=run_number, at=now
            )
            for pk in ids
        )
        return resolved


class Anomaly(models.Model):
    """A check that failed on real data during a scan. There is one open anomaly per check and
    container at most: a later scan that finds the same check failing sees it again."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        DUPLICATE = "duplicate", "Duplicate"
        INVALID = "invalid", "Invalid"
        DISCARDED = "discarded", "Discarded"

    OPEN = (Status.ACTIVE, Status.ACKNOWLEDGED)

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="anomalies")
    quality_check = models.ForeignKey(
        Check, null=True, blank=True, on_delete=models.SET_NULL, related_name="anomalies"
    )
    # The run that found it; run_number keeps its id once the run itself is deleted.
    run = models.ForeignKey(
        "activity.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="anomalies"
    )
    run_number = models.BigIntegerField(db_index=True)
    description = models.CharField(max_length=500)
    failed_count = models.BigIntegerField()
    examples = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_run_number = models.BigIntegerField(null=True, blank=True)
    # The last scan that found it failing (the counts and examples are that scan's).
    last_seen_run_number = models.BigIntegerField(null=True, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    times_seen = models.PositiveIntegerField(default=1)
    # It was resolved once and failed again.
    recurring = models.BooleanField(default=False)

    objects = AnomalyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "anomalies"
        indexes = [
            models.Index(fields=["container", "status"]),
            models.Index(fields=["quality_check", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["container", "quality_check"],
                condition=Q(status__in=["active", "acknowledged"]),
                name="anomaly_one_open_per_check",
            ),
        ]

    def __str__(self) -> str:
        return f"Anomaly {self.pk}: {self.description}"

    # What a person may turn it into, from where it is (SPEC §2's statuses).
    MOVES = {
        Status.ACTIVE: (
            Status.ACKNOWLEDGED,
            Status.RESOLVED,
            Status.INVALID,
            Status.DUPLICATE,
            Status.DISCARDED,
        ),
        Status.ACKNOWLEDGED: (
            Status.ACTIVE,
            Status.RESOLVED,
            Status.INVALID,
            Status.DUPLICATE,
            Status.DISCARDED,
        ),
        Status.RESOLVED: (Status.ACTIVE,),
        Status.INVALID: (Status.ACTIVE,),
        Status.DUPLICATE: (Status.ACTIVE,),
        Status.DISCARDED: (Status.ACTIVE,),
    }

    def moves_for(self, user) -> tuple[str, ...]:
        """The statuses this user may set now: editors of its datastore only."""
        return self.MOVES[self.status] if user.can_edit(self.container.datastore_id) else ()

    def set_status(self, status: str, *, by, note: str = "") -> None:
        """Acknowledge, resolve, reopen… as a person, recorded in its history. PermissionDenied
        without the editor level; ValidationError when it moved on, or when reopening it would
        make a second open anomaly of its check."""
        if not by.can_edit(self.container.datastore_id):
            raise PermissionDenied(
                f"You need the editor permission on {self.container.datastore} to change anomalies."
            )
        was = self.status
        if status not in self.MOVES.get(was, ()):
            raise ValidationError(
                f"Anomaly {self.pk} is {self.get_status_display().lower()}: it cannot become {status}."
            )
        changes = {"status": status}
        if status == self.Status.RESOLVED:
            changes |= {"resolved_at": timezone.now(), "resolved_by_run_number": None}
        elif status in self.OPEN:
            changes["resolved_at"] = None
        try:
            with transaction.atomic():
                if not Anomaly.objects.filter(pk=self.pk, status=was).update(**changes):
                    raise ValidationError(f"Anomaly {self.pk} changed meanwhile: look again.")
                kind = {
                    self.Status.ACKNOWLEDGED: AnomalyEvent.Kind.ACKNOWLEDGED,
                    self.Status.RESOLVED: AnomalyEvent.Kind.RESOLVED,
                }.get(status, AnomalyEvent.Kind.CHANGED)
                self.events.create(kind=kind, actor=by, note=note or f"{was} → {status}")
        except IntegrityError:
            raise ValidationError(
                f"Another anomaly of this check is open on {self.container}: it cannot be reopened."
            ) from None
        self.refresh_from_db()

    def get_absolute_url(self) -> str:
        return reverse("catalog:anomaly-detail", args=[self.pk])


class AnomalyEvent(models.Model):
    """The history of an anomaly: found, seen again, reopened, resolved, and what people did."""

    class Kind(models.TextChoices):
        FOUND = "found", "Found"
        SEEN = "seen", "Seen again"
        REOPENED = "reopened", "Failing again"
        RESOLVED = "resolved", "Resolved"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        CHANGED = "changed", "Status changed"

    SIGHTINGS = (Kind.FOUND, Kind.SEEN, Kind.REOPENED)

    anomaly = models.ForeignKey(Anomaly, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The run concerned, as a plain number: it outlives the run.
    run_number = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["run_number", "kind"], name="anomalyevent_run_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.note}".strip()
