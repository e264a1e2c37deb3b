from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q

from activity.models import Run
from catalog.connectors import SourceError, connect, redact
from catalog.models import Anomaly, Check, Container, Datastore, Field


@admin.register(Datastore)
class DatastoreAdmin(admin.ModelAdmin):
    list_display = ["name", "connection", "enrichment", "enrichment_prefix", "container_count"]
    search_fields = ["name", "connection_url"]
    autocomplete_fields = ["enrichment"]
    fields = ["name", "connection_url", "enrichment", "enrichment_prefix"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("enrichment")
            .annotate(container_count=Count("containers"))
        )

    def save_model(self, request, obj: Datastore, form, change) -> None:
        """Saved either way; a connection that fails now is worth a warning before a run fails."""
        super().save_model(request, obj, form, change)
        try:
            connect(obj.connection_url).close()
        except SourceError as error:
            messages.warning(
                request,
                f"Saved, but Runboard cannot connect to {obj.name} now: {error} Runs on it will "
                "fail until it answers.",
            )

    def get_deleted_objects(self, objs, request):
        """A datastore's runs do not block its deletion: the page says they go too (with an
        audit record each), and delete_model removes them first."""
        deleted, counts, perms, protected = super().get_deleted_objects(objs, request)
        runs = runs_of(objs)
        if count := runs.count():
            deleted = [
                *deleted,
                f"{count:,} run(s) on or into it, with their containers, logs and timelines: "
                "removed for good, each leaving an audit record.",
            ]
            protected = [p for p in protected if not str(p).startswith("Run: ")]
        return deleted, counts, perms, protected

    def delete_model(self, request, obj: Datastore) -> None:
        Run.purge(runs_of([obj]), by=request.user, reason=f"{request.user} (datastore deleted)")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        Run.purge(runs_of(queryset), by=request.user, reason=f"{request.user} (datastore deleted)")
        super().delete_queryset(request, queryset)

    @admin.display(description="Connection URL", ordering="connection_url")
    def connection(self, datastore: Datastore) -> str:
        return redact(datastore.connection_url)

    @admin.display(description="Containers", ordering="container_count")
    def container_count(self, datastore: Datastore) -> int:
        return datastore.container_count


def runs_of(datastores):
    """The runs that would block deleting these datastores: theirs, and Promotes into them."""
    ids = [datastore.pk for datastore in datastores]
    return Run.objects.filter(Q(datastore_id__in=ids) | Q(target_id__in=ids))


class FieldInline(admin.TabularInline):
    model = Field
    extra = 0
    fields = ["name", "type", "position", "removed_at"]
    readonly_fields = ["removed_at"]


@admin.register(Container)
class ContainerAdmin(admin.ModelAdmin):
    list_display = ["name", "datastore", "kind", "row_count", "profiled_at", "removed_at"]
    list_filter = ["datastore", "kind"]
    search_fields = ["name", "datastore__name"]
    list_select_related = ["datastore"]
    inlines = [FieldInline]


@admin.register(Check)
class CheckAdmin(admin.ModelAdmin):
    list_display = ["__str__", "rule", "status", "inferred", "container"]
    list_filter = ["status", "rule", "inferred", "container__datastore"]
    search_fields = ["container__name", "field__name", "description"]
    list_select_related = ["container", "field"]
    raw_id_fields = ["container", "field", "promoted_from"]


@admin.register(Anomaly)
class AnomalyAdmin(admin.ModelAdmin):
    list_display = ["id", "description", "status", "failed_count", "run_number", "created_at"]
    list_filter = ["status", "container__datastore"]
    search_fields = ["description", "container__name"]
    raw_id_fields = ["container", "quality_check", "run"]
