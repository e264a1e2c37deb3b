from __future__ import annotations

import pytest

from activity.models import Run, RunEvent
from activity.rules import InvalidTransition
from tests.base import make_run


def test_rerun_creates_a_linked_run_with_the_same_options_for_every_container(world):
    parent = make_run(
        world.shop,
        status=Run.Status.ABORTED,
        units={"customers": "success", "orders": "pending"},
        options={"containers": ["customers", "orders"], "max_examples": 3},
    )
    child = parent.rerun(by=world.editor)
    assert (child.parent, child.link, child.status) == (parent, Run.Link.RERUN, Run.Status.QUEUED)
    assert child.options["containers"] == ["customers", "orders"]
    assert child.options["max_examples"] == 3
    assert list(child.units.values_list("name", "status")) == [
        ("customers", "pending"),
        ("orders", "pending"),
    ]
    assert parent.events.filter(kind=RunEvent.Kind.RERUN_AS, related_run_number=child.pk).exists()


def test_a_run_can_be_rerun_again_and_again(world):
    parent = make_run(world.shop, status=Run.Status.SUCCESS)
    first, second = parent.rerun(by=world.editor), parent.rerun(by=world.editor)
    assert first.pk != second.pk
    assert parent.children.count() == 2


def test_a_double_submitted_rerun_returns_the_same_run(world):
    parent = make_run(world.shop, status=Run.Status.SUCCESS)
    first = parent.rerun(by=world.editor, request_key="form-123")
    again = parent.rerun(by=world.editor, request_key="form-123")
    assert first.pk == again.pk
    assert parent.children.count() == 1


def test_rerun_of_options_that_no_longer_hold_is_refused_clearly(world):
    from django.core.exceptions import ValidationError

    parent = make_run(
        world.shop,
        status=Run.Status.SUCCESS,
        units={"orders": "success"},
        options={"containers": ["orders"]},
    )
    world.shop.containers.filter(name="orders").delete()
    with pytest.raises(ValidationError, match="orders is not one of the available choices"):
        parent.rerun(by=world.editor)
    assert not parent.children.exists()


@pytest.mark.parametrize("status", ["queued", "running"])
def test_live_runs_cannot_be_rerun(world, status):
    with pytest.raises(InvalidTransition, match="can no longer be rerun"):
        make_run(world.shop, status=status).rerun(by=world.admin)


def test_external_scans_are_never_rerun(world):
    run = make_run(world.shop, type=Run.Type.EXTERNAL_SCAN, status=Run.Status.SUCCESS)
    with pytest.raises(InvalidTransition, match="External Scan runs cannot be rerun"):
        run.rerun(by=world.admin)


def test_a_key_is_one_users_own_and_finds_nothing_of_another(world):
    ours = make_run(world.shop, status=Run.Status.SUCCESS)
    theirs = make_run(world.other, status=Run.Status.SUCCESS)
    mine = ours.rerun(by=world.editor, request_key="the-same-key")
    # The warehouse's editor posts the same key: they get a run of their own, not the shop's.
    other = theirs.rerun(by=world.other_editor, request_key="the-same-key")
    assert other.pk != mine.pk and other.datastore == world.other
    assert ours.children.get() == mine


def test_an_htmx_rerun_with_another_users_key_shows_only_what_the_user_sees(world):
    from tests.base import client_for

    ours = make_run(world.shop, status=Run.Status.SUCCESS)
    mine = ours.rerun(by=world.editor, request_key="shared-key-1")
    theirs = make_run(world.other, status=Run.Status.SUCCESS)
    response = client_for(world, "other_editor").post(
        f"/activity/runs/{theirs.pk}/rerun/",
        {"key": "shared-key-1"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"run-{theirs.pk}",
    )
    assert response.status_code == 200
    assert f"run-{mine.pk}" not in response.content.decode()
    assert theirs.children.count() == 1


def test_a_malformed_form_key_is_a_clear_400(world):
    from tests.base import client_for

    run = make_run(world.shop, status=Run.Status.SUCCESS)
    for key in ("k" * 65, "bad\x00key", "spaces are not in keys"):
        response = client_for(world, "editor").post(f"/activity/runs/{run.pk}/rerun/", {"key": key})
        assert response.status_code == 400
    assert not run.children.exists()
