from __future__ import annotations

from datetime import timedelta

import pytest

from activity.models import DeletedRun, Run, RunContainer, RunEvent, RunLog
from activity.rules import InvalidTransition
from catalog.models import Anomaly, Check, FieldProfile
from tests.base import make_run, purge_now


def test_delete_removes_the_run_its_containers_log_and_timeline(world):
    run = make_run(world.shop, status=Run.Status.FAILURE, units={"orders": "failure"})
    run.log("boom", "error", unit=run.units.get())
    run.record(RunEvent.Kind.FINISHED, note="failure")
    run.delete_by(world.editor)
    for persona in ("admin", "editor", "viewer"):  # hidden from everyone at once
        assert not Run.objects.visible_to(world.persona(persona)).filter(pk=run.pk).exists()
    assert not DeletedRun.objects.exists()  # not yet: it can still be brought back
    assert purge_now() == 1
    assert not Run.objects.filter(pk=run.pk).exists()
    assert not RunContainer.objects.filter(run_id=run.pk).exists()
    assert not RunLog.objects.filter(run_id=run.pk).exists()
    assert not RunEvent.objects.filter(run_id=run.pk).exists()


def test_delete_leaves_an_audit_record_that_outlives_the_run(world):
    run = make_run(world.shop, type=Run.Type.PROFILE, status=Run.Status.ABORTED)
    run.delete_by(world.admin)
    purge_now()
    audit = DeletedRun.objects.get(run_number=run.pk)
    assert (audit.type, audit.status, audit.datastore, audit.datastore_name) == (
        "profile",
        "aborted",
        world.shop,
        "shop",
    )
    assert (audit.deleted_by, audit.deleted_by_name) == (world.admin, "admin")
    assert audit.run_created_at == run.created_at


def test_delete_keeps_the_anomalies_profiles_and_checks_the_run_produced(world):
    run = make_run(world.shop, status=Run.Status.SUCCESS, units={"orders": "success"})
    container = run.units.get().container
    field = container.fields.create(name="amount", type="NUMERIC")
    check = Check.objects.create(container=container, field=field, rule="not_null", inferred=True)
    anomaly = Anomaly.objects.create(
        container=container,
        quality_check=check,
        run=run,
        run_number=run.pk,
        description="Not null on orders.amount: 3 records",
        failed_count=3,
    )
    FieldProfile.objects.create(
        field=field, run_number=run.pk, profiled_at=run.created_at, count=10, nulls=3
    )
    run.delete_by(world.editor)
    purge_now()
    anomaly.refresh_from_db()
    assert anomaly.run is None and anomaly.run_number == run.pk
    assert Check.objects.filter(pk=check.pk).exists()
    assert FieldProfile.objects.filter(field=field, run_number=run.pk).exists()


def test_a_child_survives_its_parents_deletion(world):
    parent = make_run(world.shop, status=Run.Status.FAILURE)
    child = parent.resume(by=world.editor)
    parent.delete_by(world.editor)
    purge_now()
    child.refresh_from_db()
    assert child.parent is None
    assert child.events.get(kind="created").note == f"resume of #{parent.pk}"


@pytest.mark.parametrize("status", ["queued", "running"])
def test_live_runs_cannot_be_deleted(world, status):
    run = make_run(world.shop, status=status)
    with pytest.raises(InvalidTransition, match="can no longer be deleted"):
        run.delete_by(world.admin)
    assert Run.objects.filter(pk=run.pk).exists()
    assert not DeletedRun.objects.exists()


def test_deleting_a_run_someone_already_deleted_is_a_clear_conflict(world):
    run = make_run(world.shop, status=Run.Status.SUCCESS)
    stale = Run.objects.get(pk=run.pk)
    run.delete_by(world.editor)
    with pytest.raises(InvalidTransition, match="no longer exists") as refused:
        stale.delete_by(world.admin)
    assert not refused.value.forbidden
    purge_now()
    assert DeletedRun.objects.count() == 1


def test_a_viewer_cannot_delete(world):
    run = make_run(world.shop, status=Run.Status.SUCCESS)
    with pytest.raises(InvalidTransition) as refused:
        run.delete_by(world.persona("viewer"))
    assert refused.value.forbidden
    assert Run.objects.filter(pk=run.pk).exists()


def test_undo_within_the_window_brings_the_run_back_as_it_was(world):
    run = make_run(world.shop, status=Run.Status.FAILURE, units={"a": "success", "b": "failure"})
    run.log("boom", "error")
    before = (run.status, run.containers_done, list(run.units.values_list("name", "status")))
    run.delete_by(world.editor)
    with pytest.raises(InvalidTransition) as refused:
        Run.objects.get(pk=run.pk).undelete(world.persona("viewer"))
    assert refused.value.forbidden
    Run.objects.get(pk=run.pk).undelete(world.admin)
    back = Run.objects.visible_to(world.persona("viewer")).get(pk=run.pk)
    assert (
        back.status,
        back.containers_done,
        list(back.units.values_list("name", "status")),
    ) == before
    assert back.logs.filter(message="boom").exists()
    assert purge_now() == 0 and not DeletedRun.objects.exists()


def test_undo_after_the_window_is_refused_clearly(world):
    run = make_run(world.shop, status=Run.Status.SUCCESS)
    run.delete_by(world.editor)
    purge_now()
    with pytest.raises(InvalidTransition, match="gone for good"):
        run.undelete(world.editor)
    late = make_run(world.shop, status=Run.Status.SUCCESS)
    late.delete_by(world.editor)
    Run.objects.filter(pk=late.pk).update(deleted_at=late.deleted_at - timedelta(minutes=5))
    with pytest.raises(InvalidTransition, match="gone for good"):
        Run.objects.get(pk=late.pk).undelete(world.editor)


def test_a_big_run_is_removed_with_a_few_statements(world, django_assert_max_num_queries):
    run = make_run(
        world.shop, status=Run.Status.SUCCESS, units={f"t{i}": "success" for i in range(300)}
    )
    RunLog.objects.bulk_create(RunLog(run=run, message=f"line {i}") for i in range(3000))
    run.delete_by(world.editor)
    with django_assert_max_num_queries(12):
        assert purge_now() == 1
    assert not RunLog.objects.filter(run_id=run.pk).exists()
    assert not RunContainer.objects.filter(run_id=run.pk).exists()
