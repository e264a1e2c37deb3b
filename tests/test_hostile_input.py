"""Whatever anyone sends in a query string or a form, the answer is never a server error.

A table of hostile values (Unicode digits, ids past 64 bits, days at the end of the calendar,
NUL bytes, very long text, markup) goes into every GET parameter of every page and every field
of every form, on both databases; then Hypothesis throws arbitrary text at the list filters.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activity.models import Run
from catalog.models import Anomaly, Check, Container
from tests.base import client_for, make_run

HOSTILE = [
    "",
    " ",
    "²",
    "٣",
    "1" * 23,
    str(2**63),
    str(2**64),
    "-1",
    "0",
    "1.5",
    "1e400",
    "NaN",
    "9999-12-31",
    "0001-01-01",
    "10000-01-01",
    "2025-02-30",
    "\x00",
    "1\x00",
    "k" * 65,
    "9" * 5000,
    "%",
    "'\"",
    "<script>alert(1)</script>",
    "1:2:3",
    ":",
    "1:",
    "²:running",
    f"{2**64}:queued",
    "1:" + "9" * 30,
    "🙂\u202e",
]

# Every page and the parameters it reads.
PAGES = {
    "/activity/": [
        "q",
        "type",
        "status",
        "datastore",
        "triggered_by",
        "has_logs",
        "created_from",
        "created_to",
        "sort",
        "size",
        "after",
        "before",
    ],
    "/activity/datastores/{shop}/": ["q", "after", "before", "created_to", "sort"],
    "/activity/live/": ["run", "open"],
    "/activity/runs/{run}/": ["view", "log", "next"],
    "/activity/runs/{run}/abort/": ["next"],
    "/activity/runs/{finished}/delete/": ["next"],
    "/activity/launch/": ["datastore", "type", "target", "option-containers", "option-mode"],
    "/anomalies/": ["status", "run", "container", "before"],
    "/checks/": ["status"],
    "/datastores/": [],
    "/datastores/{shop}/": [],
    "/containers/": [],
    "/containers/{container}/": [],
    "/anomalies/{anomaly}/": [],
    "/checks/{check}/": [],
}

# Every form that posts, its fields, and what a valid submission holds besides.
FORMS = {
    "/activity/launch/": (
        {"datastore": "{shop}", "type": "profile", "key": "abc"},
        [
            "datastore",
            "type",
            "target",
            "key",
            "option-record_limit",
            "option-containers",
            "option-infer_checks",
        ],
    ),
    "/activity/runs/{finished}/rerun/": ({"next": "/activity/"}, ["key", "next", "expanded"]),
    "/activity/runs/{finished}/resume/": ({}, ["next", "expanded"]),
    "/activity/runs/{run}/abort/": ({}, ["next", "expanded"]),
    "/activity/runs/{finished}/delete/": ({}, ["next"]),
}


@pytest.fixture
def places(world) -> dict[str, int]:
    container = Container.objects.create(datastore=world.shop, name="orders")
    check = Check.objects.create(container=container, rule=Check.Rule.ROW_COUNT)
    run = make_run(world.shop, status=Run.Status.RUNNING)
    finished = make_run(
        world.shop, status=Run.Status.FAILURE, units={"orders": "success", "x": "failure"}
    )
    anomaly = Anomaly.objects.create(
        container=container, quality_check=check, run_number=run.pk, failed_count=1
    )
    return {
        "shop": world.shop.pk,
        "run": run.pk,
        "finished": finished.pk,
        "container": container.pk,
        "check": check.pk,
        "anomaly": anomaly.pk,
    }


def assert_handled(response, what: str) -> None:
    assert response.status_code < 500, f"{what} → {response.status_code}"


@pytest.mark.parametrize("path", list(PAGES))
def test_no_query_string_value_is_a_server_error(world, places, path):
    client = client_for(world, "editor")
    url = path.format(**places)
    # The list also answers htmx with a fragment of itself: the same parsing, another template.
    variants = [{}, {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}]
    for name in PAGES[path] or ["anything"]:
        for value in HOSTILE:
            for headers in variants if path == "/activity/" else variants[:1]:
                response = client.get(url, {name: value}, **headers)
                assert_handled(response, f"GET {url}?{name}={value!r}")


@pytest.mark.parametrize("path", ["/activity/runs/{}/", "/containers/{}/", "/anomalies/{}/"])
def test_an_id_past_64_bits_in_a_path_is_not_found(world, path):
    for pk in ("9" * 25, str(2**63), str(2**64)):
        assert client_for(world, "editor").get(path.format(pk)).status_code == 404


@pytest.mark.parametrize("form", list(FORMS))
def test_no_form_value_is_a_server_error(world, places, form):
    valid, fields = FORMS[form]
    url = form.format(**places)
    client = client_for(world, "editor")
    for name in fields:
        for value in HOSTILE:
            data = {k: v.format(**places) for k, v in valid.items()} | {name: value}
            response = client.post(url, data)
            assert_handled(response, f"POST {url} {name}={value!r}")


@pytest.mark.parametrize("value", HOSTILE)
def test_no_uploaded_value_is_a_server_error_nor_a_run(world, value):
    container = Container.objects.create(datastore=world.shop, name="customers")
    container.fields.create(name="id", type="INTEGER", position=0)
    container.fields.create(name="signup", type="DATE", position=1)
    for line in (f"id,signup\n{value},2025-01-01\n", f"id,signup\n1,{value}\n", f"{value}\n1\n"):
        file = io.BytesIO(line.encode())
        file.name = "records.csv"
        response = client_for(world, "editor").post(
            f"/activity/containers/{container.pk}/external-scan/", {"file": file}, follow=True
        )
        assert_handled(response, f"upload {line!r}")
    assert all(
        run.upload.records == 1 for run in Run.objects.filter(type=Run.Type.EXTERNAL_SCAN)
    ), "only valid records make a run"


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    query=st.dictionaries(
        st.sampled_from(PAGES["/activity/"] + ["run", "open"]),
        st.text(max_size=40),
        max_size=6,
    )
)
def test_arbitrary_filters_never_break_the_list(world, query):
    client = client_for(world, "viewer")
    assert_handled(client.get("/activity/", query), f"/activity/ {query!r}")
    assert_handled(client.get("/activity/live/", query), f"/activity/live/ {query!r}")
    assert_handled(client.get("/anomalies/", query), f"/anomalies/ {query!r}")
