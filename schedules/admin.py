from __future__ import annotations

from django.contrib import admin

from schedules.models import Schedule


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "type",
        "datastore",
        "cron",
        "owner",
        "active",
        "next_fire_at",
        "last_outcome",
    ]
    list_filter = ["active", "type", "datastore", "last_outcome"]
    search_fields = ["name", "datastore__name", "owner__username"]
    list_select_related = ["datastore", "owner"]
    readonly_fields = [
        "next_fire_at",
        "last_fired_at",
        "last_outcome",
        "last_note",
        "last_run_number",
        "fires",
    ]
    actions = ["pause", "resume"]

    @admin.action(description="Pause the selected schedules")
    def pause(self, request, queryset) -> None:
        paused = queryset.filter(active=True).update(active=False, next_fire_at=None)
        self.message_user(request, f"Paused {paused} schedule(s).")

    @admin.action(description="Resume the selected schedules")
    def resume(self, request, queryset) -> None:
        for schedule in queryset.filter(active=False):
            schedule.active = True
            schedule.plan()
            schedule.save(update_fields=["active", "next_fire_at"])
        self.message_user(request, "Resumed the selected schedules.")

    def save_model(self, request, obj: Schedule, form, change) -> None:
        obj.plan()  # the next fire time follows the expression and the switch
        super().save_model(request, obj, form, change)
