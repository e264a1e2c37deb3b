"""Retention: old finished runs leave the history in batches; live runs, the chains they hang
on, and everything the runs produced stay."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from activity import retention
from activity.models import DeletedRun, Run
from catalog.models import Anomaly
from tests.base import make_run

OLD = timezone.now() - timedelta(days=120)


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_runs", *args, stdout=out)
    return out.getvalue()


def test_old_finished_runs_go_in_batches_and_the_rest_stays(world, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    old = [make_run(world.shop, status="success", created_at=OLD) for _ in range(5)]
    recent = make_run(world.shop, status="success")
    running = make_run(world.shop, status="running", created_at=OLD)
    anomaly = Anomaly.objects.create(
        container=old[0].units.get().container, run=old[0], run_number=old[0].pk, failed_count=1
    )
    # An old failure a live resume continues, and its own parent: the chain stays.
    grandparent = make_run(world.shop, status="failure", created_at=OLD)
    parent = make_run(
        world.shop, status="failure", created_at=OLD, parent=grandparent, link="resume"
    )
    make_run(world.shop, status="queued", parent=parent, link="resume")

    assert (
        prune("--older-than", "90d", "--dry-run")
        == "Would remove 5 run(s) created more than 90d ago.\n"
    )
    assert Run.objects.count() == 10
    assert prune("--older-than", "90d") == "Removed 5 run(s) created more than 90d ago.\n"
    assert not Run.objects.filter(pk__in=[run.pk for run in old]).exists()
    assert set(Run.objects.values_list("pk", flat=True)) >= {
        recent.pk,
        running.pk,
        grandparent.pk,
        parent.pk,
    }
    audit = DeletedRun.objects.filter(run_number__in=[run.pk for run in old])
    assert audit.count() == 5 and set(audit.values_list("deleted_by_name", flat=True)) == {
        "retention"
    }
    anomaly.refresh_from_db()
    assert anomaly.run is None and anomaly.run_number == old[0].pk


def test_the_setting_drives_the_workers_duty(world, settings):
    make_run(world.shop, status="aborted", created_at=OLD)
    settings.RUNBOARD = settings.RUNBOARD | {"RETENTION_DAYS": 0}
    assert retention.prune_by_setting() == 0
    settings.RUNBOARD = settings.RUNBOARD | {"RETENTION_DAYS": 90}
    assert retention.prune_by_setting() == 1


@pytest.mark.parametrize("bad", ["90", "ninety days", "-3d", "9999999d"])
def test_a_malformed_age_is_refused(world, bad):
    with pytest.raises(CommandError, match="older-than"):
        prune("--older-than", bad)
