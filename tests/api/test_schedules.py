"""Schedules over the API: the same permission and checks as the pages (SPEC §8)."""

from __future__ import annotations

import pytest

from schedules.models import Schedule
from tests.base import ACTORS, PERSONAS, SEERS

pytestmark = pytest.mark.django_db


def body(world, **more) -> dict:
    return {
        "name": "nightly",
        "type": "scan",
        "datastore_id": world.shop.pk,
        "cron": "0 2 * * *",
    } | more


@pytest.mark.parametrize("persona", PERSONAS)
def test_create_for_every_persona(world, api, persona):
    world.shop.containers.create(name="orders")
    response = api(persona).post("/operations/schedule", body(world, container_names=["orders"]))
    if persona in ACTORS:
        assert response.status_code == 200, response.content
        created = response.json()
        assert created["cron_in_words"] == "every day at 02:00 UTC" and created["active"]
        assert created["next_fire_at"] and created["owner"] == world.persona(persona).username
        assert Schedule.objects.get().options["containers"] == ["orders"]
    else:
        assert response.status_code == (403 if persona in SEERS else 404)
        assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 2 30 2 *"}, "never fires"),
        ({"name": "  "}, "name"),
        ({"type": "external_scan"}, "type"),
        ({"enrichment_source_record_limit": 1000}, "enrichment_source_record_limit"),
    ],
)
def test_invalid_schedules_are_a_422_naming_the_field_and_save_nothing(world, api, change, named):
    response = api("editor").post("/operations/schedule", body(world) | change)
    assert response.status_code == 422 and named in response.json()["detail"]
    assert not Schedule.objects.exists()


def test_read_pause_resume_retime_and_delete(world, api):
    editor = api("editor")
    created = editor.post("/operations/schedule", body(world)).json()
    path = f"/operations/schedule/{created['id']}"
    assert api("viewer").get(path).json()["name"] == "nightly"
    assert api("outsider").get(path).status_code == 404
    assert [s["id"] for s in api("reporter").get("/operations/schedule").json()["items"]] == [
        created["id"]
    ]
    assert (
        api("viewer")
        .client.put(
            f"/api{path}",
            {"active": False},
            content_type="application/json",
            headers=api("viewer").headers,
        )
        .status_code
        == 403
    )
    paused = editor.client.put(
        f"/api{path}", {"active": False}, content_type="application/json", headers=editor.headers
    ).json()
    assert not paused["active"] and paused["next_fire_at"] is None
    retimed = editor.client.put(
        f"/api{path}",
        {"cron": "*/5 * * * *", "active": True},
        content_type="application/json",
        headers=editor.headers,
    ).json()
    assert retimed["active"] and retimed["cron_in_words"] == "every 5 minutes"
    assert api("viewer").delete(path).status_code == 403
    assert editor.delete(path).status_code == 204 and not Schedule.objects.exists()
