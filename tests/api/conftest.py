"""API clients: a test client that sends a persona's token, as a pipeline would."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiToken


class ApiClient:
    """Django's test client with a bearer token and JSON bodies."""

    def __init__(self, token: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, params=None):
        return self.client.get(f"/api{path}", params or {}, headers=self.headers)

    def post(self, path: str, body=None, **kwargs):
        if "data" in kwargs:  # multipart
            return self.client.post(f"/api{path}", kwargs["data"], headers=self.headers)
        return self.client.post(
            f"/api{path}", body, content_type="application/json", headers=self.headers
        )

    def put(self, path: str):
        return self.client.put(f"/api{path}", headers=self.headers)

    def delete(self, path: str):
        return self.client.delete(f"/api{path}", headers=self.headers)


@pytest.fixture
def api(world):
    """api("editor") is a client holding the editor's token; api(None) holds none."""

    def client_of(persona: str | None) -> ApiClient:
        if persona is None:
            return ApiClient(None)
        _, token = ApiToken.issue(world.persona(persona), "tests", 30)
        return ApiClient(token)

    return client_of
