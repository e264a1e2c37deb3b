"""A worker owns the containers it claimed. Once the reaper took one back from a worker that went
silent, that worker's late result no longer counts: the container is completed once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activity import engine
from activity.models import Run, RunContainer
from activity.reaper import reap
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
