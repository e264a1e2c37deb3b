"""The API object: bearer-token authentication, errors as {"detail": …}, the routers, status."""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import Http404
from django.utils import timezone
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from accounts.models import ApiToken
from activity.models import Worker
from api import catalog, operations, schedules
from api.schemas import Status

logger = logging.getLogger("runboard.api")

DESCRIPTION = """
The operations console's API for pipelines: launch, watch, abort and record runs
(*operations*), and read the catalog. It follows the public shape of the Qualytics operations
API. Every call sends a token created on the **API tokens** page (or with
`manage.py api_token USERNAME --name NAME`) and acts as its user, with that user's permissions
at the time of the call:

    export RUNBOARD=https://runboard.example.com/api TOKEN=eyJhbGciOi…
    curl -H "Authorization: Bearer $TOKEN" $RUNBOARD/status

**Launch a Scan and wait for it.** Poll until `end_time` is set; then `result` says how it
ended, and `message` is null unless its log holds warnings or errors worth reading.

    id=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
         -d '{"type": "scan", "datastore_id": 1, "container_names": ["orders"]}' \\
         $RUNBOARD/operations/run | jq .id)
    until curl -s -H "Authorization: Bearer $TOKEN" $RUNBOARD/operations/$id \\
          | jq -e '.end_time' >/dev/null; do sleep 10; done
    curl -s -H "Authorization: Bearer $TOKEN" $RUNBOARD/operations/$id | jq '{result, message, status}'

**Record an External Scan** of the records a CI step produced, as a CSV file (a header naming
the container's columns) or a JSON list of objects; they are checked against the container's
checks, and refused with the line and column of the first problem:

    curl -X POST -H "Authorization: Bearer $TOKEN" -F file=@orders.csv $RUNBOARD/containers/7/scan
    curl -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
         -d '[{"id": 1, "total": 12.5}]' $RUNBOARD/containers/7/scan

**Abort** what is running (best effort: a finished operation is answered as it is):

    curl -X PUT -H "Authorization: Bearer $TOKEN" $RUNBOARD/operations/abort/$id

Errors are JSON `{"detail": "…"}`: 401 without a valid token, 403 for what the user sees but
may not do, 404 for what is not there or not theirs to see, 409 when the operation moved on,
413 for an upload over the limit, 422 for invalid input (the field is named).
"""


class TokenAuth(HttpBearer):
    """Bearer tokens only: a browser session never opens the API (and so needs no CSRF)."""

    def authenticate(self, request, token: str):
        user = ApiToken.authenticate(token)
        if user is not None:
            request.user = user
        return user


def package_version() -> str:
    try:
        return version("runboard")
    except PackageNotFoundError:
        return "unknown"


api = NinjaAPI(
    title="Runboard API",
    version=package_version(),
    description=DESCRIPTION,
    urls_namespace="api",
    auth=TokenAuth(),
)
api.add_router("/operations/schedule", schedules.router)
api.add_router("/operations", operations.router)
api.add_router("/", catalog.router)


@api.exception_handler(AuthenticationError)
def unauthorized(request, exc):
    return api.create_response(
        request,
        {"detail": "Send a valid API token: Authorization: Bearer <token>."},
        status=401,
    )


@api.exception_handler(Http404)
def not_found(request, exc):
    return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(ValidationError)
def invalid(request, exc: ValidationError):
    """422 naming each field, in one sentence a person can read."""
    problems = []
    for error in exc.errors:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in SOURCES)
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else error["msg"])
    return api.create_response(request, {"detail": "; ".join(problems)}, status=422)


SOURCES = {"body", "query", "path", "form", "file", "payload", "paging", "filters"}


@api.get("/status", response=Status, summary="Version, database and workers")
def status(request):
    try:
        workers = sorted(Worker.alive(timezone.now() - timedelta(minutes=1)))
        connection.ensure_connection()
        database = "ok"
    except DatabaseError:
        logger.exception("status: the database does not answer")
        workers, database = [], "unreachable"
    return {"version": package_version(), "database": database, "workers": workers}


def urlpatterns():
    """The API's URLs, each exempt from the login the pages require: a token authenticates."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        login_not_required(pattern.callback)
    return patterns, app_name, namespace
