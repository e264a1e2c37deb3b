"""Only a superuser makes a superuser: an admin-role user manages users, but neither grants the
flag (nor Django permissions one by one) nor touches a superuser's account."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from tests.base import PASSWORD


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_form(user: User, **fields: object) -> dict[str, object]:
    """The user's change form as the admin page would post it, with `fields` changed."""
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "role": user.role,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        # The teams inline, left as it is.
        "Team_members-TOTAL_FORMS": "0",
        "Team_members-INITIAL_FORMS": "0",
        **fields,
    }


@pytest.fixture
def admin(world) -> Client:
    assert not world.admin.is_superuser
    return client_for(world.persona("admin"))


def test_an_admin_cannot_make_a_superuser_nor_grant_permissions(admin, world):
    permission = Permission.objects.get(codename="change_user")
    response = admin.post(
        f"/admin/accounts/user/{world.viewer.pk}/change/",
        change_form(
            world.viewer,
            role=User.Role.MANAGER,
            is_superuser="on",
            is_staff="on",
            user_permissions=[permission.pk],
        ),
    )
    assert response.status_code == 302  # saved: the role did change
    viewer = world.persona("viewer")
    assert viewer.role == User.Role.MANAGER
    assert not viewer.is_superuser
    assert not viewer.user_permissions.exists()
    assert viewer.is_staff  # as a manager, not because the form said so


def test_an_admin_cannot_make_themselves_a_superuser(admin, world):
    response = admin.post(
        f"/admin/accounts/user/{world.admin.pk}/change/",
        change_form(world.admin, is_superuser="on"),
    )
    assert response.status_code == 302
    assert not world.persona("admin").is_superuser


def test_an_admin_sees_the_superuser_flag_read_only_and_no_django_permissions(admin, world):
    page = admin.get(f"/admin/accounts/user/{world.viewer.pk}/change/").content.decode()
    assert 'name="role"' in page
    for field in ("is_superuser", "is_staff", "groups", "user_permissions"):
        assert f'name="{field}"' not in page, field
    assert "Superuser status" in page  # still shown
    assert "Groups" not in page and "User permissions" not in page  # they grant nothing here


def test_an_admin_cannot_change_a_superusers_account(admin, world):
    root = world.superuser
    page = admin.get(f"/admin/accounts/user/{root.pk}/change/")
    assert page.status_code == 200  # view only
    assert 'name="username"' not in page.content.decode()
    response = admin.post(
        f"/admin/accounts/user/{root.pk}/change/", change_form(root, is_active="")
    )
    assert response.status_code == 403
    password = {"password1": "taken-over-123", "password2": "taken-over-123"}
    response = admin.post(f"/admin/accounts/user/{root.pk}/password/", password)
    assert response.status_code == 403
    assert admin.post(f"/admin/accounts/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    root = world.persona("superuser")
    assert root.is_active and root.check_password(PASSWORD)


def test_a_superuser_grants_superuser(world):
    root = client_for(world.persona("superuser"))
    page = root.get(f"/admin/accounts/user/{world.viewer.pk}/change/").content.decode()
    assert 'name="is_superuser"' in page
    response = root.post(
        f"/admin/accounts/user/{world.viewer.pk}/change/",
        change_form(world.viewer, is_superuser="on"),
    )
    assert response.status_code == 302
    viewer = world.persona("viewer")
    assert viewer.is_superuser and viewer.is_staff


def test_the_user_page_shows_and_edits_their_teams(world):
    from accounts.models import Team

    root = client_for(world.persona("superuser"))
    page = root.get(f"/admin/accounts/user/{world.viewer.pk}/change/").content.decode()
    assert "viewer team" in page and "A team's level" in page
    watchers = Team.objects.get(name="watchers")
    memberships = list(world.viewer.teams.through.objects.filter(user=world.viewer))
    form = change_form(world.viewer) | {
        "Team_members-TOTAL_FORMS": str(len(memberships) + 1),
        "Team_members-INITIAL_FORMS": str(len(memberships)),
    }
    for i, membership in enumerate(memberships):
        form |= {f"Team_members-{i}-id": membership.pk, f"Team_members-{i}-user": world.viewer.pk}
        form[f"Team_members-{i}-team"] = membership.team_id
        if membership.team == watchers:
            form[f"Team_members-{i}-DELETE"] = "on"
    editors = Team.objects.get(name="editor team")
    form |= {f"Team_members-{len(memberships)}-team": editors.pk}
    form[f"Team_members-{len(memberships)}-user"] = world.viewer.pk
    assert root.post(f"/admin/accounts/user/{world.viewer.pk}/change/", form).status_code == 302
    assert set(world.persona("viewer").teams.values_list("name", flat=True)) == {
        "viewer team",
        "editor team",
    }
