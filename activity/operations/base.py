"""What an operation is to the engine, and the options every container-based one shares."""

from __future__ import annotations

import datetime
import decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError

from activity.rules import RunType
from catalog.models import Container, Datastore

if TYPE_CHECKING:
    from activity.engine import Job
    from activity.models import Run, RunContainer

Units = list[tuple[Container | None, str]]

# A record limit beyond any table Runboard would profile or copy, and within a LIMIT clause.
MAX_RECORD_LIMIT = 1_000_000_000


class Skipped(Exception):  # noqa: N818 - it names an outcome, not an error
    """Raised by an operation to mark a unit `skipped`, with the reason as its log entry."""


class OptionsForm(forms.Form):
    """Options of a run, from the launch form, the API or a parent run (a plain dict)."""

    containers = forms.MultipleChoiceField(
        required=False, help_text="Leave empty for all containers."
    )

    def __init__(self, *args, datastore: Datastore, target: Datastore | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.datastore = datastore
        self.target = target
        if "containers" in self.fields:
            names = datastore.containers.present().values_list("name", flat=True)
            self.fields["containers"].choices = [(name, name) for name in names]

    @classmethod
    def with_defaults(cls, options: dict) -> dict:
        """Options given as a dict (API, parent run) get each field's initial value when absent."""
        defaults = {name: f.initial for name, f in cls.base_fields.items() if f.initial is not None}
        return defaults | options

    def options(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class Operation:
    """One operation type. The engine calls start() once per run, then for each unit compute()
    (reads the source; writes nothing to Runboard) and save() (inside the unit's transaction),
    then finish() in the transaction that lands the run on success."""

    type: RunType
    unit_label = "tables"
    options_form: type[OptionsForm] = OptionsForm
    # (key, label) of the summary counters, in the order the expanded row shows them.
    counters: tuple[tuple[str, str], ...] = ()
    # The per-container counters the expanded row's container table shows.
    unit_columns: tuple[tuple[str, str], ...] = ()

    def clean_options(
        self, datastore: Datastore, options: dict, target: Datastore | None = None
    ) -> dict[str, Any]:
        form = self.options_form(
            self.options_form.with_defaults(options), datastore=datastore, target=target
        )
        if unknown := sorted(set(options) - set(form.fields)):
            raise ValidationError(f"Unknown option {', '.join(unknown)} for {self.type.label}.")
        if not form.is_valid():
            raise ValidationError(
                {
                    name: [e["message"] for e in errors]
                    for name, errors in form.errors.get_json_data().items()
                }
            )
        return form.options()

    def plan(self, datastore: Datastore, options: dict, target: Datastore | None = None) -> Units:
        """The units a new run of these options processes."""
        containers = datastore.containers.present()
        if names := options.get("containers"):
            containers = containers.filter(name__in=names)
        return [(container, container.name) for container in containers]

    def start(self, job: Job) -> Units | None:
        """Once per run, by the worker that starts it: connect, check; the units it discovers
        when they are not known at launch (Sync)."""
        job.source  # noqa: B018 - connecting is the check
        return None

    def compute(self, job: Job, unit: RunContainer) -> Any:
        raise NotImplementedError

    def save(self, job: Job, unit: RunContainer, result: Any) -> dict[str, int]:
        raise NotImplementedError

    def finish(self, job: Job) -> dict[str, int]:
        """Work that needs the whole run to have succeeded; returns counters to add."""
        return {}

    def summary(self, run: Run) -> str:
        """The Result column of a finished run."""
        return " · ".join(
            f"{run.counters.get(key, 0):,} {label.lower()}"
            for key, label in self.counters[:2]
            if key in run.counters
        )


def catalogued(unit: RunContainer) -> Container:
    """The unit's container, or Skipped when it left the catalog after the run was planned."""
    container = unit.container
    if container is None or container.removed_at:
        raise Skipped(f"{unit.name} is no longer in the catalog")
    return container


def json_safe(value: Any) -> Any:
    """A source value as JSON can hold it (for anomaly examples and profiles)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)
