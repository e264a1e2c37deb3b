"""Bulk actions over the API: each run on its own, reported; never all or nothing."""

from __future__ import annotations

import pytest

from activity import bulk
from activity.models import Run
from tests.base import make_run

pytestmark = pytest.mark.django_db


def test_a_mixed_selection_is_acted_on_run_by_run(world, api):
    queued = make_run(world.shop)
    running = make_run(world.shop, status="running")
    finished = make_run(world.shop, status="success")
    theirs = make_run(world.other, status="running")
    response = api("editor").post(
        "/operations/bulk",
        {"action": "abort", "ids": [queued.pk, running.pk, finished.pk, theirs.pk, 999999]},
    )
    assert response.status_code == 200
    report = {r["id"]: (r["result"], r["status"]) for r in response.json()["results"]}
    assert report == {
        queued.pk: ("done", 200),
        running.pk: ("done", 200),
        finished.pk: ("refused", 409),
        theirs.pk: ("refused", 404),
        999999: ("refused", 404),
    }
    assert (response.json()["done"], response.json()["refused"]) == (2, 3)
    assert (
        Run.objects.get(pk=queued.pk).status == "aborted"
        and Run.objects.get(pk=running.pk).is_aborting
    )
    assert not Run.objects.get(pk=theirs.pk).is_aborting


def test_the_filters_select_runs_beyond_one_page_and_a_viewer_is_refused_each(world, api):
    failed = [make_run(world.shop, status="failure") for _ in range(60)]
    make_run(world.shop, status="success")
    response = api("editor").post(
        "/operations/bulk", {"action": "rerun", "filters": {"result": ["failure"]}}
    )
    assert response.json()["done"] == 60
    assert all(run.children.count() == 1 for run in failed)
    refused = (
        api("viewer")
        .post("/operations/bulk", {"action": "delete", "filters": {"result": ["failure"]}})
        .json()
    )
    assert refused["done"] == 0 and {r["status"] for r in refused["results"]} == {403}


def test_the_bound_is_enforced(world, api, monkeypatch):
    monkeypatch.setattr(bulk, "BOUND", 3)
    for _ in range(4):
        make_run(world.shop, status="success")
    response = api("editor").post("/operations/bulk", {"action": "delete", "filters": {}})
    assert response.status_code == 422 and "at most 3" in response.json()["detail"]
    assert api("editor").post("/operations/bulk", {"action": "delete"}).status_code == 422
    assert not Run.objects.filter(deleted_at__isnull=False).exists()
