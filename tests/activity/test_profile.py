"""Profile on a real database: the statistics and inferred checks the test data holds, and
the outcome of a run whose containers break."""

from __future__ import annotations

from collections import Counter
from statistics import mean

import pytest

from activity.models import Run
from activity.operations.profile import Stats, infer
from catalog.connectors import kind_of
from catalog.models import Anomaly, Check, Container, Field
from tests.base import (
    build_world,
    launch,
)
from tests.sources import customers, orders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source):
    return build_world(shop_url=source.url)


def test_profile_computes_statistics_in_the_source(world):
    launch(world, Run.Type.SYNC)
    profile = launch(world, Run.Type.PROFILE)
    assert profile.status == Run.Status.SUCCESS
    big = sum(1 for row in orders() if row[2] > 200)
    assert profile.counters["records_profiled"] == 100 + 300 + big
    assert profile.counters["fields_profiled"] == 5 + 4 + 4
    table = world.shop.containers.get(name="customers")
    assert table.row_count == 100

    email = table.fields.get(name="email").profile
    emails = [row[1] for row in customers()]
    assert (email.count, email.nulls) == (100, emails.count(None))
    assert email.distinct == len({e for e in emails if e})
    assert email.min_length == min(len(e) for e in emails if e)

    age = table.fields.get(name="age").profile
    ages = [row[3] for row in customers()]
    assert (float(age.min), float(age.max)) == (min(ages), max(ages))
    assert age.mean == pytest.approx(mean(ages))

    country = table.fields.get(name="country").profile
    assert country.values == dict(Counter(row[2] for row in customers()))


def test_profile_infers_checks_and_synchronizes_them(world, source):
    launch(world, Run.Type.SYNC)
    first = launch(world, Run.Type.PROFILE, containers=["customers", "orders"])
    inferred = {
        (c.container.name, c.field.name, c.rule): c.params
        for c in Check.objects.filter(inferred=True).select_related("container", "field")
    }
    assert inferred[("customers", "id", "between")] == {"min": 1, "max": 100}
    assert ("customers", "id", "unique") in inferred
    assert sorted(inferred[("customers", "country", "in_set")]["values"]) == [
        "DE",
        "FR",
        "NL",
        "XX",
    ]
    assert ("customers", "email", "not_null") not in inferred  # three emails are missing
    assert ("customers", "email", "unique") not in inferred  # two are the same
    assert ("customers", "signup", "not_future") not in inferred  # one is in 2999
    assert first.counters["checks_added"] == len(inferred)
    assert set(Check.objects.filter(inferred=True).values_list("status", flat=True)) == {"active"}

    again = launch(world, Run.Type.PROFILE, containers=["customers", "orders"])
    assert (again.counters["checks_added"], again.counters["checks_updated"]) == (0, 0)

    source.execute(
        "UPDATE customers SET age = 130 WHERE id = 1",
        "UPDATE customers SET country = NULL WHERE id = 2",
    )
    changed = launch(world, Run.Type.PROFILE, containers=["customers"])
    between = Check.objects.get(inferred=True, field__name="age", rule="between")
    assert between.params["max"] == 130
    # country lost its not-null: that inferred check is archived, not deleted
    not_null = Check.objects.get(inferred=True, field__name="country", rule="not_null")
    assert not_null.status == "archived"
    assert changed.counters["checks_updated"] >= 2


def test_every_check_profile_infers_fits_its_field(world):
    launch(world, Run.Type.SYNC)
    launch(world, Run.Type.PROFILE)
    inferred = Check.objects.filter(inferred=True).select_related("container", "field")
    assert {c.rule for c in inferred} >= {"not_null", "unique", "between", "in_set"}
    for check in inferred:
        check.full_clean()  # what the admin would refuse, Profile never makes


@pytest.mark.parametrize("type", ["INTEGER", "TEXT", "DATE", "BOOLEAN", "BLOB"])
def test_profile_never_infers_a_check_that_does_not_fit(type):
    """Statistics a field of each kind may show, odd ones included: whatever they suggest, no
    inferred check is one the admin would refuse."""
    field = Field(name="col", type=type)
    odd = [1, "abc", "2024-01-01", True, 2.5]
    for low in odd:
        for high in odd:
            stats = Stats(field, kind_of(type), count=40, nulls=0, distinct=2, min=low, max=high)
            stats.values, stats.raw_values = {str(low): 20, str(high): 20}, [low, high]
            for rule, params in infer(stats):
                assert Check.unfit(rule, field, params) == {}, (rule, params)


def test_a_number_column_holding_text_gets_no_range_from_it():
    """SQLite lets a NUMERIC column hold "abc": its MAX is then text, no bound of a range."""
    stats = Stats(Field(name="amount", type="NUMERIC"), "number", count=9, nulls=0, distinct=9)
    stats.min, stats.max = 1, "abc"
    assert "between" not in dict(infer(stats))
    stats.max = 99
    assert dict(infer(stats))["between"] == {"min": 1, "max": 99}


def test_profile_can_infer_drafts_and_honours_a_record_limit(world):
    launch(world, Run.Type.SYNC)
    profile = launch(
        world, Run.Type.PROFILE, containers=["orders"], record_limit=50, infer_as_draft=True
    )
    assert profile.counters["records_profiled"] == 50
    amount = world.shop.containers.get(name="orders").fields.get(name="id").profile
    assert (amount.count, amount.max) == (50, "50")
    assert set(Check.objects.filter(inferred=True).values_list("status", flat=True)) == {"draft"}


def test_a_broken_table_fails_its_container_and_the_run_completes_with_logs(world, source):
    if source.kind == "sqlite":  # a view whose table went away after the sync
        source.execute(
            "CREATE TABLE doomed (id INTEGER)", "CREATE VIEW broken AS SELECT id FROM doomed"
        )
        launch(world, Run.Type.SYNC)
        source.execute("DROP TABLE doomed")
    else:  # a view that fails when read
        source.execute("CREATE VIEW broken AS SELECT id, 1 / (id - id) AS boom FROM customers")
        launch(world, Run.Type.SYNC)
    profile = launch(world, Run.Type.PROFILE)
    assert profile.status == Run.Status.SUCCESS
    assert profile.completed_with_logs
    broken = profile.units.get(name="broken")
    assert broken.status == "failure" and broken.error
    assert profile.logs.filter(unit=broken, level="error").exists()
    assert profile.units.filter(status="success").count() == 3
    assert profile.counters["containers_profiled"] == 3
    # What the API says of it: the log's warnings and errors, in a line.
    errors = 2 if source.kind == "sqlite" else 1  # on SQLite, the dropped table failed too
    assert profile.message.startswith(f"{errors} error{'s' * (errors > 1)} in its log; the first: ")


def test_a_run_whose_only_container_failed_is_a_failure(world, source):
    if source.kind == "sqlite":  # a view whose table went away after the sync
        source.execute(
            "CREATE TABLE doomed (id INTEGER)", "CREATE VIEW broken AS SELECT * FROM doomed"
        )
        launch(world, Run.Type.SYNC)
        source.execute("DROP TABLE doomed")
    else:  # a view that fails when read
        source.execute("CREATE VIEW broken AS SELECT id, 1 / (id - id) AS boom FROM customers")
        launch(world, Run.Type.SYNC)
    profile = launch(world, Run.Type.PROFILE, containers=["broken"])
    assert profile.status == Run.Status.FAILURE
    assert profile.detail == "none of its 1 tables succeeded"
    assert profile.units.get().status == "failure"


def test_hostile_identifiers_are_quoted_everywhere(world, source):
    table, column = 'we"ird; DROP TABLE customers;--', 'a b"c; --'
    source.execute(
        f'CREATE TABLE "{table.replace(chr(34), chr(34) * 2)}" ("{column.replace(chr(34), chr(34) * 2)}" TEXT, n INTEGER)'
    )
    source.insert(table.replace('"', '""'), [("x", 1), (None, 2), ("x", 3)])
    launch(world, Run.Type.SYNC)
    container = world.shop.containers.get(name=table)
    field = container.fields.get(name=column)
    profile = launch(world, Run.Type.PROFILE, containers=[table])
    assert profile.status == Run.Status.SUCCESS and not profile.has_logs
    assert (field.profile.nulls, field.profile.distinct) == (1, 1)
    Check.objects.create(
        container=container,
        field=field,
        rule="in_set",
        params={"values": ["y'); DROP TABLE orders;--"]},
    )
    scan = launch(world, Run.Type.SCAN, containers=[table])
    assert scan.status == Run.Status.SUCCESS
    assert Anomaly.objects.get(run=scan, quality_check__rule="in_set").failed_count == 2
    assert Container.objects.filter(name__in=["customers", "orders"]).count() == 2
    assert launch(world, Run.Type.SYNC).counters["containers_found"] == 4  # nothing was dropped
