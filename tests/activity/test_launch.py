"""Launching an operation from its form."""

from __future__ import annotations

import pytest

from activity.models import Run
from tests.base import client_for, make_run


def test_an_editor_launches_a_scan_and_finds_it_at_the_top(world):
    older = make_run(world.shop, status="success", units={"orders": "success"})
    editor = client_for(world, "editor")
    form = editor.get(f"/activity/launch/?datastore={world.shop.pk}&type=scan")
    assert form.status_code == 200 and b'name="option-max_examples"' in form.content
    response = editor.post(
        "/activity/launch/",
        {
            "datastore": world.shop.pk,
            "type": "scan",
            "option-containers": ["orders"],
            "option-mode": "full",
            "option-max_examples": 5,
            "key": "form-1",
        },
        follow=True,
    )
    run = Run.objects.order_by("-id").first()
    assert (run.type, run.status, run.triggered_by) == ("scan", "queued", world.editor)
    assert run.options["containers"] == ["orders"] and run.options["max_examples"] == 5
    assert run.options["auto_resolve"] is False  # an unticked box is a choice, not a default
    html = response.content.decode()
    assert f"Run #{run.pk} Scan queued on shop." in html
    assert html.index(f'<tbody id="run-{run.pk}"') < html.index(f'<tbody id="run-{older.pk}"')


def test_the_same_form_submitted_twice_launches_once(world):
    editor = client_for(world, "editor")
    data = {"datastore": world.shop.pk, "type": "sync", "option-include": ["tables"], "key": "k"}
    editor.post("/activity/launch/", data)
    editor.post("/activity/launch/", data)
    assert Run.objects.filter(type="sync").count() == 1


def test_bad_options_are_a_400_with_their_message_and_launch_nothing(world):
    response = client_for(world, "editor").post(
        "/activity/launch/",
        {
            "datastore": world.shop.pk,
            "type": "scan",
            "option-mode": "incremental",
            "option-max_examples": 500,
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "An incremental scan needs an incremental field." in html
    assert "less than or equal to 100" in html
    assert not Run.objects.exists()


@pytest.mark.parametrize("type", ["profile", "materialize"])
def test_a_record_limit_has_a_maximum(world, type):
    world.shop.containers.create(name="orders")
    response = client_for(world, "editor").post(
        "/activity/launch/",
        {"datastore": world.shop.pk, "type": type, "option-record_limit": 10**12},
    )
    assert response.status_code == 400
    assert "less than or equal to 1000000000" in response.content.decode()
    assert not Run.objects.exists()


def test_a_promote_needs_its_target(world):
    response = client_for(world, "admin").post(
        "/activity/launch/", {"datastore": world.shop.pk, "type": "promote"}
    )
    assert response.status_code == 400
    assert "Choose the datastore to promote checks to." in response.content.decode()


def test_only_editors_launch_and_only_on_their_datastores(world):
    assert client_for(world, "viewer").get("/activity/launch/").status_code == 403
    response = client_for(world, "editor").post(
        "/activity/launch/", {"datastore": world.other.pk, "type": "sync"}
    )
    assert response.status_code == 400  # warehouse is not among the editor's choices
    assert not Run.objects.exists()


def test_changing_the_operation_re_renders_its_options(world):
    response = client_for(world, "editor").get(
        f"/activity/launch/?datastore={world.shop.pk}&type=profile", HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<fieldset id="options"')
    assert 'name="option-record_limit"' in html and 'name="option-max_examples"' not in html
