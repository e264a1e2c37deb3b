"""Export into the enrichment datastore, for real."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from activity.models import Run
from tests.base import (
    catalogued_world,
    execute,
    launch,
)
from tests.sources import AUTHORED, PLANTED, columns, rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source, enrichment):
    return catalogued_world(source, enrichment)


def test_export_writes_each_asset_into_its_table(world, enrichment):
    launch(world, Run.Type.SCAN)
    launch(world, Run.Type.PROFILE, containers=["customers"], infer_checks=False)
    export = launch(world, Run.Type.EXPORT)
    assert export.status == "success"
    assert export.counters["assets_exported"] == 3
    anomalies = rows(enrichment.url, "shop_export_anomalies")
    assert len(anomalies) == len(PLANTED)
    assert sorted(row[7] for row in anomalies) == sorted(PLANTED.values())  # failed_count column
    assert len(rows(enrichment.url, "shop_export_checks")) == len(AUTHORED)
    assert len(rows(enrichment.url, "shop_export_profiles")) == 5  # the five fields of customers
    assert export.counters["rows_exported"] == len(PLANTED) + len(AUTHORED) + 5
    names = [c.name for c in columns(enrichment.url, "shop_export_anomalies")]
    assert names == [
        "anomaly_id",
        "container",
        "field",
        "check_id",
        "rule",
        "description",
        "status",
        "failed_count",
        "run_id",
        "created_at",
        "examples",
    ]


def test_export_replaces_earlier_contents_and_a_rerun_writes_the_same(world, enrichment):
    launch(world, Run.Type.SCAN)
    first = launch(world, Run.Type.EXPORT, assets=["anomalies", "checks"], containers=["orders"])
    before = rows(enrichment.url, "shop_export_checks")
    assert {row[1] for row in before} == {"orders"}
    anomalies = rows(enrichment.url, "shop_export_anomalies")
    rerun = execute(first.rerun(by=world.editor))
    assert rerun.status == "success"
    assert rows(enrichment.url, "shop_export_checks") == before
    assert rows(enrichment.url, "shop_export_anomalies") == anomalies


def test_export_without_an_enrichment_datastore_is_refused_at_launch(world):
    world.shop.enrichment = None
    world.shop.save()
    with pytest.raises(ValidationError, match="has no enrichment datastore"):
        Run.launch(Run.Type.EXPORT, world.shop, by=world.editor)
    assert not Run.objects.filter(type="export").exists()
