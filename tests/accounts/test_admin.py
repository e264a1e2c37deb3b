from __future__ import annotations

from accounts.models import Level, Team
from tests.base import PASSWORD


def login(client, user) -> None:
    assert client.login(username=user.username, password=PASSWORD)


def test_admin_lists_teams_with_their_level_and_counts(client, world):
    login(client, world.admin)
    page = client.get("/admin/accounts/team/")
    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index("editor team") :]
    row = row[: row.index("</tr>")]
    assert "Editor" in row
    # one member (editor) and one datastore (shop)
    assert row.count(">1<") == 2


def test_admin_searches_teams_by_member(client, world):
    login(client, world.admin)
    page = client.get("/admin/accounts/team/", {"q": "other_editor"})
    assert "warehouse team" in page.content.decode()
    assert "viewer team" not in page.content.decode()


def test_admin_creates_a_team_with_members_and_datastores(client, world):
    login(client, world.admin)
    form = client.get("/admin/accounts/team/add/")
    assert 'name="members"' in form.content.decode()
    assert 'name="datastores"' in form.content.decode()
    response = client.post(
        "/admin/accounts/team/add/",
        {
            "name": "Auditors",
            "description": "Read the shop runs",
            "level": Level.VIEWER,
            "members": [world.outsider.pk],
            "datastores": [world.shop.pk],
        },
    )
    assert response.status_code == 302
    team = Team.objects.get(name="Auditors")
    assert list(team.members.all()) == [world.outsider]
    assert world.persona("outsider").level_on(world.shop) == Level.VIEWER


def test_admin_edits_datastores_and_their_enrichment(client, world):
    login(client, world.admin)
    page = client.get(f"/admin/catalog/datastore/{world.shop.pk}/change/")
    assert page.status_code == 200
    assert 'name="enrichment"' in page.content.decode()
    assert 'name="enrichment_prefix"' in page.content.decode()


def test_members_and_editors_have_no_admin(client, world):
    for user in (world.editor, world.viewer):
        client.logout()
        login(client, user)
        assert client.get("/admin/").status_code == 302  # sent to the admin login


def test_deleted_runs_audit_is_read_only(client, world):
    login(client, world.admin)
    page = client.get("/admin/activity/deletedrun/")
    assert page.status_code == 200
    assert client.get("/admin/activity/deletedrun/add/").status_code == 403
