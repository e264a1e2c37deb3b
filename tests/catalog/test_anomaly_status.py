"""People acknowledge, resolve and reopen anomalies; each change is in its history."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from catalog.models import Anomaly, Check, Container


@pytest.fixture
def anomaly(world):
    container = Container.objects.create(datastore=world.shop, name="orders")
    check = Check.objects.create(container=container, rule="row_count", params={"max": 1})
    return Anomaly.objects.create(
        container=container, quality_check=check, run_number=1, failed_count=2, description="x"
    )


def test_an_editor_acknowledges_resolves_and_reopens_it(world, anomaly):
    assert "acknowledged" in anomaly.moves_for(world.editor)
    anomaly.set_status("acknowledged", by=world.editor)
    anomaly.set_status("resolved", by=world.editor, note="fixed upstream")
    assert anomaly.resolved_at and anomaly.status == "resolved"
    anomaly.set_status("active", by=world.admin)
    assert anomaly.resolved_at is None
    history = list(anomaly.events.values_list("kind", "actor__username", "note"))
    assert history == [
        ("acknowledged", "editor", "active → acknowledged"),
        ("resolved", "editor", "fixed upstream"),
        ("changed", "admin", "resolved → active"),
    ]


def test_only_editors_change_it_and_only_along_allowed_moves(world, anomaly):
    assert anomaly.moves_for(world.viewer) == ()
    with pytest.raises(PermissionDenied):
        anomaly.set_status("resolved", by=world.viewer)
    with pytest.raises(ValidationError, match="cannot become"):
        anomaly.set_status("nonsense", by=world.editor)
    assert Anomaly.objects.get(pk=anomaly.pk).status == "active" and not anomaly.events.exists()


def test_reopening_is_refused_while_another_anomaly_of_its_check_is_open(world, anomaly):
    anomaly.set_status("resolved", by=world.editor)
    Anomaly.objects.create(
        container=anomaly.container,
        quality_check=anomaly.quality_check,
        run_number=2,
        failed_count=1,
        description="again",
    )
    with pytest.raises(ValidationError, match="Another anomaly of this check is open"):
        anomaly.set_status("active", by=world.editor)
    assert Anomaly.objects.get(pk=anomaly.pk).status == "resolved"
