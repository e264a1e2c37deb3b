"""The Schedules pages: editors manage the schedules of their datastores, lower levels read
them, outsiders get 404; every change is a real form with its CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client

from activity.models import Run
from schedules.models import Schedule
from tests.base import ACTORS, PERSONAS, SEERS, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def nightly(world) -> Schedule:
    world.shop.containers.create(name="orders")
    schedule = Schedule()
    schedule.configure(
        by=world.editor,
        name="nightly scan",
        type="scan",
        datastore=world.shop,
        target=None,
        options={},
        cron_expression="0 2 * * *",
        active=True,
    )
    return schedule


def new_schedule(world, **fields) -> dict:
    return {
        "name": "hourly profile",
        "datastore": world.shop.pk,
        "type": "profile",
        "preset": "hourly",
        "minute": "15",
        "option-infer_checks": "on",
    } | fields


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_list_for_every_persona(world, nightly, persona):
    page = client_for(world, persona).get("/schedules/")
    assert page.status_code == 200
    html = page.content.decode()
    assert ("nightly scan" in html) == (persona in SEERS)
    assert ("every day at 02:00 UTC" in html) == (persona in SEERS)
    assert ('name="active"' in html) == (persona in ACTORS)  # pause/resume only for editors
    one = client_for(world, persona).get(f"/schedules/{nightly.pk}/")
    assert one.status_code == (200 if persona in SEERS else 404)
    if persona in SEERS:
        assert ('id="schedule"' in one.content.decode()) == (persona in ACTORS)


@pytest.mark.parametrize("persona", PERSONAS)
def test_create_for_every_persona(world, persona):
    response = client_for(world, persona).post("/schedules/new/", new_schedule(world))
    if persona in ACTORS:
        assert response.status_code == 302
        created = Schedule.objects.get()
        assert (created.cron, created.type, created.owner.username) == (
            "15 * * * *",
            "profile",
            world.persona(persona).username,
        )
        assert created.options["infer_checks"] is True
    else:  # the warehouse's editor may schedule, but not on the shop: the form says so
        assert response.status_code == (400 if persona == "other_editor" else 403)
        assert not Schedule.objects.exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_pause_resume_edit_and_delete_for_every_persona(world, nightly, persona):
    client = client_for(world, persona)
    paused = client.post(f"/schedules/{nightly.pk}/switch/", {"active": "0"})
    edited = client.post(f"/schedules/{nightly.pk}/", new_schedule(world, name="renamed"))
    deleted = client.post(f"/schedules/{nightly.pk}/delete/")
    left = Schedule.objects.filter(pk=nightly.pk).first()
    if persona in ACTORS:
        assert (paused.status_code, edited.status_code, deleted.status_code) == (302, 302, 302)
        assert left is None
    else:
        expected = 403 if persona in SEERS else 404
        assert {paused.status_code, edited.status_code, deleted.status_code} == {expected}
        assert left.active and left.name == "nightly scan"


def test_pause_then_resume(world, nightly):
    editor = client_for(world, "editor")
    editor.post(f"/schedules/{nightly.pk}/switch/", {"active": "0"})
    nightly.refresh_from_db()
    assert not nightly.active and nightly.next_fire_at is None
    resumed = editor.post(f"/schedules/{nightly.pk}/switch/", {"active": "1"}, follow=True)
    nightly.refresh_from_db()
    assert nightly.active and nightly.next_fire_at
    assert "resumed: it fires next at" in resumed.content.decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"preset": "custom", "custom": "61 * * * *"}, "not a valid cron expression"),
        ({"preset": "custom", "custom": ""}, "Write the cron expression."),
        ({"preset": "weekly"}, "Choose at least one day of the week."),
        ({"type": "scan", "option-max_examples": "1000"}, "less than or equal to 100"),
        ({"datastore": "999999"}, "Select a valid choice"),
        ({"minute": "75"}, "less than or equal to 59"),
    ],
)
def test_bad_input_is_a_message_on_the_form_and_saves_nothing(world, change, message):
    response = client_for(world, "editor").post("/schedules/new/", new_schedule(world, **change))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Schedule.objects.exists()


def test_a_datastore_the_user_cannot_edit_is_not_offered(world):
    world.editor.teams.get(name="watchers").datastores.add(world.other)
    response = client_for(world, "editor").post(
        "/schedules/new/", new_schedule(world, datastore=world.other.pk)
    )
    assert response.status_code == 400 and not Schedule.objects.exists()


def test_every_form_needs_its_csrf_token(world, nightly):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.persona("editor"))
    for path, data in [
        ("/schedules/new/", new_schedule(world)),
        (f"/schedules/{nightly.pk}/", new_schedule(world)),
        (f"/schedules/{nightly.pk}/switch/", {"active": "0"}),
        (f"/schedules/{nightly.pk}/delete/", {}),
    ]:
        assert strict.post(path, data).status_code == 403, path
    nightly.refresh_from_db()
    assert nightly.active and Schedule.objects.count() == 1


def test_the_preview_shows_the_next_five_fire_times(world):
    preview = client_for(world, "editor").get(
        "/schedules/preview/", {"preset": "daily", "hour": "2", "minute": "30"}
    )
    assert preview.status_code == 200
    html = preview.content.decode()
    assert html.count("02:30 UTC") == 5 and html.startswith('<section id="preview"')
    bad = client_for(world, "editor").get(
        "/schedules/preview/", {"preset": "custom", "custom": "x"}
    )
    assert "Fix the timing" in bad.content.decode()


def test_the_activity_filters_by_schedule(world, nightly):
    run = Run.launch(Run.Type.SCAN, world.shop, by=world.editor, schedule=nightly)
    other = Run.launch(Run.Type.SCAN, world.shop, by=world.editor)
    html = client_for(world, "viewer").get(f"/activity/?schedule={nightly.pk}").content.decode()
    assert f'id="run-{run.pk}"' in html and f'id="run-{other.pk}"' not in html
    assert "nightly scan" in html  # the row names its schedule


def test_schedule_this_from_the_launch_page_brings_the_operation(world):
    page = client_for(world, "editor").get(
        "/schedules/new/",
        {"datastore": world.shop.pk, "type": "profile", "option-record_limit": "500"},
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert '<option value="profile" selected>' in html
    assert 'value="500"' in html
