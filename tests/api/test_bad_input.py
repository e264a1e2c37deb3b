"""Whatever a client sends, the answer is a JSON 4xx with a readable detail and nothing is
created: never an HTML page, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiToken
from activity.models import Run
from tests.base import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw(world):
    _, token = ApiToken.issue(world.editor, "ci", 7)
    client = Client(headers={"Authorization": f"Bearer {token}"})
    return client


def assert_json_error(response, status: int) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("", "application/json"),
        ("{not json", "application/json"),
        ("[]", "application/json"),
        ('{"type": "scan"}', "application/json"),
        ('{"datastore_id": 1}', "application/json"),
        ('{"type": ["scan"], "datastore_id": 1}', "application/json"),
        ('{"type": "scan", "datastore_id": 99999999999999999999999}', "application/json"),
        ("type=scan&datastore_id=1", "application/x-www-form-urlencoded"),
    ],
)
def test_a_malformed_launch_is_a_json_4xx_and_creates_nothing(world, raw, body, content_type):
    response = raw.post("/api/operations/run", body, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert_json_error(response, response.status_code)
    assert not Run.objects.exists()


def test_a_datastore_the_user_cannot_see_is_a_404(world, raw):
    response = raw.post(
        "/api/operations/run",
        {"type": "scan", "datastore_id": world.other.pk},
        content_type="application/json",
    )
    assert_json_error(response, 404)
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/nowhere", 404),
        ("get", "/api/operations/abc", 404),
        ("get", f"/api/operations/{'9' * 30}", 404),
        ("post", "/api/operations", 405),
        ("patch", "/api/operations/1", 405),
        ("get", "/api/operations?size=100000", 422),
        ("get", "/api/operations?page=-3", 422),
    ],
)
def test_paths_methods_and_paging_out_of_bounds_are_json_errors(world, raw, method, path, status):
    assert_json_error(getattr(raw, method)(path), status)


def test_no_token_is_a_json_401_on_every_path(world):
    run = make_run(world.shop, status="success")
    for method, path in [
        ("get", "/api/operations"),
        ("get", f"/api/operations/{run.pk}"),
        ("put", f"/api/operations/rerun/{run.pk}"),
        ("delete", f"/api/operations/{run.pk}"),
        ("get", "/api/datastores"),
        ("get", "/api/status"),
        ("post", "/api/containers/1/scan"),
    ]:
        assert_json_error(getattr(Client(), method)(path), 401)
    assert Run.objects.filter(pk=run.pk).exists() and not run.children.exists()
