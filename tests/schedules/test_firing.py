"""Schedules fire: each due time once, whatever the number of workers; once after a long
outage; never on top of their own live run; with the owner's permissions of the moment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activity.models import Run
from schedules.models import Schedule
from schedules.scheduler import fire_due
from tests.base import build_world, start_worker, wait_for
from tests.sources import empty_source


def schedule_of(world, **fields) -> Schedule:
    world.shop.containers.get_or_create(name="orders")
    schedule = Schedule(
        name=fields.pop("name", "nightly scan"),
        type=fields.pop("type", "scan"),
        datastore=world.shop,
        cron=fields.pop("cron", "0 2 * * *"),
        owner=fields.pop("owner", world.editor),
        **fields,
    )
    schedule.plan()
    schedule.save()
    return schedule


def due(schedule: Schedule, ago: timedelta = timedelta(seconds=1)) -> Schedule:
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=timezone.now() - ago)
    return Schedule.objects.get(pk=schedule.pk)


@pytest.mark.django_db
def test_a_due_schedule_launches_an_ordinary_run_as_its_owner(world):
    schedule = due(schedule_of(world))
    assert fire_due() == 1
    run = Run.objects.get()
    assert (run.type, run.trigger, run.trigger_label, run.schedule, run.triggered_by) == (
        "scan",
        "schedule",
        "nightly scan",
        schedule,
        world.editor,
    )
    schedule.refresh_from_db()
    assert (schedule.last_outcome, schedule.last_run_number, schedule.fires) == (
        "launched",
        run.pk,
        1,
    )
    assert schedule.next_fire_at > timezone.now() and schedule.next_fire_at.hour == 2
    assert fire_due() == 0  # the due time is gone


@pytest.mark.django_db
def test_a_schedule_down_for_six_hours_fires_once_when_it_comes_back(world):
    schedule = due(schedule_of(world, cron="0 * * * *"), ago=timedelta(hours=6))
    assert fire_due() == 1 and fire_due() == 0
    assert Run.objects.count() == 1
    schedule.refresh_from_db()
    assert timezone.now() < schedule.next_fire_at <= timezone.now() + timedelta(hours=1)


@pytest.mark.django_db
def test_a_fire_while_the_previous_run_is_live_is_skipped_and_recorded(world):
    schedule = due(schedule_of(world))
    fire_due()
    first = Run.objects.get()
    due(schedule)
    assert fire_due() == 1
    schedule.refresh_from_db()
    assert Run.objects.count() == 1
    assert schedule.last_outcome == "skipped"
    assert schedule.last_note == f"Skipped: run #{first.pk} was still queued."


@pytest.mark.django_db
def test_an_owner_who_may_no_longer_launch_is_refused_then_fires_again_once_restored(world):
    schedule = due(schedule_of(world))
    team = world.editor.teams.get(name="editor team")
    team.members.remove(world.editor)  # the editor is now only a watcher of the shop
    assert fire_due() == 1 and not Run.objects.exists()
    schedule.refresh_from_db()
    assert schedule.last_outcome == "refused"
    assert "editor permission on shop" in schedule.last_note
    team.members.add(world.editor)
    due(schedule)
    fire_due()
    schedule.refresh_from_db()
    assert schedule.last_outcome == "launched" and Run.objects.count() == 1


@pytest.mark.django_db
def test_a_paused_schedule_does_not_fire(world):
    schedule = schedule_of(world, active=False)
    assert schedule.next_fire_at is None
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=timezone.now() - timedelta(hours=1))
    assert fire_due() == 0 and not Run.objects.exists()


ROUNDS, SCHEDULES = 4, 12


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_three_workers_fire_each_due_time_exactly_once(tmp_path):
    source = empty_source("sqlite", tmp_path)  # a Sync of an empty database: runs end at once
    world = build_world(shop_url=source.url)
    schedules = [
        schedule_of(world, name=f"sync {i}", type="sync", cron="* * * * *")
        for i in range(SCHEDULES)
    ]
    Schedule.objects.update(next_fire_at=None, active=False)  # nothing due before the workers run
    workers = [
        start_worker(tmp_path / f"worker-{i}.log", RUNBOARD_SCHEDULER_TICK="0.05") for i in range(3)
    ]
    try:
        for round in range(1, ROUNDS + 1):
            Schedule.objects.update(active=True, next_fire_at=timezone.now() - timedelta(seconds=1))
            wait_for(
                lambda r=round: (
                    Schedule.objects.filter(fires=r).count() == SCHEDULES
                    and not Run.objects.filter(status__in=["queued", "running"]).exists()
                ),
                what=f"round {round} to fire and finish",
            )
            Schedule.objects.update(active=False, next_fire_at=None)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    for schedule in schedules:
        runs = Run.objects.filter(schedule=schedule)
        assert runs.count() == ROUNDS, schedule.name  # no duplicate, no missed due time
        assert set(runs.values_list("status", flat=True)) == {"success"}
    assert Schedule.objects.filter(fires=ROUNDS, last_outcome="launched").count() == SCHEDULES
