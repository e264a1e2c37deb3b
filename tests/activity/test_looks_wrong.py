"""Runs that look wrong: an ETA and a "slower than usual" or "no heartbeat" warning from each
(datastore, type)'s own recent successes, with frozen time and a synthetic history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activity.models import Run, RunTiming
from tests.base import make_run


def history(world, minutes: list[float], type: str = "scan") -> None:
    """Successful runs of these durations, landed as the engine lands them."""
    for length in minutes:
        run = make_run(world.shop, type=type, status="running")
        Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=length))
        run.refresh_from_db()
        run.land(Run.Status.SUCCESS)


def shown(run: Run) -> Run:
    return RunTiming.attach([Run.objects.get(pk=run.pk)])[0]


def test_no_history_no_eta_and_no_warning(world):
    history(world, [2, 2, 2])  # three successes say nothing yet
    run = make_run(world.shop, status="running", started_at=timezone.now() - timedelta(hours=5))
    run = shown(run)
    assert run.usual is None and run.eta is None and not run.slower_than_usual
    assert not Run.objects.looking_wrong().exists()


def test_a_live_run_gets_an_eta_then_a_slower_than_usual_warning(world):
    history(world, [2, 2.1, 1.9, 2, 2.2, 1.8])
    fresh = shown(
        make_run(world.shop, status="running", started_at=timezone.now() - timedelta(seconds=30))
    )
    assert timedelta(seconds=80) < fresh.eta < timedelta(seconds=95)
    assert not fresh.slower_than_usual
    late = shown(
        make_run(world.shop, status="running", started_at=timezone.now() - timedelta(minutes=10))
    )
    assert late.eta == timedelta(0) and late.slower_than_usual
    other_type = make_run(
        world.shop, type="profile", status="running", started_at=timezone.now() - timedelta(hours=1)
    )
    assert set(Run.objects.looking_wrong().values_list("pk", flat=True)) == {late.pk}
    assert not shown(other_type).slower_than_usual


def test_a_silent_run_and_a_finished_run_that_took_three_times_as_long(world):
    history(world, [1, 1, 1, 1, 1])
    silent = make_run(
        world.shop, status="running", heartbeat_at=timezone.now() - timedelta(seconds=40)
    )
    assert timedelta(seconds=39) < shown(silent).silent_for < timedelta(seconds=45)
    slow = make_run(world.shop, status="success", duration=timedelta(minutes=4))
    quick = make_run(world.shop, status="success", duration=timedelta(minutes=1))
    assert shown(slow).slower_than_usual and not shown(quick).slower_than_usual
    assert set(Run.objects.looking_wrong().values_list("pk", flat=True)) == {silent.pk, slow.pk}


@pytest.mark.parametrize("samples", [30])
def test_the_summary_keeps_only_the_recent_runs(world, samples):
    history(world, [10] * samples)
    history(world, [1] * RunTiming.SAMPLES)
    timing = RunTiming.objects.get()
    assert len(timing.seconds) == RunTiming.SAMPLES
    assert abs(timing.median - timedelta(minutes=1)) < timedelta(seconds=1)


def test_a_chain_of_resumes_shows_its_coverage(world):
    first = make_run(
        world.shop, status="failure", units={"a": "success", "b": "failure", "c": "pending"}
    )
    second = make_run(
        world.shop,
        status="aborted",
        units={"b": "success", "c": "pending"},
        parent=first,
        link="resume",
    )
    third = make_run(
        world.shop, status="success", units={"c": "success"}, parent=second, link="resume"
    )
    assert third.coverage() == (3, 3, [first.pk, second.pk, third.pk])
    assert first.coverage() is None
    assert list(Run.objects.filter(pk__in=[first.pk, second.pk, third.pk]).chain_ends()) == [third]
