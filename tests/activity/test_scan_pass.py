"""The Scan computed in one pass: the same failing counts as one query per check (the old way,
kept as the oracle in scan_oracle.py), references planned linearly, incremental scopes that
read nothing when nothing is new and skip nothing, and anomalies that do not pile up."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from activity import engine
from activity.models import Run
from activity.operations import scan as scan_module
from catalog.connectors import Connector, connect
from catalog.models import Anomaly, AnomalyEvent, Check
from tests.activity.scan_oracle import failing_counts
from tests.base import build_world, launch
from tests.sources import empty_source

pytestmark = pytest.mark.django_db(transaction=True)

TABLE, TEXT = 'od"d; name', 'wé"ird col'


@pytest.fixture
def blank(source, tmp_path):
    """An empty database of the source's kind, for tables made to measure."""
    built = empty_source(source.kind, tmp_path)
    yield built
    built.drop()


@pytest.fixture
def world(blank):
    return build_world(shop_url=blank.url)


def odd_table(source) -> None:
    """Every kind of value a check meets: NULLs, empty strings, unicode, a hostile name."""
    t, c = TABLE.replace('"', '""'), TEXT.replace('"', '""')
    source.execute(
        f'CREATE TABLE "{t}" (id INTEGER, "{c}" TEXT, amount NUMERIC, day DATE, ref INTEGER)',
        "CREATE TABLE refs (key INTEGER)",
    )
    rows = []
    for i in range(1, 401):
        text = [None, "", "ünïcødé", "abc", "ABC", "x'y", f"v{i % 13}"][i % 7]
        amount = None if i % 11 == 0 else (i % 50) - 5
        day = "2999-01-01" if i % 97 == 0 else f"2025-0{1 + i % 9}-1{i % 9}"
        ref = None if i % 17 == 0 else i % 40
        rows.append((i if i % 23 else 7, text, amount, day, ref))
    source.insert(t, rows)
    source.insert("refs", [(k,) for k in range(0, 40, 3)])


def every_rule(container) -> list[Check]:
    field = {f.name: f for f in container.fields.all()}
    specs = [
        (TEXT, "not_null", {}),
        ("amount", "not_null", {}),
        ("id", "unique", {}),
        (TEXT, "unique", {}),
        ("amount", "between", {"min": 0, "max": 30}),
        ("amount", "between", {"min": 10}),
        (TEXT, "in_set", {"values": ["abc", "", "ünïcødé"]}),
        (TEXT, "matches", {"pattern": "^[a-z]+$"}),
        ("day", "not_future", {}),
        ("ref", "references", {"container": "refs", "field": "key"}),
    ]
    return [
        Check.objects.create(container=container, field=field[name], rule=rule, params=params)
        for name, rule, params in specs
    ]


def test_the_one_pass_finds_what_one_query_per_check_finds(world, blank):
    odd_table(blank)
    launch(world, Run.Type.SYNC)
    container = world.shop.containers.get(name=TABLE)
    checks = every_rule(container)
    Check.objects.create(container=container, rule="row_count", params={"max": 100})
    scan = launch(world, Run.Type.SCAN, containers=[TABLE], max_examples=3)
    assert scan.status == Run.Status.SUCCESS and not scan.has_logs
    with connect(blank.url) as conn:
        expected = failing_counts(conn, TABLE, checks)
    found = dict(Anomaly.objects.filter(run=scan).values_list("quality_check", "failed_count"))
    assert found == {pk: n for pk, n in expected.items() if n} | {
        Check.objects.get(rule="row_count").pk: 400
    }
    assert all(n for n in expected.values()), "every rule has something to find here"
    for anomaly in Anomaly.objects.filter(run=scan).exclude(quality_check__rule="row_count"):
        assert 1 <= len(anomaly.examples) <= 3


def test_a_check_that_breaks_is_logged_and_the_others_go_on(world, blank):
    odd_table(blank)
    launch(world, Run.Type.SYNC)
    container = world.shop.containers.get(name=TABLE)
    every_rule(container)
    # The reference table it names does not exist: its query fails, the others run.
    broken = Check.objects.get(rule="references")
    broken.params = {"container": "nowhere", "field": "key"}
    broken.save()
    scan = launch(world, Run.Type.SCAN, containers=[TABLE])
    assert scan.status == Run.Status.SUCCESS and scan.completed_with_logs
    assert scan.logs.filter(level="warning", message__contains="References").exists()
    assert Anomaly.objects.filter(run=scan).count() == 9


def test_references_of_300000_rows_take_well_under_a_second_on_sqlite(tmp_path, settings):
    source = empty_source("sqlite", tmp_path)
    source.execute("CREATE TABLE customers (id INTEGER)", "CREATE TABLE orders (customer INTEGER)")
    source.insert("customers", [(i,) for i in range(3000)])
    source.insert("orders", [(i % 3300,) for i in range(300_000)])
    world = build_world(shop_url=source.url)
    launch(world, Run.Type.SYNC)
    orders = world.shop.containers.get(name="orders")
    Check.objects.create(
        container=orders,
        field=orders.fields.get(),
        rule="references",
        params={"container": "customers", "field": "id"},
    )
    started = time.monotonic()
    scan = launch(world, Run.Type.SCAN, containers=["orders"])
    took = time.monotonic() - started
    assert Anomaly.objects.get(run=scan).failed_count == 27_000  # customers 3000-3299, 90 times
    assert took < 1.0, f"the references check took {took:.2f}s (was 19 s as a correlated subquery)"


@pytest.fixture
def statements(monkeypatch):
    """The SQL each source connection runs, in order."""
    ran: list[str] = []
    for name in ("query", "stream"):  # scalar() goes through query()
        original = getattr(Connector, name)
        for cls in {type(connect("sqlite://:scratch:")), *Connector.__subclasses__()}:
            method = getattr(cls, name, original)

            def spy(self, sql, *args, _method=method, **kwargs):
                ran.append(sql)
                return _method(self, sql, *args, **kwargs)

            monkeypatch.setattr(cls, name, spy)
    return ran


def incremental(world) -> Run:
    return launch(
        world, Run.Type.SCAN, containers=["customers"], mode="incremental", incremental_field="id"
    )


def customers_table(source) -> None:
    source.execute("CREATE TABLE customers (id INTEGER, email TEXT, age INTEGER)")
    source.insert("customers", [(i, f"c{i}@x.io", 20 + i % 50) for i in range(1, 201)])


def test_an_incremental_scan_with_nothing_new_reads_nothing(world, blank, statements):
    customers_table(blank)
    launch(world, Run.Type.SYNC)
    customers = world.shop.containers.get(name="customers")
    Check.objects.create(
        container=customers, field=customers.fields.get(name="email"), rule="unique"
    )
    Check.objects.create(
        container=customers, field=customers.fields.get(name="age"), rule="not_null"
    )
    assert incremental(world).counters["records_scanned"] == 200
    statements.clear()
    again = incremental(world)
    assert again.status == Run.Status.SUCCESS and again.counters["records_scanned"] == 0
    read = [sql for sql in statements if "customers" in sql]
    assert len(read) == 1 and read[0].startswith("SELECT MAX(")  # the upper bound, no more


def test_rows_inserted_while_an_incremental_scan_runs_are_scanned_by_the_next(
    world, blank, monkeypatch
):
    customers_table(blank)
    launch(world, Run.Type.SYNC)
    customers = world.shop.containers.get(name="customers")
    Check.objects.create(
        container=customers, field=customers.fields.get(name="age"), rule="not_null"
    )
    bound = scan_module.incremental_scope

    def then_rows_arrive(*args, **kwargs):
        scope = bound(*args, **kwargs)
        blank.insert("customers", [(201, "late@x.io", None), (202, "late2@x.io", None)])
        return scope

    monkeypatch.setattr(scan_module, "incremental_scope", then_rows_arrive)
    first = incremental(world)
    monkeypatch.setattr(scan_module, "incremental_scope", bound)
    assert first.counters["records_scanned"] == 200  # the late rows wait for the next scan
    assert not Anomaly.objects.exists()
    second = incremental(world)
    assert second.counters["records_scanned"] == 2
    assert Anomaly.objects.seen_by(second.pk).get().failed_count == 2


def test_three_scans_of_one_problem_make_one_anomaly_that_resolves_then_recurs(world, blank):
    customers_table(blank)
    blank.execute("UPDATE customers SET age = NULL WHERE id <= 3")
    launch(world, Run.Type.SYNC)
    customers = world.shop.containers.get(name="customers")
    check = Check.objects.create(
        container=customers, field=customers.fields.get(name="age"), rule="not_null"
    )
    scans = [launch(world, Run.Type.SCAN, containers=["customers"]) for _ in range(3)]
    anomaly = Anomaly.objects.get()
    assert (anomaly.status, anomaly.times_seen, anomaly.failed_count) == ("active", 3, 3)
    assert (anomaly.run_number, anomaly.last_seen_run_number) == (scans[0].pk, scans[2].pk)
    assert all(Anomaly.objects.seen_by(scan.pk).get() == anomaly for scan in scans)

    blank.execute("UPDATE customers SET age = 30")
    fixed = launch(world, Run.Type.SCAN, containers=["customers"])
    anomaly.refresh_from_db()
    assert (anomaly.status, anomaly.resolved_by_run_number) == ("resolved", fixed.pk)
    assert fixed.counters["anomalies_resolved"] == 1

    blank.execute("UPDATE customers SET age = NULL WHERE id = 9")
    broken = launch(world, Run.Type.SCAN, containers=["customers"])
    anomaly.refresh_from_db()
    assert Anomaly.objects.count() == 1 and anomaly.quality_check == check
    assert (anomaly.status, anomaly.recurring, anomaly.failed_count) == ("active", True, 1)
    history = list(anomaly.events.values_list("kind", "run_number"))
    assert history == [
        ("found", scans[0].pk),
        ("seen", scans[1].pk),
        ("seen", scans[2].pk),
        ("resolved", fixed.pk),
        ("reopened", broken.pk),
    ]
    broken.delete_by(world.editor)  # deleting a run changes none of this
    assert AnomalyEvent.objects.filter(anomaly=anomaly).count() == 5


def test_a_scan_does_not_resolve_what_a_later_scan_found_failing(world, blank):
    customers_table(blank)
    launch(world, Run.Type.SYNC)
    customers = world.shop.containers.get(name="customers")
    Check.objects.create(
        container=customers, field=customers.fields.get(name="age"), rule="not_null"
    )
    earlier = Run.launch(
        Run.Type.SCAN, world.shop, by=world.editor, options={"containers": ["customers"]}
    )
    earlier.start("A")
    job = engine.Job(Run.objects.get(pk=earlier.pk), "A")
    engine.begin(job)
    engine.process(job, engine.claim_next(job))  # it checked customers: all ages present

    blank.execute("UPDATE customers SET age = NULL WHERE id = 1")
    later = launch(world, Run.Type.SCAN, containers=["customers"])  # finds it failing
    assert Anomaly.objects.seen_by(later.pk).get().status == "active"

    engine.wrap_up(job)  # the earlier scan ends now, and auto-resolves what passed for it
    earlier.refresh_from_db()
    assert earlier.status == Run.Status.SUCCESS and earlier.counters["anomalies_resolved"] == 0
    assert Anomaly.objects.get().status == "active"
    assert Anomaly.objects.get().last_seen_at > timezone.now() - timedelta(minutes=1)
