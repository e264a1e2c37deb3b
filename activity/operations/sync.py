"""Sync: read the source's catalog; create, update and prune containers and their fields."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from activity.operations.base import Operation, OptionsForm, Skipped, Units
from activity.rules import RunType
from catalog.connectors import SourceError, Table
from catalog.models import Container, Field


class SyncOptions(OptionsForm):
    containers = None
    include = forms.MultipleChoiceField(
        choices=[("tables", "Tables"), ("views", "Views")],
        initial=["tables", "views"],
        help_text="What to catalog.",
    )
    prune = forms.BooleanField(required=False, help_text="Mark containers gone from the source.")
    recreate = forms.BooleanField(
        required=False, help_text="Restore pruned containers found again."
    )


class Sync(Operation):
    type = RunType.SYNC
    options_form = SyncOptions
    counters = (
        ("containers_found", "Found"),
        ("containers_added", "Added"),
        ("containers_changed", "Changed"),
        ("containers_removed", "Removed"),
    )
    unit_columns = (("containers_added", "Added"), ("containers_changed", "Changed"))

    def plan(self, datastore, options, target=None):
        return []  # the inventory is discovered when the run starts

    def start(self, job) -> Units:
        include = kinds(job.options)
        found = [table for table in self.inventory(job).values() if table.kind in include]
        known = {c.name: c for c in job.run.datastore.containers.all()}
        views = sum(table.kind == "view" for table in found)
        job.log(f"Found {len(found) - views} tables and {views} views in the source")
        return [(known.get(table.name), table.name) for table in found]

    def inventory(self, job) -> dict[str, Table]:
        if "inventory" not in job.memo:
            job.memo["inventory"] = {table.name: table for table in job.source.tables()}
        return job.memo["inventory"]

    def compute(self, job, unit) -> Table:
        table = self.inventory(job).get(unit.name)
        if table is None:
            raise Skipped(f"{unit.name} left the source during the sync")
        if table.error:
            raise SourceError(f"cannot read the columns of {table.kind} {unit.name}: {table.error}")
        return table

    def save(self, job, unit, table: Table) -> dict[str, int]:
        counters = {"containers_found": 1}
        container, created = Container.objects.get_or_create(
            datastore=job.run.datastore, name=table.name, defaults={"kind": table.kind}
        )
        restored = container.removed_at is not None
        if restored and not job.options["recreate"]:
            raise Skipped(f"{table.name} was pruned: launch a Sync with recreate to restore it")
        changed = container.kind != table.kind
        if restored or changed:
            container.removed_at, container.kind = None, table.kind
            container.save()
        changed |= self.sync_fields(container, table)
        unit.container = container  # recorded when the engine finishes the unit
        if created or restored:
            counters["containers_added"] = 1
        elif changed:
            counters["containers_changed"] = 1
        return counters

    @staticmethod
    def sync_fields(container: Container, table: Table) -> bool:
        """The container's fields as the source has them: one statement writes the new and the
        changed ones, another marks those gone."""
        fields = {field.name: field for field in container.fields.all()}
        written = []
        for position, column in enumerate(table.columns):
            field = fields.pop(column.name, None)
            if field is None or (field.type, field.position, field.removed_at) != (
                column.type,
                position,
                None,
            ):
                written.append(
                    Field(
                        container=container, name=column.name, type=column.type, position=position
                    )
                )
        Field.objects.bulk_create(
            written,
            update_conflicts=True,
            unique_fields=["container", "name"],
            update_fields=["type", "position", "removed_at"],
        )
        gone = [field.pk for field in fields.values() if field.removed_at is None]
        Field.objects.filter(pk__in=gone).update(removed_at=timezone.now())
        return bool(written or gone)

    def finish(self, job) -> dict[str, int]:
        if not job.options["prune"]:
            return {}
        found = job.run.units.values("name")
        gone = job.run.datastore.containers.present().filter(kind__in=kinds(job.options))
        gone = gone.exclude(name__in=found)
        removed = gone.update(removed_at=timezone.now())
        if removed:
            job.log(f"Pruned {removed} containers no longer in the source")
        return {"containers_removed": removed}

    def summary(self, run) -> str:
        c = run.counters
        return (
            f"{c.get('containers_found', 0)} found · {c.get('containers_added', 0)} added · "
            f"{c.get('containers_changed', 0)} changed · {c.get('containers_removed', 0)} removed"
        )


def kinds(options: dict) -> list[str]:
    """The container kinds a sync with these options catalogs (and may prune)."""
    return [
        Container.Kind.TABLE if i == "tables" else Container.Kind.VIEW for i in options["include"]
    ]
