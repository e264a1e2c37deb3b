"""Materialize into the enrichment datastore, for real."""

from __future__ import annotations

import pytest

from activity.models import Run
from activity.operations.enrichment import table_name
from catalog.connectors import connect
from tests.base import (
    catalogued_world,
    execute,
    launch,
)
from tests.sources import columns, rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source, enrichment):
    return catalogued_world(source, enrichment)


def test_materialize_copies_each_container_into_its_table(world, enrichment):
    run = launch(world, Run.Type.MATERIALIZE, containers=["customers", "orders"])
    assert run.status == "success"
    assert run.counters == {"containers_materialized": 2, "rows_written": 400}
    copied = rows(enrichment.url, "shop_mat_customers")
    assert len(copied) == 100
    assert [c.name for c in columns(enrichment.url, "shop_mat_customers")] == [
        "id",
        "email",
        "country",
        "age",
        "signup",
    ]
    assert copied[9][1] is None and copied[0][1] == "c1@x.io"  # nulls and values as they were
    limited = launch(world, Run.Type.MATERIALIZE, containers=["orders"], record_limit=10)
    assert limited.counters["rows_written"] == 10
    assert len(rows(enrichment.url, "shop_mat_orders")) == 10


def test_a_materialize_whose_only_container_failed_is_a_failure(world, source):
    source.execute("DROP VIEW big_orders", "DROP TABLE orders")
    run = launch(world, Run.Type.MATERIALIZE, containers=["orders"])
    assert run.status == "failure"
    assert run.detail == "none of its 1 tables succeeded"


def test_unusual_container_names_get_safe_distinct_tables(world, source, enrichment):
    source.execute(
        'CREATE TABLE "order_lines" (id INTEGER)',
        'CREATE TABLE "Order Lines" (id INTEGER)',
        'CREATE TABLE "or""ders; --" (id INTEGER)',
    )
    source.insert("Order Lines", [(1,)])
    execute(Run.launch(Run.Type.SYNC, world.shop, by=world.editor))
    names = ["order_lines", "Order Lines", 'or"ders; --']
    launch(world, Run.Type.MATERIALIZE, containers=names)
    tables = {table_name("shop", "mat", name) for name in names}
    assert len(tables) == 3
    assert all(t.replace("_", "").isalnum() and t.islower() for t in tables)
    with connect(enrichment.url) as conn:
        assert tables <= {t.name for t in conn.tables()}
    assert len(table_name("shop", "mat", "x" * 200)) <= 55
