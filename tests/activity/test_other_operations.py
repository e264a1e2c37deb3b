"""External Scan, Export, Materialize and Promote for real: the tables, checks and anomalies they
leave, asserted against the test data, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from activity import engine
from activity.models import Run
from activity.operations.enrichment import table_name
from catalog.connectors import connect
from catalog.models import Anomaly, Check
from tests.base import build_world, make_run
from tests.sources import AUTHORED, PLANTED, customers, empty_source

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def enrichment(source, tmp_path):
    built = empty_source(source.kind, tmp_path)
    yield built
    built.drop()


@pytest.fixture
def world(source, enrichment):
    world = build_world(shop_url=source.url)
    world.shop.enrichment.connection_url = enrichment.url
    world.shop.enrichment.save()
    world.shop.enrichment_prefix = "shop"
    world.shop.save()
    execute(Run.launch(Run.Type.SYNC, world.shop, by=world.editor))
    for (container, field, rule), params in AUTHORED.items():
        table = world.shop.containers.get(name=container)
        Check.objects.create(
            container=table, field=table.fields.get(name=field), rule=rule, params=params
        )
    return world


def execute(run: Run) -> Run:
    engine.execute(run.pk)
    run.refresh_from_db()
    return run


def launch(world, type, **options) -> Run:
    return execute(Run.launch(type, world.shop, by=world.editor, options=options))


def rows(url: str, table: str) -> list[tuple]:
    with connect(url) as conn:
        return conn.query(f'SELECT * FROM "{table}" ORDER BY 1, 2')


def columns(url: str, table: str) -> list[str]:
    with connect(url) as conn:
        return next(t for t in conn.tables() if t.name == table).columns


# Export -----------------------------------------------------------------------------------------


def test_export_writes_each_asset_into_its_table(world, enrichment):
    launch(world, Run.Type.SCAN)
    launch(world, Run.Type.PROFILE, containers=["customers"], infer_checks=False)
    export = launch(world, Run.Type.EXPORT)
    assert export.status == "success"
    assert export.counters["assets_exported"] == 3
    anomalies = rows(enrichment.url, "shop_export_anomalies")
    assert len(anomalies) == len(PLANTED)
    assert sorted(row[7] for row in anomalies) == sorted(PLANTED.values())  # failed_count column
    assert len(rows(enrichment.url, "shop_export_checks")) == len(AUTHORED)
    assert len(rows(enrichment.url, "shop_export_profiles")) == 5  # the five fields of customers
    assert export.counters["rows_exported"] == len(PLANTED) + len(AUTHORED) + 5
    names = [c.name for c in columns(enrichment.url, "shop_export_anomalies")]
    assert names == [
        "anomaly_id",
        "container",
        "field",
        "check_id",
        "rule",
        "description",
        "status",
        "failed_count",
        "run_id",
        "created_at",
        "examples",
    ]


def test_export_replaces_earlier_contents_and_a_rerun_writes_the_same(world, enrichment):
    launch(world, Run.Type.SCAN)
    first = launch(world, Run.Type.EXPORT, assets=["anomalies", "checks"], containers=["orders"])
    before = rows(enrichment.url, "shop_export_checks")
    assert {row[1] for row in before} == {"orders"}
    anomalies = rows(enrichment.url, "shop_export_anomalies")
    rerun = execute(first.rerun(by=world.editor))
    assert rerun.status == "success"
    assert rows(enrichment.url, "shop_export_checks") == before
    assert rows(enrichment.url, "shop_export_anomalies") == anomalies


def test_export_without_an_enrichment_datastore_is_refused_at_launch(world):
    world.shop.enrichment = None
    world.shop.save()
    with pytest.raises(ValidationError, match="has no enrichment datastore"):
        Run.launch(Run.Type.EXPORT, world.shop, by=world.editor)
    assert not Run.objects.filter(type="export").exists()


# Materialize ------------------------------------------------------------------------------------


def test_materialize_copies_each_container_into_its_table(world, enrichment):
    run = launch(world, Run.Type.MATERIALIZE, containers=["customers", "orders"])
    assert run.status == "success"
    assert run.counters == {"containers_materialized": 2, "rows_written": 400}
    copied = rows(enrichment.url, "shop_mat_customers")
    assert len(copied) == 100
    assert [c.name for c in columns(enrichment.url, "shop_mat_customers")] == [
        "id",
        "email",
        "country",
        "age",
        "signup",
    ]
    assert copied[9][1] is None and copied[0][1] == "c1@x.io"  # nulls and values as they were
    limited = launch(world, Run.Type.MATERIALIZE, containers=["orders"], record_limit=10)
    assert limited.counters["rows_written"] == 10
    assert len(rows(enrichment.url, "shop_mat_orders")) == 10


def test_a_materialize_whose_only_container_failed_is_a_failure(world, source):
    source.execute("DROP VIEW big_orders", "DROP TABLE orders")
    run = launch(world, Run.Type.MATERIALIZE, containers=["orders"])
    assert run.status == "failure"
    assert run.detail == "none of its 1 tables succeeded"


def test_unusual_container_names_get_safe_distinct_tables(world, source, enrichment):
    source.execute(
        'CREATE TABLE "order_lines" (id INTEGER)',
        'CREATE TABLE "Order Lines" (id INTEGER)',
        'CREATE TABLE "or""ders; --" (id INTEGER)',
    )
    source.insert("Order Lines", [(1,)])
    execute(Run.launch(Run.Type.SYNC, world.shop, by=world.editor))
    names = ["order_lines", "Order Lines", 'or"ders; --']
    launch(world, Run.Type.MATERIALIZE, containers=names)
    tables = {table_name("shop", "mat", name) for name in names}
    assert len(tables) == 3
    assert all(t.replace("_", "").isalnum() and t.islower() for t in tables)
    with connect(enrichment.url) as conn:
        assert tables <= {t.name for t in conn.tables()}
    assert len(table_name("shop", "mat", "x" * 200)) <= 55


# Promote ------------------------------------------------------------------------------------------


@pytest.fixture
def staging(world, source, tmp_path):
    """A smaller copy of the shop to promote to: customers has EMAIL in capitals and no age."""
    copy = empty_source(source.kind, tmp_path)
    copy.execute(
        'CREATE TABLE customers (id INTEGER, "EMAIL" TEXT, country TEXT, signup DATE)',
        "CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount NUMERIC, status TEXT)",
    )
    world.target.connection_url = copy.url
    world.target.save()
    world.editor.teams.get(name="editor team").datastores.add(world.target)
    world.editor = world.persona("editor")  # its levels are cached: read them again
    execute(Run.launch(Run.Type.SYNC, world.target, by=world.admin))
    yield world.target
    copy.drop()


def promote(world, **options) -> Run:
    return execute(
        Run.launch(
            Run.Type.PROMOTE, world.shop, by=world.editor, target=world.target, options=options
        )
    )


def test_promote_copies_checks_matching_fields_by_name(world, staging):
    run = promote(world)
    assert run.status == "success" and run.completed_with_logs  # the missing field is logged
    copied = {
        (c.container.name, c.field.name if c.field else None, c.rule): c.status
        for c in Check.objects.filter(container__datastore=staging).select_related(
            "container", "field"
        )
    }
    assert copied[("customers", "EMAIL", "not_null")] == "active"  # matched case-insensitively
    assert copied[("customers", None, "between")] == "draft"  # age is missing in the target
    assert len(copied) == len(AUTHORED)
    assert run.counters == {
        "checks_created": len(AUTHORED),
        "checks_updated": 0,
        "checks_skipped": 0,
    }
    assert run.logs.filter(level="warning", message__contains="no field age").exists()


def test_promoting_again_updates_instead_of_duplicating(world, staging):
    promote(world)
    Check.objects.filter(
        container__datastore=world.shop, rule="between", field__name="amount"
    ).update(params={"min": 1})
    again = promote(world)
    assert again.counters == {
        "checks_created": 0,
        "checks_updated": 1,
        "checks_skipped": len(AUTHORED) - 1,
    }
    assert Check.objects.filter(container__datastore=staging).count() == len(AUTHORED)
    assert Check.objects.get(
        container__datastore=staging, rule="between", field__name="amount"
    ).params == {"min": 1}


def test_a_resumed_promote_processes_only_the_containers_left(world, staging):
    promote(world, containers=["customers"])
    # as the engine leaves a promote aborted after its first container
    parent = make_run(
        world.shop,
        type=Run.Type.PROMOTE,
        status=Run.Status.ABORTED,
        target=world.target,
        units={"customers": "success", "orders": "pending"},
    )
    child = execute(parent.resume(by=world.editor))
    assert list(child.units.values_list("name", "status")) == [("orders", "success")]
    assert child.counters == {"checks_created": 3, "checks_updated": 0, "checks_skipped": 0}
    assert Check.objects.filter(container__datastore=staging).count() == len(AUTHORED)


def test_promote_needs_editor_on_the_target(world, staging):
    from activity.rules import InvalidTransition

    world.editor.teams.get(name="editor team").datastores.remove(world.target)
    editor = world.persona("editor")
    with pytest.raises(InvalidTransition, match="editor permission on shop-staging"):
        Run.launch(Run.Type.PROMOTE, world.shop, by=editor, target=world.target)


# External Scan ------------------------------------------------------------------------------------


def upload(client: Client, container, text: str | bytes, name: str = "records.csv"):
    data = text.encode() if isinstance(text, str) else text
    file = io.BytesIO(data)
    file.name = name
    return client.post(
        f"/activity/containers/{container.pk}/external-scan/", {"file": file}, follow=True
    )


@pytest.fixture
def editor_client(world) -> Client:
    client = Client()
    client.force_login(world.persona("editor"))
    return client


def csv_of(rows: list[tuple]) -> str:
    lines = ["id,email,country,age,signup"]
    lines += [",".join("" if v is None else str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


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


# The action rules of these four types, end to end ------------------------------------------------


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
    assert Anomaly.objects.filter(run_number=external.pk).count() > 0
