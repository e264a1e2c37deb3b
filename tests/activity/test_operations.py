"""Sync, Profile and Scan on a real database: the numbers are the ones the test data holds."""

from __future__ import annotations

from collections import Counter
from statistics import mean

import pytest

from activity import engine
from activity.models import Run
from catalog.models import Anomaly, Check, Container
from tests.base import build_world
from tests.sources import AUTHORED, PLANTED, customers, orders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source):
    return build_world(shop_url=source.url)


def run(world, type, **options) -> Run:
    launched = Run.launch(type, world.shop, by=world.editor, options=options)
    engine.execute(launched.pk)
    launched.refresh_from_db()
    return launched


def author_checks(world) -> None:
    for (container, field, rule), params in AUTHORED.items():
        table = world.shop.containers.get(name=container)
        Check.objects.create(
            container=table, field=table.fields.get(name=field), rule=rule, params=params
        )


def test_sync_catalogs_tables_views_and_fields(world):
    sync = run(world, Run.Type.SYNC)
    assert sync.status == Run.Status.SUCCESS
    assert sync.counters == {
        "containers_found": 3,
        "containers_added": 3,
        "containers_changed": 0,
        "containers_removed": 0,
    }
    kinds = dict(world.shop.containers.values_list("name", "kind"))
    assert kinds == {"customers": "table", "orders": "table", "big_orders": "view"}
    fields = list(world.shop.containers.get(name="customers").fields.values_list("name", flat=True))
    assert fields == ["id", "email", "country", "age", "signup"]
    assert (sync.containers_total, sync.containers_done) == (3, 3)


def test_sync_again_changes_nothing_then_sees_changes_and_prunes(world, source):
    run(world, Run.Type.SYNC)
    again = run(world, Run.Type.SYNC).counters
    assert (again["containers_found"], again["containers_added"], again["containers_changed"]) == (
        3,
        0,
        0,
    )

    source.execute("DROP VIEW big_orders", "ALTER TABLE customers ADD COLUMN vip BOOLEAN")
    sync = run(world, Run.Type.SYNC, prune=True)
    assert sync.counters == {
        "containers_found": 2,
        "containers_added": 0,
        "containers_changed": 1,
        "containers_removed": 1,
    }
    assert world.shop.containers.get(name="big_orders").removed_at is not None
    assert world.shop.containers.get(name="customers").fields.filter(name="vip").exists()

    source.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 250")
    skipped = run(world, Run.Type.SYNC)
    assert skipped.units.get(name="big_orders").status == "skipped"
    assert skipped.completed_with_logs
    restored = run(world, Run.Type.SYNC, recreate=True)
    assert restored.counters["containers_added"] == 1
    assert world.shop.containers.get(name="big_orders").removed_at is None


def test_sync_with_tables_only_leaves_views_alone(world):
    sync = run(world, Run.Type.SYNC, include=["tables"], prune=True)
    assert sync.counters["containers_found"] == 2
    assert not world.shop.containers.filter(name="big_orders").exists()


def test_profile_computes_statistics_in_the_source(world):
    run(world, Run.Type.SYNC)
    profile = run(world, Run.Type.PROFILE)
    assert profile.status == Run.Status.SUCCESS
    big = sum(1 for row in orders() if row[2] > 200)
    assert profile.counters["records_profiled"] == 100 + 300 + big
    assert profile.counters["fields_profiled"] == 5 + 4 + 4
    table = world.shop.containers.get(name="customers")
    assert table.row_count == 100

    email = table.fields.get(name="email").profile
    emails = [row[1] for row in customers()]
    assert (email.count, email.nulls) == (100, emails.count(None))
    assert email.distinct == len({e for e in emails if e})
    assert email.min_length == min(len(e) for e in emails if e)

    age = table.fields.get(name="age").profile
    ages = [row[3] for row in customers()]
    assert (float(age.min), float(age.max)) == (min(ages), max(ages))
    assert age.mean == pytest.approx(mean(ages))

    country = table.fields.get(name="country").profile
    assert country.values == dict(Counter(row[2] for row in customers()))


def test_profile_infers_checks_and_synchronizes_them(world, source):
    run(world, Run.Type.SYNC)
    first = run(world, Run.Type.PROFILE, containers=["customers", "orders"])
    inferred = {
        (c.container.name, c.field.name, c.rule): c.params
        for c in Check.objects.filter(inferred=True).select_related("container", "field")
    }
    assert inferred[("customers", "id", "between")] == {"min": 1, "max": 100}
    assert ("customers", "id", "unique") in inferred
    assert sorted(inferred[("customers", "country", "in_set")]["values"]) == [
        "DE",
        "FR",
        "NL",
        "XX",
    ]
    assert ("customers", "email", "not_null") not in inferred  # three emails are missing
    assert ("customers", "email", "unique") not in inferred  # two are the same
    assert ("customers", "signup", "not_future") not in inferred  # one is in 2999
    assert first.counters["checks_added"] == len(inferred)
    assert set(Check.objects.filter(inferred=True).values_list("status", flat=True)) == {"active"}

    again = run(world, Run.Type.PROFILE, containers=["customers", "orders"])
    assert (again.counters["checks_added"], again.counters["checks_updated"]) == (0, 0)

    source.execute(
        "UPDATE customers SET age = 130 WHERE id = 1",
        "UPDATE customers SET country = NULL WHERE id = 2",
    )
    changed = run(world, Run.Type.PROFILE, containers=["customers"])
    between = Check.objects.get(inferred=True, field__name="age", rule="between")
    assert between.params["max"] == 130
    # country lost its not-null: that inferred check is archived, not deleted
    not_null = Check.objects.get(inferred=True, field__name="country", rule="not_null")
    assert not_null.status == "archived"
    assert changed.counters["checks_updated"] >= 2


def test_profile_can_infer_drafts_and_honours_a_record_limit(world):
    run(world, Run.Type.SYNC)
    profile = run(
        world, Run.Type.PROFILE, containers=["orders"], record_limit=50, infer_as_draft=True
    )
    assert profile.counters["records_profiled"] == 50
    amount = world.shop.containers.get(name="orders").fields.get(name="id").profile
    assert (amount.count, amount.max) == (50, "50")
    assert set(Check.objects.filter(inferred=True).values_list("status", flat=True)) == {"draft"}


def test_scan_runs_active_checks_and_records_what_the_data_holds(world):
    run(world, Run.Type.SYNC)
    author_checks(world)
    scan = run(world, Run.Type.SCAN, containers=["customers", "orders"], max_examples=2)
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


def test_a_full_scan_that_succeeds_resolves_what_passes_again(world, source):
    run(world, Run.Type.SYNC)
    author_checks(world)
    first = run(world, Run.Type.SCAN, containers=["customers"])
    source.execute("UPDATE customers SET email = 'fixed' || id || '@x.io' WHERE email IS NULL")
    incremental = run(
        world, Run.Type.SCAN, containers=["customers"], mode="incremental", incremental_field="id"
    )
    not_null = Anomaly.objects.get(quality_check__rule="not_null", run=first)
    assert not_null.status == "active"  # an incremental scan resolves nothing
    assert incremental.counters.get("anomalies_resolved", 0) == 0

    full = run(world, Run.Type.SCAN, containers=["customers"])
    not_null.refresh_from_db()
    assert (not_null.status, not_null.resolved_by_run_number) == ("resolved", full.pk)
    unique = Anomaly.objects.get(quality_check__rule="unique", run=first)
    unique.refresh_from_db()
    assert unique.status == "active"  # still failing
    assert full.counters["anomalies_resolved"] == 1


def test_an_incremental_scan_reads_only_new_records(world, source):
    run(world, Run.Type.SYNC)
    author_checks(world)
    first = run(
        world, Run.Type.SCAN, containers=["customers"], mode="incremental", incremental_field="id"
    )
    assert first.counters["records_scanned"] == 100
    source.insert(
        "customers", [(101, None, "DE", 30, "2025-06-01"), (102, "ok@x.io", "DE", -4, "2025-06-01")]
    )
    second = run(
        world, Run.Type.SCAN, containers=["customers"], mode="incremental", incremental_field="id"
    )
    assert second.counters["records_scanned"] == 2
    counts = dict(
        Anomaly.objects.filter(run=second).values_list("quality_check__rule", "failed_count")
    )
    assert counts == {"not_null": 1, "between": 1}


def test_a_broken_table_fails_its_container_and_the_run_completes_with_logs(world, source):
    if source.kind == "sqlite":  # a view whose table went away after the sync
        source.execute(
            "CREATE TABLE doomed (id INTEGER)", "CREATE VIEW broken AS SELECT id FROM doomed"
        )
        run(world, Run.Type.SYNC)
        source.execute("DROP TABLE doomed")
    else:  # a view that fails when read
        source.execute("CREATE VIEW broken AS SELECT id, 1 / (id - id) AS boom FROM customers")
        run(world, Run.Type.SYNC)
    profile = run(world, Run.Type.PROFILE)
    assert profile.status == Run.Status.SUCCESS
    assert profile.completed_with_logs
    broken = profile.units.get(name="broken")
    assert broken.status == "failure" and broken.error
    assert profile.logs.filter(unit=broken, level="error").exists()
    assert profile.units.filter(status="success").count() == 3
    assert profile.counters["containers_profiled"] == 3


def test_a_run_whose_only_container_failed_is_a_failure(world, source):
    if source.kind == "sqlite":  # a view whose table went away after the sync
        source.execute(
            "CREATE TABLE doomed (id INTEGER)", "CREATE VIEW broken AS SELECT * FROM doomed"
        )
        run(world, Run.Type.SYNC)
        source.execute("DROP TABLE doomed")
    else:  # a view that fails when read
        source.execute("CREATE VIEW broken AS SELECT id, 1 / (id - id) AS boom FROM customers")
        run(world, Run.Type.SYNC)
    profile = run(world, Run.Type.PROFILE, containers=["broken"])
    assert profile.status == Run.Status.FAILURE
    assert profile.detail == "none of its 1 tables succeeded"
    assert profile.units.get().status == "failure"


def test_a_view_sync_cannot_read_fails_alone_and_the_rest_is_synced(world, source):
    if source.kind != "sqlite":
        pytest.skip("PostgreSQL refuses to drop a table a view reads")
    source.execute(
        "CREATE TABLE doomed (id INTEGER)", "CREATE VIEW broken AS SELECT id FROM doomed"
    )
    source.execute("DROP TABLE doomed")
    sync = run(world, Run.Type.SYNC)
    assert sync.status == Run.Status.SUCCESS and sync.completed_with_logs
    broken = sync.units.get(name="broken")
    assert broken.status == "failure" and "cannot read the columns of view broken" in broken.error
    assert set(world.shop.containers.values_list("name", flat=True)) == {
        "customers",
        "orders",
        "big_orders",
    }


def test_hostile_identifiers_are_quoted_everywhere(world, source):
    table, column = 'we"ird; DROP TABLE customers;--', 'a b"c; --'
    source.execute(
        f'CREATE TABLE "{table.replace(chr(34), chr(34) * 2)}" ("{column.replace(chr(34), chr(34) * 2)}" TEXT, n INTEGER)'
    )
    source.insert(table.replace('"', '""'), [("x", 1), (None, 2), ("x", 3)])
    run(world, Run.Type.SYNC)
    container = world.shop.containers.get(name=table)
    field = container.fields.get(name=column)
    profile = run(world, Run.Type.PROFILE, containers=[table])
    assert profile.status == Run.Status.SUCCESS and not profile.has_logs
    assert (field.profile.nulls, field.profile.distinct) == (1, 1)
    Check.objects.create(
        container=container,
        field=field,
        rule="in_set",
        params={"values": ["y'); DROP TABLE orders;--"]},
    )
    scan = run(world, Run.Type.SCAN, containers=[table])
    assert scan.status == Run.Status.SUCCESS
    assert Anomaly.objects.get(run=scan, quality_check__rule="in_set").failed_count == 2
    assert Container.objects.filter(name__in=["customers", "orders"]).count() == 2
    assert run(world, Run.Type.SYNC).counters["containers_found"] == 4  # nothing was dropped
