from __future__ import annotations

from django.contrib import admin
from django.db.models import Count

from catalog.connectors import redact
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

    @admin.display(description="Connection URL", ordering="connection_url")
    def connection(self, datastore: Datastore) -> str:
        return redact(datastore.connection_url)

    @admin.display(description="Containers", ordering="container_count")
    def container_count(self, datastore: Datastore) -> int:
        return datastore.container_count


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
