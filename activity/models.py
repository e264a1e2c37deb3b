from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Exists, ExpressionWrapper, F, OuterRef, Q, Subquery, Value
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from activity import rules, tasks
from activity.operations import OPERATIONS
from activity.operations.base import Operation
from activity.rules import LIVE, TERMINAL, Action, InvalidTransition, RunStatus, RunType
from catalog.models import Anomaly, Container, Datastore


@lru_cache
def run_url_prefix() -> str:
    return reverse("activity:run-detail", args=[0]).removesuffix("0/")


class RunQuerySet(models.QuerySet):
    def visible_to(self, user) -> RunQuerySet:
        """Runs of the datastores the user has any level on: start every user query here. A
        deleted run is seen by nobody, even while it can still be brought back."""
        runs = self.filter(deleted_at__isnull=True)
        if user.is_admin:
            return runs
        return runs.filter(datastore_id__in=list(user.datastore_levels))

    def undeletable_by(self, user) -> RunQuerySet:
        """Runs deleted within the undo window, on datastores the user has a level on."""
        window = timezone.now() - timedelta(seconds=settings.RUNBOARD["UNDO_SECONDS"])
        runs = self.filter(deleted_at__gte=window)
        return runs if user.is_admin else runs.filter(datastore_id__in=list(user.datastore_levels))

    def live(self) -> RunQuerySet:
        return self.filter(status__in=LIVE)

    def terminal(self) -> RunQuerySet:
        return self.filter(status__in=TERMINAL)

    def looking_wrong(self, now: datetime | None = None) -> RunQuerySet:
        """Running runs well past their usual time or silent longer than expected, and finished
        successes that took 3× their usual time or more (see RunTiming)."""
        now = now or timezone.now()
        usual = RunTiming.objects.filter(datastore=OuterRef("datastore"), type=OuterRef("type"))
        elapsed = ExpressionWrapper(
            Value(now, output_field=models.DateTimeField()) - OuterRef("started_at"),
            output_field=models.DurationField(),
        )
        slow = usual.filter(slow_after__lt=elapsed)
        took_long = usual.filter(
            median__lte=ExpressionWrapper(
                OuterRef("duration") / 3, output_field=models.DurationField()
            )
        )
        running = Q(status=RunStatus.RUNNING) & (
            Q(heartbeat_at__lt=now - silence_expected()) | Exists(slow)
        )
        return self.filter(running | Q(status=RunStatus.SUCCESS) & Exists(took_long))

    def chain_ends(self) -> RunQuerySet:
        """Runs nobody resumed: a chain of resumes shown as its last run."""
        resumed = Run.objects.filter(parent=OuterRef("pk"), link=Run.Link.RESUME)
        return self.exclude(Exists(resumed))

    def with_links(self) -> RunQuerySet:
        """Annotate the id of each run's resume, so the rules need no query per row."""
        resume = Run.objects.filter(parent=OuterRef("pk"), link=Run.Link.RESUME).values("pk")[:1]
        return self.annotate(resumed_as_id=Subquery(resume))

    def for_rows(self) -> RunQuerySet:
        return self.with_links().select_related("datastore", "target", "triggered_by", "aborted_by")


class Run(models.Model):
    """One execution of an operation (SPEC §3). Its transitions are the methods below."""

    Type = RunType
    Status = RunStatus
    InvalidTransition = InvalidTransition

    class Link(models.TextChoices):
        RESUME = "resume", "Resume"
        RERUN = "rerun", "Rerun"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"

    type = models.CharField(max_length=16, choices=RunType.choices)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    datastore = models.ForeignKey(Datastore, on_delete=models.PROTECT, related_name="runs")
    target = models.ForeignKey(
        Datastore, null=True, blank=True, on_delete=models.PROTECT, related_name="runs_in"
    )
    options = models.JSONField(default=dict, blank=True)

    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.MANUAL)
    trigger_label = models.CharField(max_length=100, blank=True)
    schedule = models.ForeignKey(
        "schedules.Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # The queue entry that will start it (or continue it, once handed over): see tasks.py.
    task_id = models.CharField(max_length=64, blank=True)
    # A client-chosen key (a form's, an API call's) that makes a double submit return the same
    # run. Unique per user: another user's key finds nothing of theirs.
    request_key = models.CharField(max_length=64, null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Stored at the end, not derived, so "sort by duration" can use an index.
    duration = models.DurationField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the operation's own start (connect, discover the units) completed: a worker that
    # takes over a run whose starter died before that starts it again.
    begun_at = models.DateTimeField(null=True, blank=True)
    # How often the reaper queued it again after its workers died: bounded, see reaper.py.
    requeues = models.PositiveSmallIntegerField(default=0)
    abort_requested_at = models.DateTimeField(null=True, blank=True)
    # Deleted, but for the undo window (RUNBOARD_UNDO_SECONDS): hidden from everyone meanwhile,
    # then removed for good by a worker (purge_deleted), which writes the audit record.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    aborted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    link = models.CharField(max_length=8, choices=Link.choices, blank=True)

    message = models.TextField(blank=True)
    detail = models.TextField(blank=True)
    has_logs = models.BooleanField(default=False)
    counters = models.JSONField(default=dict, blank=True)
    # Progress, kept by the engine as it goes so that lists need no aggregate per row.
    containers_total = models.PositiveIntegerField(default=0)
    containers_done = models.PositiveIntegerField(default=0)
    containers_succeeded = models.PositiveIntegerField(default=0)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        # The Activity list pages by id (keyset), newest first, under any one of these filters.
        indexes = [
            models.Index(F("status"), F("id").desc(), name="run_status_idx"),
            models.Index(F("type"), F("id").desc(), name="run_type_idx"),
            models.Index(F("datastore"), F("id").desc(), name="run_datastore_idx"),
            models.Index(F("triggered_by"), F("id").desc(), name="run_trigger_idx"),
            models.Index(F("schedule"), F("id").desc(), name="run_schedule_idx"),
            models.Index(F("created_at"), name="run_created_idx"),
            models.Index(F("duration"), F("id"), name="run_duration_idx"),
            models.Index(F("id").desc(), condition=Q(has_logs=True), name="run_has_logs_idx"),
            models.Index(F("id"), condition=Q(status__in=LIVE), name="run_live_idx"),
            # The API's numbered pages find a page's ids from the index alone (an index-only
            # scan on PostgreSQL): a page 100,000 runs deep reads no row above it.
            models.Index(
                fields=["-id", "datastore"],
                condition=Q(deleted_at__isnull=True),
                name="run_alive_idx",
            ),
        ]
        constraints = [
            # A run is resumed once (SPEC §4): the database settles two simultaneous Resumes.
            models.UniqueConstraint(
                fields=["parent"], condition=Q(link="resume"), name="run_resumed_once"
            ),
            models.UniqueConstraint(
                fields=["triggered_by", "request_key"],
                condition=Q(request_key__isnull=False),
                name="run_request_key_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_type_display()}"

    def get_absolute_url(self) -> str:
        return reverse("activity:run-detail", args=[self.pk])

    @property
    def url(self) -> str:
        """get_absolute_url() without a reverse() per call: a list renders hundreds of them."""
        return f"{run_url_prefix()}{self.pk}/"

    @cached_property
    def resumed_as_id(self) -> int | None:
        """The id of this run's resume; RunQuerySet.with_links() annotates it for lists."""
        return self.children.filter(link=self.Link.RESUME).values_list("pk", flat=True).first()

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    @property
    def is_aborting(self) -> bool:
        return self.status == RunStatus.RUNNING and self.abort_requested_at is not None

    @property
    def elapsed(self) -> timedelta | None:
        if self.duration is not None:
            return self.duration
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def completed_with_logs(self) -> bool:
        """A success whose log holds warnings or errors (SPEC §3.2): still a success."""
        return self.status == RunStatus.SUCCESS and self.has_logs

    @property
    def operation(self) -> Operation:
        return OPERATIONS[self.type]

    def actions_for(self, user) -> list[Action]:
        return rules.available_actions(self, user)

    @property
    def summary(self) -> str:
        return self.operation.summary(self)

    # How it compares with its usual time (RunTiming); lists attach `usual` in one query.
    usual: RunTiming | None = None

    @property
    def eta(self) -> timedelta | None:
        """About how long until it ends, from its (datastore, type)'s usual duration."""
        if self.status != RunStatus.RUNNING or not self.usual or self.elapsed is None:
            return None
        return max(self.usual.median - self.elapsed, timedelta(0))

    @property
    def slower_than_usual(self) -> bool:
        """Live: well past its usual time. Finished: it took 3× its usual time or more."""
        if not self.usual or self.elapsed is None or self.status == RunStatus.QUEUED:
            return False
        if self.status == RunStatus.RUNNING:
            return self.elapsed > self.usual.slow_after
        return self.status == RunStatus.SUCCESS and self.elapsed >= 3 * self.usual.median

    @property
    def silent_for(self) -> timedelta | None:
        """How long a running run has had no heartbeat, once that is longer than expected."""
        if self.status != RunStatus.RUNNING or not self.heartbeat_at:
            return None
        silent = timezone.now() - self.heartbeat_at
        return silent if silent > silence_expected() else None

    def chain(self) -> list[Run]:
        """The runs this one resumed, oldest first, then itself: one query per link."""
        runs = [self]
        while runs[0].link == self.Link.RESUME and runs[0].parent_id:
            parent = Run.objects.filter(pk=runs[0].parent_id).first()
            if parent is None:
                break
            runs.insert(0, parent)
        return runs

    def coverage(self) -> tuple[int, int, list[int]] | None:
        """Over a chain of resumes: the containers that succeeded in any of its runs, of the
        first run's total, and the chain's run ids; None for a run that resumed nothing."""
        chain = self.chain()
        if len(chain) < 2:
            return None
        done = (
            RunContainer.objects.filter(run__in=chain, status=RunContainer.Status.SUCCESS)
            .values("name")
            .distinct()
            .count()
        )
        return done, chain[0].containers_total, [run.pk for run in chain]

    @property
    def failed_units(self) -> int:
        return self.containers_done - self.containers_succeeded

    @property
    def unfinished(self) -> int:
        """How many containers a resume of this run would pick up."""
        return self.containers_total - self.containers_succeeded

    # Launching -----------------------------------------------------------------------------

    @classmethod
    def launch(
        cls,
        type: RunType,
        datastore: Datastore,
        *,
        by,
        options: dict | None = None,
        target: Datastore | None = None,
        trigger: Trigger = Trigger.MANUAL,
        request_key: str | None = None,
        schedule=None,
    ) -> Run:
        """Create a queued run with its containers, queued in the same transaction.

        Raises InvalidTransition without the editor permission, and ValidationError for options
        the operation refuses. A repeated request_key returns the run it created first.
        """
        rules.authorize_launch(by, datastore, target)
        if earlier := cls.submitted_before(by, request_key):
            return earlier
        operation = OPERATIONS[type]
        options = operation.clean_options(datastore, options or {}, target=target)
        units = operation.plan(datastore, options, target=target)
        run, _ = cls._create(
            type=type,
            datastore=datastore,
            target=target,
            options=options,
            units=units,
            by=by,
            trigger=Run.Trigger.SCHEDULE if schedule else trigger,
            request_key=request_key,
            schedule=schedule,
            trigger_label=schedule.name if schedule else "",
        )
        return run

    @classmethod
    def submitted_before(cls, by, request_key: str | None) -> Run | None:
        """The run this user's form (or API call) with this one-time key already created."""
        if not request_key or by is None:
            return None
        return cls.objects.filter(triggered_by=by, request_key=request_key).first()

    @classmethod
    def _create(
        cls, *, units, by, parent=None, link="", request_key=None, **fields
    ) -> tuple[Run, bool]:
        """The new run and True, or the run this key already created and False."""

        try:
            with transaction.atomic():
                run = cls.objects.create(
                    counters={key: 0 for key, _ in OPERATIONS[fields["type"]].counters},
                    triggered_by=by,
                    parent=parent,
                    link=link,
                    request_key=request_key,
                    **fields,
                )
                run.add_units(units)
                RunDay.count(run, +1)
                note = f"{link} of #{parent.pk}" if parent else ""
                run.record(RunEvent.Kind.CREATED, by=by, related=parent, note=note)
                run.log(f"Queued by {by or 'System'}" + (f" · {note}" if note else ""))
                # In the run's own transaction, not on commit: the queue is a table of this
                # database (activity/tasks.py), so the run and its queue entry exist together.
                run.enqueue()
        except IntegrityError:
            if earlier := cls.submitted_before(by, request_key):
                return earlier, False
            raise
        return run, True

    def enqueue(self) -> None:
        """Queue this run for a worker, in the caller's transaction. The entry's id is kept:
        the reaper re-queues a live run whose entry is gone or held by a dead worker."""
        self.task_id = tasks.enqueue(self.pk)
        Run.objects.filter(pk=self.pk).update(task_id=self.task_id)

    def add_units(self, units) -> None:
        """Add containers (or assets) to process: at launch, or when a Sync discovers them."""
        start = self.containers_total
        RunContainer.objects.bulk_create(
            RunContainer(run=self, container=container, name=name, position=start + position)
            for position, (container, name) in enumerate(units)
        )
        self.containers_total = start + len(units)
        Run.objects.filter(pk=self.pk).update(containers_total=self.containers_total)

    @classmethod
    def receive(
        cls, container: Container, records, *, by, filename: str = "", trigger=Trigger.MANUAL
    ) -> Run:
        """The External Scan run of these records (validated by read_csv or read_objects)."""
        with transaction.atomic():
            run = cls.launch(
                RunType.EXTERNAL_SCAN,
                container.datastore,
                by=by,
                options={"container": container.name, "filename": filename},
                trigger=trigger,
            )
            RunUpload.objects.create(
                run=run,
                filename=filename,
                columns=records.columns,
                records=records.count,
                data=records.data,
            )
        return run

    # Transitions asked for by people ---------------------------------------------------------

    def perform(
        self, action: Action, *, by, key: str | None = None, trigger: Trigger = Trigger.MANUAL
    ) -> Run | None:
        """Take one action of SPEC §4 for a person (page, API, bulk): the one entry point.
        Returns the new run of a Resume or Rerun. Raises InvalidTransition when the rules or
        the run's state refuse it, ValidationError when a Rerun's options no longer hold."""
        match action:
            case Action.ABORT:
                self.abort(by=by)
            case Action.RESUME:
                return self.resume(by=by, trigger=trigger)
            case Action.RERUN:
                return self.rerun(by=by, request_key=key, trigger=trigger)
            case Action.DELETE:
                self.delete_by(by)
        return None

    def abort(self, by) -> None:
        """Queued: aborted at once. Running: abort requested; the worker lands it on aborted."""
        rules.authorize(self, Action.ABORT, by)
        now = timezone.now()
        with transaction.atomic():
            live = Run.objects.filter(pk=self.pk)
            if live.filter(status=RunStatus.QUEUED).update(
                status=RunStatus.ABORTED, abort_requested_at=now, aborted_by=by, finished_at=now
            ):
                self.record(RunEvent.Kind.ABORT_REQUESTED, by=by, at=now)
                self.record(RunEvent.Kind.FINISHED, note=RunStatus.ABORTED, at=now)
                self.log(f"Aborted by {by} before it started")
            elif live.filter(status=RunStatus.RUNNING, abort_requested_at__isnull=True).update(
                abort_requested_at=now, aborted_by=by
            ):
                self.record(RunEvent.Kind.ABORT_REQUESTED, by=by, at=now)
                self.log(f"Abort requested by {by}")
            else:
                self._refuse(Action.ABORT)
        self.refresh_from_db()

    def resume(self, by, trigger: Trigger = Trigger.MANUAL) -> Run:
        """A new run, linked to this one, for the containers that did not finish with success."""
        rules.authorize(self, Action.RESUME, by)
        with transaction.atomic():
            parent = self._locked()
            rules.authorize(parent, Action.RESUME, by)
            unfinished = parent.units.exclude(status=RunContainer.Status.SUCCESS)
            units = [(unit.container, unit.name) for unit in unfinished.select_related("container")]
            try:
                with transaction.atomic():
                    child = parent._spawn(self.Link.RESUME, units, by, trigger=trigger)
            except IntegrityError:
                self._refuse(Action.RESUME)
        return child

    def rerun(self, by, request_key: str | None = None, trigger: Trigger = Trigger.MANUAL) -> Run:
        """A new run, linked to this one, with the same options, that processes everything."""
        rules.authorize(self, Action.RERUN, by)
        if earlier := Run.submitted_before(by, request_key):
            return earlier
        with transaction.atomic():
            parent = self._locked()
            # Under the lock: a twin submit that held it first has committed its run by now.
            if earlier := Run.submitted_before(by, request_key):
                return earlier
            rules.authorize(parent, Action.RERUN, by)
            # The same options, checked again: a container they name may have gone since.
            options = self.operation.clean_options(parent.datastore, parent.options, parent.target)
            units = self.operation.plan(parent.datastore, options, target=parent.target)
            return parent._spawn(
                self.Link.RERUN, units, by, request_key=request_key, trigger=trigger
            )

    def delete_by(self, by) -> None:
        """Remove a terminal run from the Activity, for everyone at once; its artifacts stay.
        It can be brought back (undelete) for RUNBOARD_UNDO_SECONDS; then a worker removes it
        for good and an audit record remains."""
        rules.authorize(self, Action.DELETE, by)
        with transaction.atomic():
            run = self._locked()
            rules.authorize(run, Action.DELETE, by)
            hidden = Run.objects.filter(
                pk=run.pk, status__in=TERMINAL, deleted_at__isnull=True
            ).update(deleted_at=timezone.now(), deleted_by=by)
            if not hidden:
                self._refuse(Action.DELETE)
            RunDay.count(run, -1)
        self.refresh_from_db()

    def undelete(self, by) -> None:
        """Bring back a run deleted within the undo window, as it was."""
        rules.authorize_undelete(self, by)
        window = timezone.now() - timedelta(seconds=settings.RUNBOARD["UNDO_SECONDS"])
        with transaction.atomic():
            if not Run.objects.filter(pk=self.pk, deleted_at__gte=window).update(
                deleted_at=None, deleted_by=None
            ):
                raise InvalidTransition(f"Run #{self.pk} is gone for good: too late to undo.")
            RunDay.count(self, +1)
        self.refresh_from_db()

    @classmethod
    def purge(cls, runs: RunQuerySet, *, by=None, reason: str = "") -> int:
        """Remove these terminal runs for good, with set-based statements (the collector would
        load every container and log line of a big run to cascade them one by one), leaving an
        audit record for each. What they produced stays: anomalies keep their run's number."""
        with transaction.atomic():
            doomed = list(
                runs.filter(status__in=TERMINAL).select_for_update().select_related("datastore")
            )
            ids = [run.pk for run in doomed]
            if not ids:
                return 0
            Anomaly.objects.filter(run_id__in=ids).update(run=None)
            Run.objects.filter(parent_id__in=ids).update(parent=None)
            for model in (RunLog, RunEvent, RunUpload, RunContainer):
                # Raw: no signals listen to these rows, and their own children went first.
                model.objects.filter(run_id__in=ids)._raw_delete(connection.alias)
            DeletedRun.objects.bulk_create(
                DeletedRun(
                    run_number=run.pk,
                    type=run.type,
                    status=run.status,
                    datastore=run.datastore,
                    datastore_name=run.datastore.name,
                    run_created_at=run.created_at,
                    deleted_by=by or run.deleted_by,
                    deleted_by_name=reason or str(by or run.deleted_by or "System"),
                    deleted_at=run.deleted_at or timezone.now(),
                )
                for run in doomed
            )
            Run.objects.filter(pk__in=ids)._raw_delete(connection.alias)
        return len(ids)

    def _locked(self) -> Run:
        """This run re-read under a row lock (PostgreSQL; SQLite transactions are IMMEDIATE)."""
        run = Run.objects.select_for_update().filter(pk=self.pk).select_related("datastore").first()
        if run is None or run.deleted_at:
            raise InvalidTransition(f"Run #{self.pk} no longer exists: someone deleted it.")
        return run

    def _refuse(self, action: Action):
        try:
            self.refresh_from_db()
        except Run.DoesNotExist:
            self.deleted_at = timezone.now()
        if self.deleted_at:
            raise InvalidTransition(f"Run #{self.pk} no longer exists: someone deleted it.")
        self.__dict__.pop("resumed_as_id", None)
        raise InvalidTransition(
            rules.state_refusal(self, action) or f"Run #{self.pk} changed: try again."
        )

    def _spawn(
        self,
        link: Link,
        units,
        by,
        request_key: str | None = None,
        trigger: Trigger = Trigger.MANUAL,
    ) -> Run:
        child, created = Run._create(
            type=self.type,
            datastore=self.datastore,
            target=self.target,
            options=self.options,
            units=units,
            by=by,
            parent=self,
            link=link,
            request_key=request_key,
            trigger=trigger,
        )
        if created:  # a twin submit that lost the race returns the winner's run, silently
            kind = RunEvent.Kind.RESUMED_AS if link == self.Link.RESUME else RunEvent.Kind.RERUN_AS
            self.record(kind, by=by, related=child)
        return child

    # Transitions made by workers ---------------------------------------------------------------

    def start(self, worker: str) -> bool:
        """queued → running. False when another worker started it or it was aborted first."""
        now = timezone.now()
        if not Run.objects.filter(pk=self.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
        ):
            return False
        self.record(RunEvent.Kind.STARTED, note=worker, at=now)
        self.log(f"Started on {worker}")
        self.refresh_from_db()
        return True

    @classmethod
    def add_progress(
        cls,
        pk: int,
        counters: dict[str, int],
        *,
        done: int = 0,
        succeeded: int = 0,
        warned: bool = False,
    ) -> bool:
        """Add a container's outcome to a running run — its counters, progress, heartbeat and
        has-logs flag — in one conditional UPDATE; False when the run is no longer running.
        The row stays locked until the caller's transaction commits: call it late in one."""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        changes = [
            "containers_done = containers_done + %s",
            "containers_succeeded = containers_succeeded + %s",
            "heartbeat_at = %s",
        ]
        params: list = [done, succeeded, now]
        if warned:
            changes.append("has_logs = %s")
            params.append(True)
        if counters:
            # Merged in the statement, not read and written back: no second round trip, and
            # no lock taken before the container's work is done.
            merged, merge_params = json_add("counters", counters)
            changes.append(f"counters = {merged}")
            params += merge_params
        table = connection.ops.quote_name(cls._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {', '.join(changes)} WHERE id = %s AND status = %s",
                [*params, pk, RunStatus.RUNNING],
            )
            return cursor.rowcount == 1

    def land(self, status: RunStatus, detail: str = "") -> bool:
        """running → terminal, exactly once however many workers try. Call inside atomic()."""
        now = timezone.now()
        landed = Run.objects.filter(pk=self.pk, status=RunStatus.RUNNING).update(
            status=status,
            finished_at=now,
            duration=now - F("started_at"),
            detail=detail,
            heartbeat_at=None,
        )
        if landed:
            self.record(RunEvent.Kind.FINISHED, note=status, at=now)
            self.refresh_from_db()
            if self.has_logs:
                self.message = self.log_summary()
                Run.objects.filter(pk=self.pk).update(message=self.message)
            if status == RunStatus.SUCCESS:
                RunTiming.learn(self)
        return bool(landed)

    def log_summary(self) -> str:
        """What its log holds worth reading, in a line: the API's `message` (SPEC §7)."""
        worth = self.logs.exclude(level=RunLog.Level.INFO).order_by("id")
        counts = dict(worth.order_by().values_list("level").annotate(n=models.Count("id")))
        first = worth.values_list("unit__name", "message").first()
        parts = [
            f"{n} {level}{'s' if n != 1 else ''}"
            for level in (RunLog.Level.ERROR, RunLog.Level.WARNING)
            if (n := counts.get(level))
        ]
        where = f"{first[0]}: " if first and first[0] else ""
        return (
            f"{' and '.join(parts)} in its log; the first: {where}{first[1]}"[:1000]
            if first
            else ""
        )

    # Timeline and log -------------------------------------------------------------------------

    def record(self, kind, *, by=None, related: Run | None = None, note: str = "", at=None):
        return RunEvent.objects.create(
            run=self,
            kind=kind,
            at=at or timezone.now(),
            actor=by,
            actor_name=str(by) if by else "",
            related_run_number=related.pk if related else None,
            note=note,
        )

    def log(self, message: str, level: str = "info", unit: RunContainer | None = None) -> RunLog:
        entry = RunLog.objects.create(run=self, unit=unit, level=level, message=message)
        if level != RunLog.Level.INFO and not self.has_logs:
            Run.objects.filter(pk=self.pk).update(has_logs=True)
            self.has_logs = True
        return entry


def json_add(column: str, numbers: dict[str, int]) -> tuple[str, list]:
    """SQL for the JSON object in `column` with `numbers` added to its values, key by key."""
    if connection.vendor == "postgresql":
        pairs = ", ".join(f"%s::text, COALESCE(({column} ->> %s)::bigint, 0) + %s" for _ in numbers)
        params = [value for key, n in numbers.items() for value in (key, key, n)]
        return f"{column} || jsonb_build_object({pairs})", params
    pairs = ", ".join(f"%s, COALESCE(json_extract({column}, %s), 0) + %s" for _ in numbers)
    params = [value for key, n in numbers.items() for value in (f'$."{key}"', f'$."{key}"', n)]
    return f"json_set({column}, {pairs})", params


class RunContainerQuerySet(models.QuerySet):
    def reopen(self, *, lost: bool = False) -> int:
        """Back to unfinished, whoever held them: their work was never committed. `lost`:
        because their worker died, which counts against the container."""
        return self.filter(status=RunContainer.Status.RUNNING).update(
            status=RunContainer.Status.PENDING,
            started_at=None,
            heartbeat_at=None,
            worker="",
            losses=F("losses") + int(lost),
        )

    def held_by(self, worker: str) -> RunContainerQuerySet:
        return self.filter(status=RunContainer.Status.RUNNING, worker=worker)

    def lost(self, deadline: datetime) -> RunContainerQuerySet:
        """Running containers whose worker stopped beating their heartbeat before `deadline`."""
        return self.filter(status=RunContainer.Status.RUNNING, heartbeat_at__lt=deadline)


class RunContainer(models.Model):
    """One requested container (or asset) of a run, with its own progress: Resume relies on it.

    A worker owns the containers it claimed: every later change is conditional on the container
    still running under that worker, so a worker whose container the reaper took back (its
    heartbeat lapsed) can no longer finish it: it gets NotOurs and rolls its work back.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        SKIPPED = "skipped", "Skipped"

    FINISHED = (Status.SUCCESS, Status.FAILURE, Status.SKIPPED)
    # A container whose worker died this many times is given up (it may be what kills them).
    MAX_LOSSES = 2

    class NotOurs(Exception):  # noqa: N818 - it names a situation, not an error
        """The container was taken back from this worker, or finished by another one."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="units")
    container = models.ForeignKey(
        Container, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=64, blank=True)
    # How many workers died holding it: a container that keeps killing workers is given up.
    losses = models.PositiveSmallIntegerField(default=0)
    counters = models.JSONField(default=dict, blank=True)
    # What the operation remembers of this unit beyond counters (a scan: the checks that passed).
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    objects = RunContainerQuerySet.as_manager()

    class Meta:
        ordering = ["run", "position"]
        indexes = [
            models.Index(fields=["run", "status", "position"], name="runcontainer_claim_idx")
        ]

    def __str__(self) -> str:
        return f"{self.name} of run #{self.run_id}"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @classmethod
    def claim_next(cls, run_id: int, worker: str) -> RunContainer | None:
        """Take the run's next pending container for this worker: one conditional UPDATE …
        RETURNING (PostgreSQL, SQLite ≥ 3.35), so no two workers get the same one. On
        PostgreSQL the row is picked with SKIP LOCKED: workers claiming at the same instant
        take the next rows instead of waiting for each other on the first. Django's ORM has no
        RETURNING for an update, hence the raw statement."""
        table = connection.ops.quote_name(cls._meta.db_table)
        skip = (
            " FOR UPDATE SKIP LOCKED"
            if connection.features.has_select_for_update_skip_locked
            else ""
        )
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        pending = cls.Status.PENDING
        claimed = list(
            cls.objects.raw(
                f"UPDATE {table} SET status = %s, worker = %s, started_at = %s, heartbeat_at = %s "
                f"WHERE id = (SELECT id FROM {table} WHERE run_id = %s AND status = %s "
                f"ORDER BY position LIMIT 1{skip}) AND status = %s RETURNING *",
                [cls.Status.RUNNING, worker, now, now, run_id, pending, pending],
            )
        )
        return claimed[0] if claimed else None

    def _mine(self) -> RunContainerQuerySet:
        return RunContainer.objects.filter(pk=self.pk).held_by(self.worker)

    def finish(self, status: str, counters: dict | None = None, error: str = "") -> None:
        """Record the outcome; NotOurs (roll the caller's transaction back) if it is no longer
        this worker's to finish. Once per container, on the engine's hot path: the statement
        is written out (what `self._mine().update(...)` would send, without building it)."""
        ops, meta = connection.ops, self._meta
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ops.quote_name(meta.db_table)} SET status = %s, container_id = %s, "
                "finished_at = %s, counters = %s, result = %s, error = %s, heartbeat_at = NULL "
                "WHERE id = %s AND status = %s AND worker = %s",
                [
                    status,
                    self.container_id,  # a Sync finds (or creates) the container as it goes
                    ops.adapt_datetimefield_value(timezone.now()),
                    meta.get_field("counters").get_db_prep_save(counters or {}, connection),
                    meta.get_field("result").get_db_prep_save(self.result, connection),
                    error,
                    self.pk,
                    self.Status.RUNNING,
                    self.worker,
                ],
            )
            if cursor.rowcount != 1:
                raise self.NotOurs(
                    f"{self.name} of run #{self.run_id} is no longer {self.worker}'s"
                )

    def release(self) -> bool:
        """Back to unfinished after this worker rolled its work back (an abort, a stop)."""
        return bool(self._mine().reopen())

    def beat(self, at: datetime) -> bool:
        return bool(self._mine().update(heartbeat_at=at))


class RunLog(models.Model):
    """An append-only log entry of a run, optionally about one of its containers."""

    class Level(models.TextChoices):
        INFO = "info", "info"
        WARNING = "warning", "warning"
        ERROR = "error", "error"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="logs")
    unit = models.ForeignKey(
        RunContainer, null=True, blank=True, on_delete=models.CASCADE, related_name="logs"
    )
    at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"], name="runlog_run_idx")]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


class Worker(models.Model):
    """A worker process, as it last reported itself alive. Its name is the worker id its queue
    entries carry; the reaper reads who is alive here, and so does the status page."""

    name = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def beat(cls, name: str) -> None:
        now = timezone.now()
        if not cls.objects.filter(name=name).update(seen_at=now):
            cls.objects.update_or_create(name=name, defaults={"seen_at": now, "started_at": now})

    @classmethod
    def alive(cls, deadline: datetime) -> set[str]:
        return set(cls.objects.filter(seen_at__gte=deadline).values_list("name", flat=True))


class RunEvent(models.Model):
    """The timeline of a run: who did what, when."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STARTED = "started", "Started"
        ABORT_REQUESTED = "abort_requested", "Abort requested"
        FINISHED = "finished", "Finished"
        RESUMED_AS = "resumed_as", "Resumed as"
        RERUN_AS = "rerun_as", "Rerun as"
        ABORT_TOO_LATE = "abort_too_late", "Abort came too late"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    related_run_number = models.BigIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.note}".strip()


class DeletedRun(models.Model):
    """The audit record a deleted run leaves behind; it outlives the run."""

    run_number = models.BigIntegerField(unique=True)
    type = models.CharField(max_length=16, choices=RunType.choices)
    status = models.CharField(max_length=8, choices=RunStatus.choices)
    datastore = models.ForeignKey(
        Datastore, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    datastore_name = models.CharField(max_length=100)
    run_created_at = models.DateTimeField()
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_by_name = models.CharField(max_length=150)
    deleted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-deleted_at"]

    def __str__(self) -> str:
        return f"#{self.run_number} deleted by {self.deleted_by_name}"


def silence_expected() -> timedelta:
    """A worker beats every HEARTBEAT seconds: silence much longer than that is worth saying."""
    return timedelta(seconds=max(10.0, 5 * settings.RUNBOARD["HEARTBEAT"]))


class RunTiming(models.Model):
    """How long the successful runs of one type on one datastore usually take: the last SAMPLES
    durations, and what they say (median, when a live run is slower than usual). Kept as runs
    land, so a page reads one small row per (datastore, type), never the history."""

    SAMPLES = 20
    MINIMUM = 5  # fewer successful runs than this say nothing yet

    datastore = models.ForeignKey(Datastore, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=16, choices=RunType.choices)
    seconds = models.JSONField(default=list)
    median = models.DurationField(null=True)
    slow_after = models.DurationField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["datastore", "type"], name="runtiming_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.type} on datastore {self.datastore_id}: about {self.median}"

    @classmethod
    def learn(cls, run: Run) -> None:
        """Add a successful run's duration (inside its landing transaction)."""
        if run.duration is None:
            return
        timing, _ = cls.objects.select_for_update().get_or_create(
            datastore_id=run.datastore_id, type=run.type
        )
        timing.seconds = [*timing.seconds, run.duration.total_seconds()][-cls.SAMPLES :]
        if len(timing.seconds) >= cls.MINIMUM:
            middle = statistics.median(timing.seconds)
            spread = statistics.median(abs(s - middle) for s in timing.seconds)
            timing.median = timedelta(seconds=middle)
            # Well past: beyond 3 spreads and half as long again, so that a steady type with a
            # tiny spread is not flagged for being a second late.
            timing.slow_after = timedelta(seconds=max(middle + 3 * spread, 1.5 * middle, 10))
        timing.save()

    @classmethod
    def attach(cls, runs: list[Run]) -> list[Run]:
        """Give each run its usual timing, in one query for the whole page."""
        pairs = {(run.datastore_id, run.type) for run in runs}
        if not pairs:
            return runs
        known = Q()
        for datastore_id, type in pairs:
            known |= Q(datastore_id=datastore_id, type=type)
        timings = {
            (t.datastore_id, t.type): t for t in cls.objects.filter(known, median__isnull=False)
        }
        for run in runs:
            run.usual = timings.get((run.datastore_id, run.type))
        return runs


class RunDay(models.Model):
    """How many runs each datastore had each day: the heatmap reads this, not the history."""

    datastore = models.ForeignKey(Datastore, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["datastore", "day"], name="runday_unique"),
        ]

    @classmethod
    def count(cls, run: Run, change: int) -> None:
        """Add `change` to the run's day, in the caller's transaction (an upsert: no race)."""
        table = connection.ops.quote_name(cls._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (datastore_id, day, runs) VALUES (%s, %s, %s) "
                f"ON CONFLICT (datastore_id, day) DO UPDATE SET runs = "
                f"CASE WHEN {table}.runs + %s < 0 THEN 0 ELSE {table}.runs + %s END",
                [run.datastore_id, run.created_at.date(), max(change, 0), change, change],
            )


class RunUpload(models.Model):
    """The records an External Scan received, kept for the worker that checks them: compressed
    CSV in the database, so that a worker on any machine reads them, a row at a time."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="upload")
    filename = models.CharField(max_length=255)
    columns = models.JSONField()
    records = models.PositiveIntegerField()
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"{self.filename} of run #{self.run_id}"
