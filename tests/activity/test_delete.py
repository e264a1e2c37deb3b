from __future__ import annotations

import pytest

from activity.models import DeletedRun, Run, RunContainer, RunEvent, RunLog
from activity.rules import InvalidTransition
from catalog.models import Anomaly, Check, FieldProfile
from tests.base import make_run


def test_delete_removes_the_run_its_containers_log_and_timeline(world):
    run = make_run(world.shop, status=Run.Status.FAILURE, units={"orders": "failure"})
    run.log("boom", "error", unit=run.units.get())
    run.record(RunEvent.Kind.FINISHED, note="failure")
    run.delete_by(world.editor)
    assert not Run.objects.filter(pk=run.pk).exists()
    assert not RunContainer.objects.filter(run_id=run.pk).exists()
    assert not RunLog.objects.filter(run_id=run.pk).exists()
    assert not RunEvent.objects.filter(run_id=run.pk).exists()


def test_delete_leaves_an_audit_record_that_outlives_the_run(world):
    run = make_run(world.shop, type=Run.Type.PROFILE, status=Run.Status.ABORTED)
    run.delete_by(world.admin)
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
    anomaly.refresh_from_db()
    assert anomaly.run is None and anomaly.run_number == run.pk
    assert Check.objects.filter(pk=check.pk).exists()
    assert FieldProfile.objects.filter(field=field, run_number=run.pk).exists()


def test_a_child_survives_its_parents_deletion(world):
    parent = make_run(world.shop, status=Run.Status.FAILURE)
    child = parent.resume(by=world.editor)
    parent.delete_by(world.editor)
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
    assert DeletedRun.objects.count() == 1


def test_a_viewer_cannot_delete(world):
    run = make_run(world.shop, status=Run.Status.SUCCESS)
    with pytest.raises(InvalidTransition) as refused:
        run.delete_by(world.persona("viewer"))
    assert refused.value.forbidden
    assert Run.objects.filter(pk=run.pk).exists()
