"""The catalog over the API, read-only and limited to what the token's user may see."""

from __future__ import annotations

import pytest

from catalog.models import Anomaly, Check, Container

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(world):
    orders = Container.objects.create(datastore=world.shop, name="orders", row_count=300)
    orders.fields.create(name="id", type="INTEGER", position=0)
    orders.fields.create(name="total", type="NUMERIC", position=1)
    stock = Container.objects.create(datastore=world.other, name="stock")
    check = Check.objects.create(
        container=orders, field=orders.fields.get(name="total"), rule="not_null"
    )
    found = Anomaly.objects.create(
        container=orders, quality_check=check, run_number=7, failed_count=3, description="3 nulls"
    )
    closed = Anomaly.objects.create(
        container=orders, run_number=8, failed_count=1, description="x", status="resolved"
    )
    hidden = Anomaly.objects.create(container=stock, run_number=9, failed_count=1, description="y")
    for anomaly in (found, closed, hidden):  # as the scans that found them wrote it
        anomaly.events.create(kind="found", run_number=anomaly.run_number)
    return {"orders": orders, "stock": stock, "found": found, "closed": closed, "hidden": hidden}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_datastores(world, api, catalog):
    assert set(ids(api("reporter").get("/datastores"))) == {world.shop.pk}
    assert len(ids(api("admin").get("/datastores"))) == 4
    store = api("viewer").get(f"/datastores/{world.shop.pk}").json()
    assert store["name"] == "shop" and store["enrichment_datastore"]["name"] == "shop-enrichment"
    assert "connection" not in str(store)  # credentials never leave through the API
    assert api("viewer").get(f"/datastores/{world.other.pk}").status_code == 404


def test_containers(world, api, catalog):
    orders, stock = catalog["orders"], catalog["stock"]
    assert ids(api("viewer").get("/containers")) == [orders.pk]
    assert ids(api("admin").get("/containers", {"datastore": [world.other.pk]})) == [stock.pk]
    one = api("viewer").get(f"/containers/{orders.pk}").json()
    assert one == one | {
        "name": "orders",
        "container_type": "table",
        "fields": ["id", "total"],
        "row_count": 300,
        "removed": False,
        "datastore": {"id": world.shop.pk, "name": "shop"},
    }
    assert api("viewer").get(f"/containers/{stock.pk}").status_code == 404


def test_anomalies(world, api, catalog):
    found, closed = catalog["found"], catalog["closed"]
    client = api("viewer")
    assert ids(client.get("/anomalies")) == [closed.pk, found.pk]
    assert ids(client.get("/anomalies", {"status": ["Active"]})) == [found.pk]  # any case
    assert ids(client.get("/anomalies", {"status": "open"})) == [found.pk]
    assert ids(client.get("/anomalies", {"container": catalog["orders"].pk, "operation": 8})) == [
        closed.pk
    ]
    assert client.get("/anomalies", {"status": "fixed"}).status_code == 422
    one = client.get(f"/anomalies/{found.pk}").json()
    assert (one["rule"], one["field"], one["failed_count"], one["operation_id"]) == (
        "not_null",
        "total",
        3,
        7,
    )
    assert client.get(f"/anomalies/{catalog['hidden'].pk}").status_code == 404
    assert ids(api("outsider").get("/anomalies")) == []
