"""Scan on a real database: the anomalies the planted problems make, auto-resolve and
incremental scans."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from activity.models import Run
from catalog.models import Anomaly
from tests.base import (
    author_checks,
    build_world,
    launch,
)
from tests.sources import PLANTED

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source):
    return build_world(shop_url=source.url)


def test_scan_runs_active_checks_and_records_what_the_data_holds(world):
    launch(world, Run.Type.SYNC)
    author_checks(world)
    scan = launch(world, Run.Type.SCAN, containers=["customers", "orders"], max_examples=2)
    assert scan.status == Run.Status.SUCCESS and not scan.has_logs
    found = {
        (a.container.name, a.quality_check.field.name, a.quality_check.rule): a
        for a in Anomaly.objects.select_related("container", "quality_check__field")
    }
    assert {key: a.failed_count for key, a in found.items()} == PLANTED
    assert scan.counters == {
        "containers_scanned": 2,
        "records_scanned": 400,
        "anomalies_identified": len(PLANTED),
        "anomalies_resolved": 0,
    }
    orphans = found[("orders", "customer_id", "references")]
    assert [example["customer_id"] for example in orphans.examples] == [999, 999]
    assert orphans.run == scan and orphans.run_number == scan.pk


def test_a_record_limit_scans_only_the_first_records(world):
    launch(world, Run.Type.SYNC)
    author_checks(world)
    scan = launch(world, Run.Type.SCAN, containers=["customers"], record_limit=25)
    assert scan.counters["records_scanned"] == 25
    found = dict(
        Anomaly.objects.filter(run=scan).values_list("quality_check__rule", "failed_count")
    )
    # Among customers 1-25 only 5 and 6 have a negative age, 10 and 20 no email; none duplicates.
    assert found == {"between": 2, "not_null": 2}


def test_a_full_scan_that_succeeds_resolves_what_passes_again(world, source):
    launch(world, Run.Type.SYNC)
    author_checks(world)
    first = launch(world, Run.Type.SCAN, containers=["customers"])
    source.execute("UPDATE customers SET email = 'fixed' || id || '@x.io' WHERE email IS NULL")
    incremental = launch(
        world, Run.Type.SCAN, containers=["customers"], mode="incremental", incremental_field="id"
    )
    not_null = Anomaly.objects.get(quality_check__rule="not_null", run=first)
    assert not_null.status == "active"  # an incremental scan resolves nothing
    assert incremental.counters.get("anomalies_resolved", 0) == 0

    full = launch(world, Run.Type.SCAN, containers=["customers"])
    not_null.refresh_from_db()
    assert (not_null.status, not_null.resolved_by_run_number) == ("resolved", full.pk)
    unique = Anomaly.objects.get(quality_check__rule="unique", run=first)
    unique.refresh_from_db()
    assert unique.status == "active"  # still failing
    assert full.counters["anomalies_resolved"] == 1


def test_an_incremental_scan_reads_only_new_records(world, source):
    launch(world, Run.Type.SYNC)
    author_checks(world)
    first = launch(
        world, Run.Type.SCAN, containers=["customers"], mode="incremental", incremental_field="id"
    )
    assert first.counters["records_scanned"] == 100
    source.insert(
        "customers", [(101, None, "DE", 30, "2025-06-01"), (102, "ok@x.io", "DE", -4, "2025-06-01")]
    )
    second = launch(
        world, Run.Type.SCAN, containers=["customers"], mode="incremental", incremental_field="id"
    )
    assert second.counters["records_scanned"] == 2
    # The problems it found are those of the new records: the open anomalies, seen again.
    counts = dict(
        Anomaly.objects.seen_by(second.pk).values_list("quality_check__rule", "failed_count")
    )
    assert counts == {"not_null": 1, "between": 1}


def test_an_incremental_field_is_one_every_scanned_container_has(world):
    launch(world, Run.Type.SYNC)
    common = Run.launch(
        Run.Type.SCAN,
        world.shop,
        by=world.editor,
        options={"mode": "incremental", "incremental_field": "id"},
    )
    assert common.options["incremental_field"] == "id"
    with pytest.raises(ValidationError, match="no field email: choose one every container"):
        Run.launch(
            Run.Type.SCAN,
            world.shop,
            by=world.editor,
            options={"mode": "incremental", "incremental_field": "email"},  # customers only
        )
    with pytest.raises(ValidationError, match="not one of the available choices"):
        Run.launch(
            Run.Type.SCAN,
            world.shop,
            by=world.editor,
            options={"mode": "incremental", "incremental_field": "created_at"},
        )
    only = Run.launch(
        Run.Type.SCAN,
        world.shop,
        by=world.editor,
        options={"containers": ["customers"], "mode": "incremental", "incremental_field": "email"},
    )
    assert only.options["incremental_field"] == "email"
