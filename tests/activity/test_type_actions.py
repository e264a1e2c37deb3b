"""The action rules of Export, Materialize, External Scan and Promote, end to end, and what
deleting their runs leaves."""

from __future__ import annotations

import pytest
from django.test import Client

from activity.models import Run
from catalog.models import Anomaly, Check
from tests.base import (
    catalogued_world,
    csv_of,
    execute,
    launch,
    promote,
    upload,
)
from tests.sources import AUTHORED, PLANTED, customers, rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source, enrichment):
    return catalogued_world(source, enrichment)


def buttons(client: Client, run: Run) -> set[str]:
    html = client.get("/activity/").content.decode()
    return {
        a for a in ("abort", "resume", "rerun", "delete") if f'formaction="{run.url}{a}/"' in html
    }


@pytest.mark.parametrize("type", ["export", "materialize"])
def test_export_and_materialize_offer_rerun_never_resume(world, editor_client, type):
    run = Run.launch(type, world.shop, by=world.editor)
    assert buttons(editor_client, run) == {"abort"}
    run.abort(by=world.editor)
    assert buttons(editor_client, run) == {"rerun", "delete"}
    assert editor_client.post(f"/activity/runs/{run.pk}/resume/").status_code == 409
    assert editor_client.post(f"/activity/runs/{run.pk}/rerun/").status_code == 302


def test_external_scan_offers_only_abort_then_delete(world, editor_client):
    upload(editor_client, world.shop.containers.get(name="customers"), csv_of(customers()))
    run = Run.objects.get(type="external_scan")
    assert buttons(editor_client, run) == {"abort"}
    run.abort(by=world.editor)
    assert buttons(editor_client, run) == {"delete"}
    for action in ("resume", "rerun"):
        assert editor_client.post(f"/activity/runs/{run.pk}/{action}/").status_code == 409


def test_promote_offers_resume(world, staging, editor_client):
    run = Run.launch(Run.Type.PROMOTE, world.shop, by=world.editor, target=world.target)
    run.abort(by=world.editor)
    assert buttons(editor_client, run) == {"resume", "rerun", "delete"}


def test_deleting_these_runs_leaves_their_outputs(world, staging, enrichment, editor_client):
    launch(world, Run.Type.SCAN)
    export = launch(world, Run.Type.EXPORT, assets=["anomalies"])
    materialize = launch(world, Run.Type.MATERIALIZE, containers=["customers"])
    promoted = promote(world)
    upload(editor_client, world.shop.containers.get(name="customers"), csv_of(customers()))
    external = execute(Run.objects.get(type="external_scan"))
    for run in (export, materialize, promoted, external):
        assert editor_client.post(f"/activity/runs/{run.pk}/delete/").status_code == 302
    assert len(rows(enrichment.url, "shop_export_anomalies")) == len(PLANTED)
    assert len(rows(enrichment.url, "shop_mat_customers")) == 100
    assert Check.objects.filter(container__datastore=staging).count() == len(AUTHORED)
    assert Anomaly.objects.seen_by(external.pk).exists()
