"""Who reaches the Django admin follows the role (and the superuser flag), both ways."""

from __future__ import annotations

from importlib import import_module

from django.apps import apps

from accounts.models import User
from tests.base import PASSWORD


def test_a_demoted_admin_loses_the_django_admin(client, world):
    admin = world.persona("admin")
    admin.role = User.Role.MEMBER
    admin.save()
    assert not User.objects.get(pk=admin.pk).is_staff
    assert client.login(username="admin", password=PASSWORD)
    assert client.get("/admin/").status_code == 302  # sent to the admin login


def test_a_promoted_member_gets_the_django_admin(client, world):
    viewer = world.persona("viewer")
    viewer.role = User.Role.ADMIN
    viewer.save()
    assert User.objects.get(pk=viewer.pk).is_staff
    assert client.login(username="viewer", password=PASSWORD)
    assert client.get("/admin/").status_code == 200


def test_is_staff_alone_grants_no_django_admin(db):
    member = User.objects.create_user("ticked", is_staff=True)
    assert not member.is_staff


def test_a_superuser_is_staff_until_the_flag_goes(world):
    root = world.persona("superuser")
    assert root.is_staff
    root.is_superuser = False
    root.save()
    assert not User.objects.get(pk=root.pk).is_staff


def test_the_migration_takes_the_admin_from_users_demoted_before_it(world):
    # As the old save() left them: a demoted admin kept is_staff.
    User.objects.filter(pk=world.viewer.pk).update(is_staff=True)
    User.objects.filter(pk=world.admin.pk).update(is_staff=False)
    User.objects.filter(pk=world.reporter.pk).update(role=User.Role.MANAGER, is_staff=False)
    migration = import_module("accounts.migrations.0003_staff_follows_role")
    migration.staff_follows_role(apps, None)
    staff = set(User.objects.filter(is_staff=True).values_list("username", flat=True))
    assert staff == {"admin", "root", "reporter"}
