from __future__ import annotations

from django.contrib import admin

from activity.models import DeletedRun


@admin.register(DeletedRun)
class DeletedRunAdmin(admin.ModelAdmin):
    """The audit trail of deleted runs: read-only, it outlives the runs themselves."""

    list_display = [
        "run_number",
        "type",
        "status",
        "datastore_name",
        "deleted_by_name",
        "deleted_at",
    ]
    list_filter = ["type", "status"]
    search_fields = ["run_number", "datastore_name", "deleted_by_name"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
