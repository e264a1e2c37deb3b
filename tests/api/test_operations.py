"""Operations over the API, for every persona: the same rules, codes and database effects as
the pages (SPEC §4, §7), in the shapes pipeline clients read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activity.models import Run
from tests.base import ACTORS, PERSONAS, SEERS, make_run

# action → (method, path, the state it is allowed in, the state it is refused in)
ACTIONS = {
    "abort": ("put", "/operations/abort/{}", {"status": "running"}, {"status": "queued"}),
    "resume": (
        "put",
        "/operations/resume/{}",
        {"status": "failure", "units": {"a": "success", "b": "failure"}},
        {"status": "success"},
    ),
    "rerun": ("put", "/operations/rerun/{}", {"status": "success"}, {"status": "running"}),
    "delete": ("delete", "/operations/{}", {"status": "aborted"}, {"status": "running"}),
}


def call(client, method: str, path: str):
    return getattr(client, method)(path)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_actions_for_every_persona(world, api, action, persona):
    method, path, allowed, _ = ACTIONS[action]
    run = make_run(world.shop, **allowed)
    response = call(api(persona), method, path.format(run.pk))
    after = Run.objects.filter(pk=run.pk, deleted_at__isnull=True).first()
    if persona in ACTORS:
        expected = 204 if action == "delete" else 200
        assert response.status_code == expected, response.content
        if action == "abort":
            assert response.json()["aborting"] and after.is_aborting
        elif action in ("resume", "rerun"):
            child = response.json()
            assert child["parent"] == {"id": run.pk, "kind": action}
            assert child["result"] == "queued" and child["end_time"] is None
            assert Run.objects.get(pk=child["id"]).trigger == Run.Trigger.API
        else:
            assert after is None
    elif persona in SEERS:
        assert response.status_code == 403
        assert "editor permission on shop" in response.json()["detail"]
        assert after is not None and not after.children.exists() and not after.is_aborting
    else:
        assert response.status_code == 404  # never 403 for what they cannot see
        assert after is not None and not after.children.exists()


@pytest.mark.parametrize("action", ["resume", "rerun", "delete"])
def test_an_action_the_state_no_longer_allows_is_a_409(world, api, action):
    method, path, _, refused = ACTIONS[action]
    run = make_run(world.shop, **refused)
    response = call(api("editor"), method, path.format(run.pk))
    assert response.status_code == 409
    assert f"Run #{run.pk}" in response.json()["detail"]
    assert Run.objects.filter(pk=run.pk, deleted_at__isnull=True).exists()
    assert not run.children.exists()


def test_abort_is_best_effort_on_what_finished_or_is_already_aborting(world, api):
    for state in ({"status": "success"}, {"status": "running", "aborting": True}):
        run = make_run(world.shop, **state)
        response = api("editor").put(f"/operations/abort/{run.pk}")
        assert response.status_code == 200
        assert response.json()["id"] == run.pk
    queued = make_run(world.shop)
    assert api("editor").put(f"/operations/abort/{queued.pk}").json()["result"] == "aborted"


def test_a_resume_twice_is_refused_the_second_time(world, api):
    run = make_run(world.shop, status="aborted", units={"a": "success", "b": "pending"})
    first = api("editor").put(f"/operations/resume/{run.pk}")
    second = api("admin").put(f"/operations/resume/{run.pk}")
    assert first.status_code == 200 and second.status_code == 409
    assert f"already resumed as #{first.json()['id']}" in second.json()["detail"]


# Launching ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_launch_for_every_persona(world, api, persona):
    world.shop.containers.create(name="orders")
    response = api(persona).post(
        "/operations/run", {"type": "profile", "datastore_id": world.shop.pk}
    )
    if persona in ACTORS:
        assert response.status_code == 200
        run = Run.objects.get(pk=response.json()["id"])
        assert (run.type, run.trigger, run.triggered_by.username) == (
            "profile",
            "api",
            world.persona(persona).username,
        )
        assert response.json()["containers"] == [
            {"id": world.shop.containers.get().pk, "name": "orders"}
        ]
    else:
        assert response.status_code == (403 if persona in SEERS else 404)
        assert not Run.objects.exists()


def launched(api, **body) -> dict:
    response = api("editor").post("/operations/run", body)
    assert response.status_code == 200, response.content
    return Run.objects.get(pk=response.json()["id"]).options


def test_the_api_names_its_options_as_clients_send_them(world, api):
    for name in ("orders", "customers"):
        world.shop.containers.create(name=name).fields.create(name="id", type="INTEGER")
    shop = world.shop.pk
    assert launched(api, type="catalog", datastore_id=shop, include=["table"], prune=True) == {
        "include": ["tables"],
        "prune": True,
        "recreate": False,
    }
    profile = launched(
        api,
        type="profile",
        datastore_id=shop,
        container_names=["orders"],
        max_records_analyzed_per_partition=-1,
        infer_as_draft=True,
        ai_effort="high",  # an option Runboard does not know: ignored
    )
    assert (profile["containers"], profile["record_limit"], profile["infer_as_draft"]) == (
        ["orders"],
        None,
        True,
    )
    scan = launched(
        api,
        type="scan",
        datastore_id=shop,
        incremental=True,
        incremental_field="id",
        auto_resolve_passed_anomalies=False,
        enrichment_source_record_limit=3,
        max_records_analyzed_per_partition=1000,
    )
    assert (scan["mode"], scan["auto_resolve"], scan["max_examples"], scan["record_limit"]) == (
        "incremental",
        False,
        3,
        1000,
    )
    orders = world.shop.containers.get(name="orders").pk
    export = launched(
        api, type="export", datastore_id=shop, asset_type="checks", container_ids=[orders]
    )
    assert (export["assets"], export["containers"]) == (["checks"], ["orders"])
    materialize = launched(api, type="materialize", datastore_id=shop, max_records_per_partition=5)
    assert materialize["record_limit"] == 5


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"type": "scan", "incremental": True}, "incremental_field"),
        ({"type": "scan", "enrichment_source_record_limit": 500}, "enrichment_source_record_limit"),
        ({"type": "profile", "container_names": ["nope"]}, "container_names"),
        ({"type": "sync", "include": ["tables", "files"]}, "include"),
        ({"type": "export", "container_ids": [999999]}, "container_ids"),
        ({"type": "export", "asset_type": "everything"}, "asset_type"),
        ({"type": "promote"}, "target"),
        ({"type": "profile", "prune": "maybe"}, "prune"),
        ({"type": "launch-the-rockets"}, "type"),
        ({"type": "profile", "datastore_id": "shop"}, "datastore_id"),
    ],
)
def test_an_invalid_option_is_a_422_naming_it_and_launches_nothing(world, api, body, named):
    world.shop.enrichment = None
    world.shop.save()
    response = api("editor").post("/operations/run", {"datastore_id": world.shop.pk} | body)
    assert response.status_code == 422, response.content
    assert named in response.json()["detail"]
    assert not Run.objects.exists()


def test_a_promote_needs_a_target_the_user_may_see_and_edit(world, api):
    world.shop.containers.create(name="orders")
    body = {"type": "promote", "datastore_id": world.shop.pk}
    assert (
        api("editor")
        .post("/operations/run", body | {"target_datastore_id": world.other.pk})
        .status_code
        == 404
    )
    world.editor.teams.get(name="watchers").datastores.add(world.other)  # seen, not editable
    response = api("editor").post("/operations/run", body | {"target_datastore_id": world.other.pk})
    assert response.status_code == 403 and "warehouse" in response.json()["detail"]
    ok = api("editor").post("/operations/run", body | {"target_datastore_id": world.target.pk})
    assert ok.status_code == 403  # the editor's team only watches shop-staging
    assert not Run.objects.exists()


# Reading ----------------------------------------------------------------------------------------


def test_an_operation_reads_as_clients_expect(world, api):
    clean = make_run(world.shop, status="success", counters={"records_scanned": 40})
    noisy = make_run(world.shop, status="success", has_logs=True)
    live = make_run(world.shop, status="running")
    client = api("viewer")
    one = client.get(f"/operations/{clean.pk}").json()
    assert one["result"] == "success" and one["message"] is None and one["end_time"]
    assert one["status"]["records_processed"] == 40 and one["status"]["total_containers"] == 1
    assert client.get(f"/operations/{noisy.pk}").json()["message"]
    running = client.get(f"/operations/{live.pk}").json()
    assert running["end_time"] is None and running["start_time"] and running["message"] is None


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_the_list_filters_pages_and_shows_only_what_the_user_may_see(world, api):
    day = timezone.now() - timedelta(days=3)
    old = make_run(world.shop, type="sync", status="success", created_at=day)
    failed = make_run(world.shop, status="failure", has_logs=True)
    queued = make_run(world.shop, type="profile")
    theirs = make_run(world.other, status="success")
    client = api("editor")
    assert ids(client.get("/operations")) == [queued.pk, failed.pk, old.pk]
    assert ids(api("admin").get("/operations"))[0] == theirs.pk
    assert ids(client.get("/operations", {"operation_type": "catalog"})) == [old.pk]
    assert ids(client.get("/operations", {"result": ["failure", "queued"]})) == [
        queued.pk,
        failed.pk,
    ]
    assert ids(client.get("/operations", {"finished": "false"})) == [queued.pk]
    assert ids(client.get("/operations", {"has_logs": "true"})) == [failed.pk]
    assert ids(client.get("/operations", {"end_date": day.date().isoformat()})) == [old.pk]
    assert ids(client.get("/operations", {"start_date": timezone.now().date().isoformat()})) == [
        queued.pk,
        failed.pk,
    ]
    assert ids(client.get("/operations", {"datastore": [world.other.pk]})) == []
    container = queued.units.get().container_id
    assert set(ids(client.get("/operations", {"container": container}))) == {
        queued.pk,
        failed.pk,
        old.pk,
    }
    asc = client.get("/operations", {"sort_created": "asc", "size": 2, "page": 2})
    assert ids(asc) == [queued.pk]
    assert {k: asc.json()[k] for k in ("total", "page", "size", "pages")} == {
        "total": 3,
        "page": 2,
        "size": 2,
        "pages": 2,
    }
    assert ids(client.get("/operations", {"page": 9})) == []  # past the end: an empty page
    assert ids(api("outsider").get("/operations")) == []


@pytest.mark.parametrize(
    "query",
    [
        {"size": 101},
        {"size": 0},
        {"page": 0},
        {"page": -1},
        {"result": "lost"},
        {"finished": "x"},
        {"start_date": "yesterday"},
        {"sort_created": "up"},
        {"datastore": "x"},
        {"page": "9" * 30},
    ],
)
def test_a_malformed_list_query_is_a_422(world, api, query):
    response = api("editor").get("/operations", query)
    assert response.status_code == 422 and response.json()["detail"]


@pytest.mark.parametrize("runs", [3, 30])
def test_the_list_costs_the_same_queries_for_any_page(
    world, api, runs, django_assert_max_num_queries
):
    for _ in range(runs):
        make_run(world.shop, status="success", units={"a": "success", "b": "success"})
    client = api("editor")
    client.get("/operations")  # the token's last use is written once
    with django_assert_max_num_queries(6):
        assert len(ids(client.get("/operations", {"size": 50}))) == runs
