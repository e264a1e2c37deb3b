"""Promote: checks copied to the target datastore's same-named containers."""

from __future__ import annotations

import pytest

from activity.models import Run
from catalog.models import Check, Field
from tests.base import (
    catalogued_world,
    execute,
    make_run,
    promote,
)
from tests.sources import AUTHORED

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source, enrichment):
    return catalogued_world(source, enrichment)


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


def test_a_check_that_does_not_fit_the_target_field_is_promoted_as_draft(world, staging):
    # In the target, orders.amount holds text: a range on it would fail on every scan.
    amount = Field.objects.get(
        container__datastore=staging, container__name="orders", name="amount"
    )
    Field.objects.filter(pk=amount.pk).update(type="TEXT")
    run = promote(world)
    assert run.status == "success" and run.counters["checks_created"] == len(AUTHORED)
    copy = Check.objects.get(container__datastore=staging, rule="between", field=amount)
    assert copy.status == "draft" and copy.params == {"min": 0}
    assert run.logs.filter(
        level="warning",
        message="Between on orders.amount: Between needs a number or date field; amount is a "
        "text field (TEXT) in shop-staging.orders; promoted as draft",
    ).exists()
    matches = Check.objects.get(container__datastore=staging, rule="matches")
    assert matches.status == "active"  # status is text there too: it fits


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
