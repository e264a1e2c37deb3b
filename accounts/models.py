from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import jwt
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Max
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.functional import cached_property

if TYPE_CHECKING:
    from catalog.models import Datastore


class Level(models.IntegerChoices):
    """A team's permission on its datastores, lowest to highest (SPEC §1)."""

    REPORTER = 10, "Reporter"
    VIEWER = 20, "Viewer"
    DRAFTER = 30, "Drafter"
    AUTHOR = 40, "Author"
    EDITOR = 50, "Editor"


# A manager manages teams in the Django admin and sees the users to put in them. Nothing more:
# no datastores (their connection URLs hold passwords), no roles, no bypass of team checks.
MANAGER_PERMISSIONS = frozenset(
    {
        "accounts.view_team",
        "accounts.add_team",
        "accounts.change_team",
        "accounts.delete_team",
        "accounts.view_user",
    }
)


class User(AbstractUser):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        MANAGER = "manager", "Manager"
        ADMIN = "admin", "Admin"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    def save(self, *args, **kwargs) -> None:
        # The Django admin belongs to the roles that work there. Set both ways, so a demoted
        # admin loses it with the role, and a ticked is_staff grants nothing the role does not.
        self.is_staff = self.is_superuser or self.role in (self.Role.ADMIN, self.Role.MANAGER)
        super().save(*args, **kwargs)

    def has_perm(self, perm: str, obj=None) -> bool:
        if self.is_active and (self.is_admin or self.is_manager and perm in MANAGER_PERMISSIONS):
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and (self.is_admin or self.is_manager and app_label == "accounts"):
            return True
        return super().has_module_perms(app_label)

    @property
    def is_admin(self) -> bool:
        """Admins and superusers bypass every team check."""
        return self.is_superuser or self.role == self.Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER

    @cached_property
    def datastore_levels(self) -> dict[int, Level]:
        """The user's level on each datastore their teams hold: one query, cached per request."""
        rows = (
            Team.datastores.through.objects.filter(team__members=self)
            .values("datastore_id")
            .annotate(level=Max("team__level"))
        )
        return {row["datastore_id"]: Level(row["level"]) for row in rows}

    @cached_property
    def badge(self) -> str:
        """What the header says under the user's name: "Editor · Data platform"."""
        if self.is_admin:
            return "Admin"
        team = self.teams.order_by("-level", "name").first()
        return f"{team.get_level_display()} · {team.name}" if team else "No team yet"

    @cached_property
    def edits_anything(self) -> bool:
        """Whether to show launch buttons and the Actions column at all."""
        return self.is_admin or Level.EDITOR in self.datastore_levels.values()

    def level_on(self, datastore: Datastore | int | None) -> Level | None:
        """The highest level of the teams holding both the user and the datastore."""
        if datastore is None or not self.is_active:
            return None
        if self.is_admin:
            return Level.EDITOR
        datastore_id = datastore if isinstance(datastore, int) else datastore.pk
        return self.datastore_levels.get(datastore_id)

    def can_see(self, datastore: Datastore | int | None) -> bool:
        return self.level_on(datastore) is not None

    def can_edit(self, datastore: Datastore | int | None) -> bool:
        return self.level_on(datastore) == Level.EDITOR

    def __str__(self) -> str:
        return self.username


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.VIEWER)
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    datastores = models.ManyToManyField("catalog.Datastore", related_name="teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A named API token of a user: a JWT that names this row, so it can be revoked.

    The JWT carries `sub` (the user), `jti` (this row), `iat` and `exp`; clients decode it without
    the key to warn before it expires. The server checks the signature (a key derived from
    SECRET_KEY), then this row: not revoked, not expired, its user active.
    """

    MAX_DAYS = 365
    # How stale `last_used_at` may get before a call writes it again: not a write per call.
    USE_PRECISION = timedelta(minutes=1)

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    jti = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @classmethod
    def issue(cls, user: User, name: str, days: int) -> tuple[ApiToken, str]:
        """A new token and the JWT to hand over once: it is not stored, only its id is."""
        now = timezone.now().replace(microsecond=0)
        token = cls.objects.create(
            user=user, name=name, created_at=now, expires_at=now + timedelta(days=days)
        )
        claims = {
            "sub": str(user.pk),
            "jti": str(token.jti),
            "iat": int(now.timestamp()),
            "exp": int(token.expires_at.timestamp()),
            "name": name,
            "iss": "runboard",
        }
        return token, jwt.encode(claims, signing_key(), algorithm="HS256")

    @classmethod
    def authenticate(cls, raw: str) -> User | None:
        """The active user a JWT stands for, or None (malformed, foreign, expired, revoked)."""
        try:
            claims = jwt.decode(
                raw,
                signing_key(),
                algorithms=["HS256"],
                issuer="runboard",
                options={"require": ["sub", "jti", "iat", "exp"]},
            )
            jti = uuid.UUID(str(claims["jti"]))
        except (jwt.PyJWTError, ValueError):
            return None
        now = timezone.now()
        token = (
            cls.objects.select_related("user")
            .filter(jti=jti, revoked_at__isnull=True, expires_at__gt=now, user__is_active=True)
            .first()
        )
        if token is None or str(token.user_id) != str(claims["sub"]):
            return None
        if token.last_used_at is None or now - token.last_used_at > cls.USE_PRECISION:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user

    def revoke(self) -> None:
        ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )


def signing_key() -> bytes:
    """The API tokens' key: derived from SECRET_KEY, never the key itself."""
    return salted_hmac("runboard.accounts.ApiToken", "signing key", algorithm="sha256").digest()
