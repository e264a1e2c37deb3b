from __future__ import annotations

from accounts.models import Level, Team, User


def test_level_is_the_highest_of_the_teams_holding_both_user_and_datastore(world):
    assert world.persona("editor").level_on(world.shop) == Level.EDITOR
    assert world.persona("viewer").level_on(world.shop) == Level.VIEWER
    assert world.persona("viewer").level_on(world.target) == Level.VIEWER
    assert world.persona("reporter").level_on(world.target) is None


def test_a_team_without_the_datastore_gives_no_level_on_it(world):
    assert world.persona("other_editor").level_on(world.shop) is None
    assert world.persona("outsider").level_on(world.shop) is None


def test_admins_and_superusers_bypass_every_team(world):
    for persona in ("admin", "superuser"):
        user = world.persona(persona)
        assert user.is_admin
        assert user.level_on(world.other) == Level.EDITOR


def test_managers_are_not_admins(world):
    manager = User.objects.create_user("mgr", role=User.Role.MANAGER)
    assert not manager.is_admin
    assert manager.level_on(world.shop) is None


def test_levels_are_read_in_one_query_per_user(world, django_assert_num_queries):
    editor = world.persona("editor")
    with django_assert_num_queries(1):
        for datastore in (world.shop, world.target, world.other, world.shop):
            editor.level_on(datastore)


def test_levels_order_reporter_to_editor():
    assert Level.REPORTER < Level.VIEWER < Level.DRAFTER < Level.AUTHOR < Level.EDITOR


def test_admin_role_makes_staff_for_the_django_admin(db):
    admin = User.objects.create_user("boss", role=User.Role.ADMIN)
    assert admin.is_staff
    assert admin.has_perm("accounts.change_team")
    team = Team.objects.create(name="t")
    assert str(team) == "t"
