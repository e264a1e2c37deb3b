"""Sync on a real database: what it catalogs, changes and prunes."""

from __future__ import annotations

import pytest

from activity.models import Run
from tests.base import (
    build_world,
    launch,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source):
    return build_world(shop_url=source.url)


def test_sync_catalogs_tables_views_and_fields(world):
    sync = launch(world, Run.Type.SYNC)
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
    launch(world, Run.Type.SYNC)
    again = launch(world, Run.Type.SYNC).counters
    assert (again["containers_found"], again["containers_added"], again["containers_changed"]) == (
        3,
        0,
        0,
    )

    source.execute("DROP VIEW big_orders", "ALTER TABLE customers ADD COLUMN vip BOOLEAN")
    sync = launch(world, Run.Type.SYNC, prune=True)
    assert sync.counters == {
        "containers_found": 2,
        "containers_added": 0,
        "containers_changed": 1,
        "containers_removed": 1,
    }
    assert world.shop.containers.get(name="big_orders").removed_at is not None
    assert world.shop.containers.get(name="customers").fields.filter(name="vip").exists()

    source.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 250")
    skipped = launch(world, Run.Type.SYNC)
    assert skipped.units.get(name="big_orders").status == "skipped"
    assert skipped.completed_with_logs
    restored = launch(world, Run.Type.SYNC, recreate=True)
    assert restored.counters["containers_added"] == 1
    assert world.shop.containers.get(name="big_orders").removed_at is None


def test_sync_with_tables_only_leaves_views_alone(world):
    sync = launch(world, Run.Type.SYNC, include=["tables"], prune=True)
    assert sync.counters["containers_found"] == 2
    assert not world.shop.containers.filter(name="big_orders").exists()


def test_a_view_sync_cannot_read_fails_alone_and_the_rest_is_synced(world, source):
    if source.kind != "sqlite":
        pytest.skip("PostgreSQL refuses to drop a table a view reads")
    source.execute(
        "CREATE TABLE doomed (id INTEGER)", "CREATE VIEW broken AS SELECT id FROM doomed"
    )
    source.execute("DROP TABLE doomed")
    sync = launch(world, Run.Type.SYNC)
    assert sync.status == Run.Status.SUCCESS and sync.completed_with_logs
    broken = sync.units.get(name="broken")
    assert broken.status == "failure" and "cannot read the columns of view broken" in broken.error
    assert set(world.shop.containers.values_list("name", flat=True)) == {
        "customers",
        "orders",
        "big_orders",
    }
