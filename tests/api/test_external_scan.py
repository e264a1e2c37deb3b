"""External Scans over the API: records as a CSV file or JSON objects, validated exactly like an
upload in the page, before anything is created."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client

from accounts.models import ApiToken
from activity.models import Run
from catalog.models import Container

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(world):
    container = Container.objects.create(datastore=world.shop, name="orders")
    for position, (name, kind) in enumerate(
        [("id", "INTEGER"), ("total", "NUMERIC"), ("note", "TEXT")]
    ):
        container.fields.create(name=name, type=kind, position=position)
    return container


def send(world, persona: str, container, body, content_type: str = "application/json"):
    _, token = ApiToken.issue(world.persona(persona), "ci", 7)
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/containers/{container.pk}/scan"
    if content_type == "multipart":
        file = io.BytesIO(body.encode() if isinstance(body, str) else body)
        file.name = "records.csv"
        return Client().post(path, {"file": file}, headers=headers)
    data = json.dumps(body) if not isinstance(body, str | bytes) else body
    return Client().post(path, data, content_type=content_type, headers=headers)


def test_a_csv_file_makes_an_external_scan(world, orders):
    response = send(world, "editor", orders, "id,total\n1,12.5\n2,\n", "multipart")
    assert response.status_code == 200, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert (run.type, run.trigger, run.upload.records, run.upload.columns) == (
        "external_scan",
        "api",
        2,
        ["id", "total"],
    )
    assert response.json()["type"] == "external_scan"


def test_json_records_make_an_external_scan(world, orders):
    records = [{"total": 3, "id": 1}, {"id": 2, "total": None}, {"id": 3}]
    response = send(world, "admin", orders, records)
    assert response.status_code == 200, response.content
    upload = Run.objects.get(pk=response.json()["id"]).upload
    assert (upload.records, upload.columns) == (3, ["id", "total"])  # the container's order


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON list of objects"),
        ({"id": 1}, "JSON list of objects"),
        ([1, 2], "JSON list of objects"),
        ([{"id": 1}, 7], "Record 2 is not an object"),
        ([{"id": "abc"}], "Record 1, column id: 'abc' is not a number."),
        ([{"colour": "red"}], "Unknown column colour"),
        ([{"id": 1}, {"id": 2, "note": "x"}], "Record 2 has note, which the first record has not"),
        ([{"id": {"nested": 1}}], "Record 1, id: expected a string, number, boolean or null."),
        ([{"note": "a\x00b"}], "NUL character"),
        ('[{"id": 1},', "not valid JSON"),
        ("not json at all", "not valid JSON"),
    ],
)
def test_invalid_json_records_are_a_422_and_create_nothing(world, orders, body, message):
    response = send(world, "editor", orders, body)
    assert response.status_code == 422, response.content
    assert message in response.json()["detail"]
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "The file is empty."),
        ("id,total\n1,x\n", "Line 2, column total: 'x' is not a number."),
        ("id,nope\n1,2\n", "Unknown column nope"),
    ],
)
def test_an_invalid_csv_file_is_a_422_and_creates_nothing(world, orders, body, message):
    response = send(world, "editor", orders, body, "multipart")
    assert response.status_code == 422 and message in response.json()["detail"]
    assert not Run.objects.exists()


def test_records_over_the_limit_are_refused(world, orders, settings):
    settings.RUNBOARD = settings.RUNBOARD | {"UPLOAD_MAX_BYTES": 100}
    big = [{"id": i, "note": "x" * 20} for i in range(100)]
    assert send(world, "editor", orders, big).status_code == 413
    assert send(world, "editor", orders, "id\n" + "1\n" * 200, "multipart").status_code == 413
    assert not Run.objects.exists()


@pytest.mark.parametrize(("persona", "status"), [("viewer", 403), ("outsider", 404)])
def test_only_editors_record_external_scans(world, orders, persona, status):
    assert send(world, persona, orders, [{"id": 1}]).status_code == status
    assert not Run.objects.exists()
