"""A worker owns the containers it claimed. Once the reaper took one back from a worker that went
silent, that worker's late result no longer counts: the container is completed once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from activity import engine
from activity.models import Run, RunContainer
from activity.reaper import reap
from catalog.models import FieldProfile
from tests.base import build_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(source):
    world = build_world(shop_url=source.url)
    engine.execute(Run.launch(Run.Type.SYNC, world.shop, by=world.editor).pk)
    return world


def job_of(run: Run, worker: str) -> engine.Job:
    return engine.Job(Run.objects.select_related("datastore").get(pk=run.pk), worker)


def test_a_container_taken_back_from_a_silent_worker_is_completed_once(world):
    run = Run.launch(
        Run.Type.PROFILE, world.shop, by=world.editor, options={"containers": ["customers"]}
    )
    run.start("A")
    a = job_of(run, "A")
    engine.begin(a)
    held_by_a = engine.claim_next(a)
    # A's monitor died: its container's heartbeat lapsed while another worker kept the run's.
    long_ago = timezone.now() - timedelta(minutes=5)
    RunContainer.objects.filter(pk=held_by_a.pk).update(heartbeat_at=long_ago)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    assert reap().containers_reopened == 1

    b = job_of(run, "B")
    engine.process(b, engine.claim_next(b))  # B profiles it and commits
    engine.process(a, held_by_a)  # A finishes too, too late: its work is rolled back
    assert not engine.wrap_up(b)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCESS
    assert (run.containers_done, run.containers_total) == (1, 1)
    assert run.counters["containers_profiled"] == 1
    unit = run.units.get()
    assert (unit.status, unit.worker, unit.losses) == ("success", "B", 1)
    assert run.logs.filter(message__contains="A finished it after it was taken back").exists()


def test_a_worker_cannot_release_or_beat_a_container_it_no_longer_holds(world):
    run = Run.launch(Run.Type.PROFILE, world.shop, by=world.editor)
    run.start("A")
    held = RunContainer.claim_next(run.pk, "A")
    RunContainer.objects.filter(pk=held.pk).update(worker="B")  # B holds it now
    assert not held.release() and not held.beat(timezone.now())
    with pytest.raises(RunContainer.NotOurs):
        held.finish(RunContainer.Status.SUCCESS)
    assert RunContainer.objects.get(pk=held.pk).status == "running"


def test_a_container_finished_after_its_run_was_landed_commits_nothing(world):
    """The operation writes before the run's row is locked: a run landed meanwhile (another
    worker failed it) rolls those writes back with the container's outcome."""
    run = Run.launch(
        Run.Type.PROFILE, world.shop, by=world.editor, options={"containers": ["customers"]}
    )
    run.start("A")
    a = job_of(run, "A")
    engine.begin(a)
    unit = engine.claim_next(a)
    with transaction.atomic():  # as land_failure() of another worker does
        landed = Run.objects.select_for_update().get(pk=run.pk)
        landed.units.reopen()
        landed.land(Run.Status.FAILURE, "source datastore unreachable")

    with pytest.raises(engine.Interrupted):
        engine.process(a, unit)
    run.refresh_from_db()
    assert (run.status, run.containers_done, run.counters["containers_profiled"]) == (
        "failure",
        0,
        0,
    )
    assert not FieldProfile.objects.filter(field__container__name="customers").exists()
    assert run.units.get().status == "pending"


def test_workers_claiming_at_once_never_take_the_same_container(world):
    """Real concurrent connections (threads): on PostgreSQL the claims skip each other's locked
    rows, on SQLite they queue for the write lock; either way each container is taken once."""
    units = [(None, f"c{i:03d}") for i in range(60)]
    run, _ = Run._create(
        type=Run.Type.PROFILE, datastore=world.shop, options={}, units=units, by=world.editor
    )
    run.start("A")
    taken: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def claim_all(worker: str) -> None:
        try:
            barrier.wait(timeout=10)
            while unit := RunContainer.claim_next(run.pk, worker):
                taken.setdefault(unit.name, []).append(worker)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim_all, args=(w,)) for w in "ABCD"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken) == [name for _, name in units]
    assert all(len(workers) == 1 for workers in taken.values())
    held = dict(run.units.values_list("name", "worker"))
    assert held == {name: workers[0] for name, workers in taken.items()}
    assert set(run.units.values_list("status", flat=True)) == {"running"}
