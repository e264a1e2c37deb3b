"""A pipeline's view: a real HTTP client against a live server and a real worker process."""

from __future__ import annotations

import httpx
import pytest

from accounts.models import ApiToken
from activity import engine
from activity.models import Run
from tests.base import author_checks, build_world, start_worker, wait_for
from tests.gate import Gates

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pipeline(live_server, source, tmp_path):
    world = build_world(shop_url=source.url)
    engine.execute(Run.launch(Run.Type.SYNC, world.shop, by=world.editor).pk)
    author_checks(world)
    gates = Gates(tmp_path / "gates")
    worker = start_worker(tmp_path / "worker.log", gates=gates.folder, RUNBOARD_GATED="scan")
    _, token = ApiToken.issue(world.editor, "pipeline", 1)
    with httpx.Client(
        base_url=f"{live_server.url}/api/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield world, client, gates, source
    worker.kill()
    worker.wait()


def finished(client: httpx.Client, operation_id: int) -> dict:
    """Poll as the Qualytics client does, until `end_time` is set."""
    return wait_for(
        lambda: (op := client.get(f"operations/{operation_id}").json())["end_time"] and op,
        timeout=60,
        what=f"operation {operation_id} to finish",
    )


def test_a_pipeline_launches_a_profile_and_waits_for_it(pipeline):
    world, client, _, source = pipeline
    launched = client.post(
        "operations/run",
        json={"type": "profile", "datastore_id": world.shop.pk, "container_names": ["customers"]},
    )
    assert launched.status_code == 200 and launched.json()["end_time"] is None
    clean = finished(client, launched.json()["id"])
    assert (clean["result"], clean["message"]) == ("success", None)
    assert clean["status"] | {"checks_synchronized": 0} == {
        "total_containers": 1,
        "containers_analyzed": 1,
        "records_processed": 100,
        "fields_profiled": 5,
        "checks_synchronized": 0,
        "anomalies_identified": None,
    }
    assert clean["status"]["checks_synchronized"] > 0

    # A view that fails when read: the profile still succeeds, with logs worth reading.
    if source.kind == "sqlite":
        source.execute(
            "CREATE TABLE doomed (id INTEGER)", "CREATE VIEW broken AS SELECT * FROM doomed"
        )
    else:
        source.execute("CREATE VIEW broken AS SELECT id, 1 / (id - id) AS boom FROM customers")
    sync = client.post("operations/run", json={"type": "catalog", "datastore_id": world.shop.pk})
    assert finished(client, sync.json()["id"])["result"] == "success"
    if source.kind == "sqlite":
        source.execute("DROP TABLE doomed")
    noisy = finished(
        client,
        client.post(
            "operations/run", json={"type": "profile", "datastore_id": world.shop.pk}
        ).json()["id"],
    )
    assert noisy["result"] == "success" and "broken" in noisy["message"]


def test_a_pipeline_aborts_a_scan_while_it_runs(pipeline):
    world, client, gates, _ = pipeline
    scan = client.post(
        "operations/run", json={"type": "scan", "datastore_id": world.shop.pk}
    ).json()
    gates.wait_entered("big_orders")  # the first container is being scanned
    running = client.get(f"operations/{scan['id']}").json()
    assert running["result"] == "running" and running["end_time"] is None
    aborted = client.put(f"operations/abort/{scan['id']}")
    assert aborted.status_code == 200 and aborted.json()["aborting"]
    done = finished(client, scan["id"])
    assert done["result"] == "aborted" and done["status"]["containers_analyzed"] == 0


def test_a_pipeline_records_an_external_scan_and_reads_its_anomalies(pipeline):
    world, client, _, _ = pipeline
    customers = world.shop.containers.get(name="customers")
    csv = b"id,email,age\n1,a@x.io,30\n2,,41\n3,c@x.io,-7\n"
    sent = client.post(f"containers/{customers.pk}/scan", files={"file": ("batch.csv", csv)})
    assert sent.status_code == 200, sent.text
    done = finished(client, sent.json()["id"])
    assert done["result"] == "success" and done["status"]["anomalies_identified"] == 2
    anomalies = client.get("anomalies", params={"operation": done["id"]}).json()
    assert {(a["rule"], a["field"], a["failed_count"]) for a in anomalies["items"]} == {
        ("not_null", "email", 1),
        ("between", "age", 1),
    }
