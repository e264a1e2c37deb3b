from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count
from django.utils import timezone

from accounts.models import ApiToken, Team, User

# Django's groups grant nothing in Runboard (roles and teams do): no page for them.
admin.site.unregister(Group)

ROLES = (
    "The role is what the user is in Runboard as a whole: an admin does everything on every "
    "datastore, a manager also manages teams here, a member has only what their teams give. "
    "A team's level (reporter … editor) is what its members may do on the team's datastores."
)


class MembershipInline(admin.TabularInline):
    """The user's teams, on their page: what they may see and do comes from these."""

    model = Team.members.through
    extra = 0
    verbose_name = "team"
    verbose_name_plural = "teams (their level decides what the user sees and does)"
    autocomplete_fields = ["team"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "role", "team_list", "is_active", "last_login"]
    list_filter = ["role", "is_active", "is_superuser", "teams"]
    inlines = [MembershipInline]
    # Django's groups and single permissions grant nothing in Runboard: roles and teams do.
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Personal info", {"fields": ["first_name", "last_name", "email"]}),
        ("Runboard", {"fields": ["role"], "description": ROLES}),
        ("Status", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Important dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        *BaseUserAdmin.add_fieldsets,
        ("Runboard", {"fields": ["email", "role"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("teams")

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # is_staff follows the role (User.save). The rest would let an admin-role user grant what
        # only a superuser holds: the flag itself, or Django permissions one by one.
        readonly = ["is_staff", *super().get_readonly_fields(request, obj)]
        if not request.user.is_superuser:
            readonly += ["is_superuser"]
        return readonly

    def has_change_permission(self, request, obj: User | None = None) -> bool:
        # Whoever changes a superuser can set their password and log in as them.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj: User | None = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="Teams")
    def team_list(self, user: User) -> str:
        return ", ".join(team.name for team in user.teams.all()) or "—"


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "level", "member_count", "datastore_count", "description"]
    list_filter = ["level"]
    search_fields = ["name", "description", "members__username", "datastores__name"]
    filter_horizontal = ["members", "datastores"]
    fields = ["name", "description", "level", "members", "datastores"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=Count("members", distinct=True),
                datastore_count=Count("datastores", distinct=True),
            )
        )

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, team: Team) -> int:
        return team.member_count

    @admin.display(description="Datastores", ordering="datastore_count")
    def datastore_count(self, team: Team) -> int:
        return team.datastore_count


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Every user's API tokens, to see and revoke; tokens are created by their users."""

    list_display = ["name", "user", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["name", "user__username"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "name",
        "jti",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} token(s).")
