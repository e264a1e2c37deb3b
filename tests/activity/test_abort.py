from __future__ import annotations

import pytest

from activity.models import Run, RunContainer, RunEvent
from activity.rules import InvalidTransition
from tests.base import make_run


def events(run: Run) -> list[tuple[str, str, str]]:
    return list(run.events.values_list("kind", "actor_name", "note"))


def test_aborting_a_queued_run_lands_it_on_aborted_at_once(world):
    run = make_run(world.shop, units={"orders": "pending", "payments": "pending"})
    run.abort(by=world.editor)
    run.refresh_from_db()
    assert run.status == Run.Status.ABORTED
    assert run.aborted_by == world.editor
    assert run.abort_requested_at is not None and run.finished_at is not None
    assert events(run) == [
        (RunEvent.Kind.ABORT_REQUESTED, "editor", ""),
        (RunEvent.Kind.FINISHED, "", "aborted"),
    ]
    # Nothing ran: every container is still unfinished, so a resume would take them all.
    assert set(run.units.values_list("status", flat=True)) == {RunContainer.Status.PENDING}


def test_aborting_a_running_run_requests_the_abort_and_leaves_it_running(world):
    run = make_run(world.shop, status=Run.Status.RUNNING)
    run.abort(by=world.admin)
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING
    assert run.is_aborting
    assert run.aborted_by == world.admin
    assert run.finished_at is None
    assert events(run) == [(RunEvent.Kind.ABORT_REQUESTED, "admin", "")]
    assert run.logs.filter(message="Abort requested by admin").exists()


def test_a_second_abort_is_refused_as_a_conflict(world):
    run = make_run(world.shop, status=Run.Status.RUNNING)
    run.abort(by=world.editor)
    with pytest.raises(InvalidTransition, match="already aborting") as refused:
        Run.objects.get(pk=run.pk).abort(by=world.admin)
    assert not refused.value.forbidden
    assert Run.objects.get(pk=run.pk).aborted_by == world.editor


def test_an_abort_based_on_a_stale_page_is_refused_when_the_run_finished_meanwhile(world):
    run = make_run(world.shop, status=Run.Status.RUNNING)
    stale = Run.objects.get(pk=run.pk)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCESS)
    with pytest.raises(InvalidTransition, match="is success: it can no longer be aborted"):
        stale.abort(by=world.editor)
    assert not RunEvent.objects.filter(run=run, kind=RunEvent.Kind.ABORT_REQUESTED).exists()


def test_a_viewer_cannot_abort(world):
    run = make_run(world.shop, status=Run.Status.RUNNING)
    with pytest.raises(InvalidTransition, match="editor permission on shop") as refused:
        run.abort(by=world.persona("viewer"))
    assert refused.value.forbidden
    run.refresh_from_db()
    assert run.abort_requested_at is None


@pytest.mark.parametrize("status", ["success", "failure", "aborted"])
def test_a_finished_run_cannot_be_aborted(world, status):
    run = make_run(world.shop, status=status)
    with pytest.raises(InvalidTransition):
        run.abort(by=world.admin)
    assert Run.objects.get(pk=run.pk).status == status


def test_an_abort_that_comes_after_the_last_container_lands_the_run_on_success(world):
    from activity import engine

    run = make_run(
        world.shop,
        status=Run.Status.RUNNING,
        units={"customers": "success", "orders": "success"},
        aborting=True,
    )
    engine.wrap_up(engine.Job(run, "test-worker"))
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCESS
    assert run.events.filter(kind=RunEvent.Kind.ABORT_TOO_LATE).exists()
    assert "resume" not in run.actions_for(world.editor)
