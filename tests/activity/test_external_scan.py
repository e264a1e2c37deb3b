"""External Scan: uploaded records checked against a container's checks, and refused when
malformed."""

from __future__ import annotations

import pytest
from django.test import Client

from activity.models import Run
from catalog.models import Anomaly
from tests.base import (
    catalogued_world,
    csv_of,
    execute,
    upload,
)
from tests.sources import PLANTED, customers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source, enrichment):
    return catalogued_world(source, enrichment)


def test_an_uploaded_file_is_checked_against_the_containers_checks(world, editor_client):
    customers_table = world.shop.containers.get(name="customers")
    page = upload(editor_client, customers_table, csv_of(customers()))
    assert b"External Scan #" in page.content
    run = Run.objects.get(type="external_scan")
    assert run.upload.filename == "records.csv"
    run = execute(run)
    assert run.status == "success"
    found = dict(Anomaly.objects.filter(run=run).values_list("quality_check__rule", "failed_count"))
    expected = {rule: n for (table, _, rule), n in PLANTED.items() if table == "customers"}
    assert found == expected
    assert run.counters == {"records_checked": 100, "anomalies_identified": len(expected)}


def test_references_of_uploaded_records_are_checked_against_the_source(world, editor_client):
    orders_table = world.shop.containers.get(name="orders")
    text = "id,customer_id,amount,status\n1,5,10,new\n2,4242,10,paid\n3,,10,shipped\n"
    upload(editor_client, orders_table, text)
    run = execute(Run.objects.get(type="external_scan"))
    found = dict(Anomaly.objects.filter(run=run).values_list("quality_check__rule", "failed_count"))
    assert found == {"references": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"id,email\n", "has a header but no records"),
        ("id,émail\n1,x\n".encode("latin-1"), "not UTF-8 text"),
        (
            b"id,colour\n1,red\n",
            "Unknown column colour: customers has id, email, country, age, signup.",
        ),
        (b"id,id\n1,2\n", "Column id appears more than once"),
        (b"id,email\n1,a@x.io\n2\n", "Line 3 has 1 values, but the header has 2 columns."),
        (b"\n", "no header row"),
    ],
)
def test_a_malformed_file_is_refused_with_its_reason_and_creates_nothing(
    world, editor_client, content, message
):
    page = upload(editor_client, world.shop.containers.get(name="customers"), content)
    assert message in page.content.decode()
    assert "No run was created" in page.content.decode()
    assert not Run.objects.filter(type="external_scan").exists()


def test_a_file_over_the_limit_is_refused(world, editor_client, settings):
    settings.RUNBOARD = settings.RUNBOARD | {"UPLOAD_MAX_BYTES": 1024}
    page = upload(editor_client, world.shop.containers.get(name="customers"), csv_of(customers()))
    assert "larger than the limit" in page.content.decode()
    assert not Run.objects.filter(type="external_scan").exists()


def test_only_editors_upload(world):
    viewer = Client()
    viewer.force_login(world.persona("viewer"))
    response = upload(viewer, world.shop.containers.get(name="customers"), csv_of(customers()))
    assert response.status_code == 403
    outsider = Client()
    outsider.force_login(world.persona("outsider"))
    assert (
        upload(outsider, world.shop.containers.get(name="customers"), "id\n1\n").status_code == 404
    )
