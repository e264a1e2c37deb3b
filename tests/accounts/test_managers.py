"""The manager role (SPEC §1, decided in the README): manages teams in the Django admin, sees the
users to put in them, and is a member like any other on runs."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Level, Team, User
from activity.models import Run
from tests.base import make_run, user


@pytest.fixture
def manager(world) -> User:
    manager = user("manager", role=User.Role.MANAGER)
    stewards = Team.objects.create(name="stewards", level=Level.DRAFTER)
    stewards.members.add(manager)
    stewards.datastores.add(world.shop)
    return User.objects.get(pk=manager.pk)


@pytest.fixture
def client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


def test_a_manager_is_staff_and_reaches_the_teams_in_the_django_admin(client, manager):
    assert manager.is_staff
    assert client.get("/admin/").status_code == 200
    page = client.get("/admin/accounts/team/")
    assert page.status_code == 200
    assert "stewards" in page.content.decode()


def test_a_manager_changes_a_teams_level_members_and_datastores(client, world):
    team = Team.objects.get(name="viewer team")
    response = client.post(
        f"/admin/accounts/team/{team.pk}/change/",
        {
            "name": "viewer team",
            "description": "",
            "level": Level.AUTHOR,
            "members": [world.viewer.pk, world.outsider.pk],
            "datastores": [world.shop.pk, world.other.pk],
        },
    )
    assert response.status_code == 302
    assert world.persona("outsider").level_on(world.other) == Level.AUTHOR


def test_a_manager_adds_and_deletes_teams(client, world):
    response = client.post(
        "/admin/accounts/team/add/",
        {"name": "auditors", "description": "", "level": Level.REPORTER, "datastores": []},
    )
    assert response.status_code == 302
    team = Team.objects.get(name="auditors")
    response = client.post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Team.objects.filter(name="auditors").exists()


def test_a_manager_sees_users_but_cannot_change_a_role(client, world):
    assert client.get("/admin/accounts/user/").status_code == 200
    page = client.get(f"/admin/accounts/user/{world.viewer.pk}/change/")
    assert page.status_code == 200
    assert 'name="role"' not in page.content.decode()  # read only
    response = client.post(
        f"/admin/accounts/user/{world.viewer.pk}/change/",
        {"username": "viewer", "role": User.Role.ADMIN, "is_superuser": "on"},
    )
    assert response.status_code == 403
    viewer = world.persona("viewer")
    assert (viewer.role, viewer.is_superuser) == (User.Role.MEMBER, False)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/user/add/",
        "/admin/catalog/datastore/",
        "/admin/activity/deletedrun/",
    ],
)
def test_a_manager_has_nothing_else_in_the_django_admin(client, url):
    assert client.get(url).status_code == 403


def test_a_manager_sees_only_their_teams_runs_and_acts_on_none(client, world, manager):
    shop_run = make_run(world.shop, status=Run.Status.RUNNING)
    other_run = make_run(world.other, status=Run.Status.RUNNING)
    assert not manager.is_admin
    assert list(Run.objects.visible_to(manager)) == [shop_run]
    assert client.get(f"/activity/runs/{shop_run.pk}/").status_code == 200
    assert client.get(f"/activity/runs/{other_run.pk}/").status_code == 404
    assert client.post(f"/activity/runs/{shop_run.pk}/abort/").status_code == 403
    assert Run.objects.get(pk=shop_run.pk).abort_requested_at is None
