from __future__ import annotations

import pytest

from activity.models import Run, RunEvent
from activity.rules import InvalidTransition
from tests.base import make_run

UNITS = {"customers": "success", "orders": "failure", "payments": "pending", "reviews": "skipped"}


def test_resume_creates_a_linked_run_for_the_unfinished_containers_only(world):
    parent = make_run(
        world.shop, status=Run.Status.FAILURE, units=UNITS, options={"max_examples": 3}
    )
    child = parent.resume(by=world.editor)
    assert child.status == Run.Status.QUEUED
    assert (child.parent, child.link) == (parent, Run.Link.RESUME)
    assert child.type == parent.type and child.options == parent.options
    assert child.triggered_by == world.editor
    assert list(child.units.values_list("name", "status")) == [
        ("orders", "pending"),
        ("payments", "pending"),
        ("reviews", "pending"),
    ]
    assert child.containers_total == 3
    assert parent.events.filter(kind=RunEvent.Kind.RESUMED_AS, related_run_number=child.pk).exists()
    created = child.events.get(kind=RunEvent.Kind.CREATED)
    assert (created.actor, created.related_run_number, created.note) == (
        world.editor,
        parent.pk,
        f"resume of #{parent.pk}",
    )


def test_the_child_and_its_queue_entry_commit_together_or_not_at_all(world):
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    parent = make_run(world.shop, status=Run.Status.ABORTED, units=UNITS)
    with pytest.raises(RuntimeError), transaction.atomic():
        parent.resume(by=world.editor)
        raise RuntimeError("the request failed after the resume")
    assert not parent.children.exists() and not DBTaskResult.objects.exists()

    child = Run.objects.get(pk=parent.pk).resume(by=world.editor)
    task = DBTaskResult.objects.get()
    assert task.args_kwargs == {"args": [child.pk], "kwargs": {}}
    assert child.task_id == str(task.pk)


def test_a_second_resume_is_refused_and_creates_nothing(world):
    parent = make_run(world.shop, status=Run.Status.FAILURE, units=UNITS)
    child = parent.resume(by=world.editor)
    with pytest.raises(InvalidTransition, match=f"already resumed as #{child.pk}"):
        Run.objects.get(pk=parent.pk).resume(by=world.admin)
    assert Run.objects.filter(parent=parent).count() == 1


def test_a_stale_page_cannot_resume_twice_either(world):
    parent = make_run(world.shop, status=Run.Status.FAILURE, units=UNITS)
    stale = Run.objects.get(pk=parent.pk)
    stale.resumed_as_id = None  # what a page rendered before the first resume knew
    parent.resume(by=world.editor)
    with pytest.raises(InvalidTransition, match="already resumed"):
        stale.resume(by=world.editor)
    assert Run.objects.filter(parent=parent).count() == 1


@pytest.mark.parametrize("status", ["queued", "running", "success"])
def test_only_failed_or_aborted_runs_resume(world, status):
    run = make_run(world.shop, status=status, units=UNITS)
    with pytest.raises(InvalidTransition, match="can no longer be resumed"):
        run.resume(by=world.admin)


@pytest.mark.parametrize("run_type", ["sync", "export", "materialize", "external_scan"])
def test_types_without_resume_refuse_it(world, run_type):
    run = make_run(
        world.shop, type=run_type, status=Run.Status.FAILURE, units={"orders": "failure"}
    )
    with pytest.raises(InvalidTransition, match="cannot be resumed"):
        run.resume(by=world.admin)
    assert not Run.objects.filter(parent=run).exists()


def test_a_run_with_nothing_unfinished_offers_no_resume_and_refuses_one(world):
    run = make_run(world.shop, status=Run.Status.ABORTED, units={"a": "success", "b": "success"})
    assert "resume" not in run.actions_for(world.editor)
    with pytest.raises(InvalidTransition, match="nothing unfinished"):
        run.resume(by=world.editor)
    assert not run.children.exists()
