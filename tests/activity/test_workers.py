"""The engine in real worker processes. Most tests use gated containers (tests/gate.py): the test
opens each container's gate, so it knows exactly what is in flight when it aborts, kills or stops
a worker; none of them races the clock. The last ones are real-size smoke tests on big tables."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, TaskResultStatus

from activity import engine
from activity.models import Run, RunEvent
from activity.reaper import reap
from catalog.connectors import connect
from catalog.models import Container, FieldProfile
from tests.base import build_world, start_worker, wait_for
from tests.gate import Gates
from tests.sources import big_source, empty_source

pytestmark = pytest.mark.django_db(transaction=True)

TABLES = ["a", "b", "c"]


@pytest.fixture
def gates(tmp_path) -> Gates:
    return Gates(tmp_path / "gates")


@pytest.fixture
def workers(tmp_path, gates):
    started = []

    def start(*args, gated: bool = True, **env):
        log = tmp_path / f"worker-{len(started)}.log"
        process = start_worker(log, *args, gates=gates.folder if gated else None, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def world(tmp_path):
    world = build_world(shop_url=empty_source("sqlite", tmp_path).url)  # the gates read nothing
    for name in TABLES:
        Container.objects.create(datastore=world.shop, name=name)
    return world


def launch(world) -> Run:
    return Run.launch(Run.Type.PROFILE, world.shop, by=world.editor)


def statuses(run: Run) -> dict[str, str]:
    return dict(run.units.values_list("name", "status"))


def landed(run: Run, status: str, timeout: float = 30) -> Run:
    """The run once it reached `status`; on a timeout, the error says where it stands."""
    try:
        wait_for(
            lambda: Run.objects.get(pk=run.pk).status == status, timeout, f"#{run.pk} {status}"
        )
    except AssertionError as error:
        now = Run.objects.get(pk=run.pk)
        log = list(now.logs.values_list("message", flat=True))
        raise AssertionError(f"{error}; it is {now.status}: {statuses(now)}, log {log}") from None
    return Run.objects.get(pk=run.pk)


def test_an_abort_stops_the_container_in_flight_and_keeps_what_finished(world, workers, gates):
    run = launch(world)
    workers()
    gates.wait_entered("a")
    gates.open("a")
    gates.wait_entered("b")  # b is in flight, c waits
    run.abort(by=world.editor)
    run = landed(run, "aborted")
    assert statuses(run) == {"a": "success", "b": "pending", "c": "pending"}
    assert run.counters["containers_profiled"] == 1
    assert run.logs.filter(message="b: interrupted by the abort: rolled back to unfinished")
    assert run.events.filter(kind=RunEvent.Kind.FINISHED, note="aborted").count() == 1

    child = run.resume(by=world.editor)
    assert set(statuses(child)) == {"b", "c"}
    gates.open("b", "c")
    child = landed(child, "success")
    assert child.counters["containers_profiled"] == 2


def test_a_killed_worker_is_replaced_and_its_run_ends_success_without_a_person(
    world, workers, gates
):
    run = launch(world)
    first = workers()
    victim = gates.wait_entered("a")
    assert victim.endswith(f":{first.pid}")
    workers()  # a second worker, idle: its reaper takes back what the first one held
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    gates.wait_entered("a", times=2)  # the survivor took the lost container up again
    gates.open(*TABLES)
    run = landed(run, "success")
    assert statuses(run) == dict.fromkeys(TABLES, "success")
    assert run.containers_done == 3 and run.counters["containers_profiled"] == 3
    assert run.units.get(name="a").losses == 1
    assert run.logs.filter(message__contains="queued again for another worker")
    # The dead worker's queue entry is closed, not left running forever.
    held = [e.pk for e in DBTaskResult.objects.all() if victim in e.worker_ids]
    wait_for(
        lambda: (
            set(DBTaskResult.objects.filter(pk__in=held).values_list("status", flat=True))
            == {TaskResultStatus.FAILED}
        ),
        what="the dead worker's queue entries to be closed",
    )


def test_a_container_that_kills_its_worker_twice_fails_and_the_run_can_be_resumed(
    world, workers, gates
):
    run = launch(world)
    for times in (1, 2):
        worker = workers()
        gates.wait_entered("a", times=times)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    gates.open("b", "c")
    workers()
    run = landed(run, "failure")
    assert statuses(run) == {"a": "failure", "b": "success", "c": "success"}
    assert run.detail == "a lost its worker twice"
    assert "resume" in run.actions_for(world.editor) and run.unfinished == 1


def test_a_stopping_worker_hands_over_and_the_run_waits_for_the_next_one(world, workers, gates):
    run = launch(world)
    first = workers()
    gates.wait_entered("a")
    first.send_signal(signal.SIGTERM)
    gates.open("a")
    first.wait(timeout=30)  # it finished its container, then left
    run.refresh_from_db()
    assert statuses(run) == {"a": "success", "b": "pending", "c": "pending"}
    assert run.logs.filter(message__contains="is stopping").exists()

    # Longer than the heartbeat timeout with no worker (a slow deploy): the run is not lost.
    deadline = run.heartbeat_at + timedelta(seconds=2.5)
    assert not reap(now=deadline) and Run.objects.get(pk=run.pk).status == "running"

    gates.open("b", "c")
    workers()
    run = landed(run, "success")
    assert run.requeues == 0 and not run.logs.filter(level="error").exists()


def test_a_run_whose_queue_entry_was_lost_still_runs(world, workers, gates):
    run = launch(world)
    DBTaskResult.objects.all().delete()  # as if the enqueue had never happened
    gates.open(*TABLES)
    workers()
    run = landed(run, "success")
    assert run.logs.filter(message__contains="Nothing in the queue would start it")


def test_a_worker_killed_between_taking_the_run_and_starting_it(world, workers, gates):
    run = launch(world)
    first = workers(RUNBOARD_GATE_START="1")
    gates.wait_entered("start")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert Run.objects.get(pk=run.pk).status == "queued"
    gates.open("start", *TABLES)
    workers()
    run = landed(run, "success")
    assert run.logs.filter(message__contains="Nothing in the queue would start it")


def test_the_monitor_survives_a_database_blip_and_keeps_beating(world, workers, gates, tmp_path):
    run = launch(world)
    workers(RUNBOARD_FAIL_BEATS="5")
    gates.wait_entered("a")
    started = timezone.now()
    wait_for(
        lambda: Run.objects.get(pk=run.pk).heartbeat_at > started + timedelta(seconds=0.5),
        what="heartbeats after the failures",
    )
    gates.open(*TABLES)
    run = landed(run, "success")
    assert run.requeues == 0 and statuses(run) == dict.fromkeys(TABLES, "success")
    assert "injected by the test" in (tmp_path / "worker-0.log").read_text()


@pytest.mark.postgres
def test_two_workers_share_one_run_and_process_every_container_once(world, workers, gates):
    run = launch(world)
    first = workers(RUNBOARD_RUN_PARALLELISM="2")
    second = workers(RUNBOARD_RUN_PARALLELISM="2")
    # Each holds a container at its gate: two different workers, two different containers.
    wait_for(
        lambda: len({w for name in TABLES for w in gates.entered_by(name)}) == 2,
        what="both workers to hold a container",
    )
    gates.open(*TABLES)
    run = landed(run, "success")
    assert statuses(run) == dict.fromkeys(TABLES, "success")
    assert run.containers_done == 3 == run.counters["containers_profiled"]
    assert sorted(len(gates.entered_by(name)) for name in TABLES) == [1, 1, 1]  # once each
    assert {w.split(":")[-1] for w in run.units.values_list("worker", flat=True)} == {
        str(first.pid),
        str(second.pid),
    }
    assert run.events.filter(kind=RunEvent.Kind.FINISHED).count() == 1


# Real-size smoke tests: big tables, real sources ------------------------------------------------

ROWS = 1_500_000


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def big(request, tmp_path_factory):
    """Four tables of 1.5M rows: profiling one takes a few seconds."""
    source = big_source(request.param, tmp_path_factory.mktemp("big"), 4, ROWS)
    yield source
    source.drop()


@pytest.fixture
def big_world(big):
    world = build_world(shop_url=big.url)
    engine.execute(Run.launch(Run.Type.SYNC, world.shop, by=world.editor).pk)
    return world


def one_container_done(run: Run):
    run.refresh_from_db()
    return run.containers_done >= 1 and run.units.filter(status="running").exists()


def test_the_source_disappearing_mid_run_fails_it_clearly_and_loses_nothing(
    big_world, workers, big
):
    world = big_world
    profile = Run.launch(Run.Type.PROFILE, world.shop, by=world.editor)
    workers(gated=False)
    wait_for(lambda: one_container_done(profile), what="the first container to finish")
    hidden = big.hide()
    try:
        profile = landed(profile, "failure")
    finally:
        big.restore(hidden)
    assert "source datastore unreachable" in profile.detail
    assert profile.logs.filter(level="warning", message__contains="failed").exists()  # retries
    done = {n for n, s in statuses(profile).items() if s == "success"}
    profiled = FieldProfile.objects.filter(field__container__datastore=world.shop)
    assert set(profiled.values_list("field__container__name", flat=True)) == done
    assert profile.counters["containers_profiled"] == len(done)
    assert "running" not in statuses(profile).values()

    child = profile.resume(by=world.editor)
    landed(child, "success", timeout=60)
    assert profiled.values("field__container").distinct().count() == 4


def test_an_aborted_materialize_leaves_no_table_that_looks_complete(
    big_world, workers, big, tmp_path
):
    world = big_world
    enrichment = empty_source(big.kind, tmp_path)
    world.shop.enrichment.connection_url = enrichment.url
    world.shop.enrichment.save()
    world.shop.enrichment_prefix = "big"
    world.shop.save()
    earlier = Run.launch(
        Run.Type.MATERIALIZE,
        world.shop,
        by=world.editor,
        options={"containers": ["t03"], "record_limit": 10},
    )
    engine.execute(earlier.pk)  # an earlier, complete copy of t03: 10 records

    limit = 600_000
    run = Run.launch(
        Run.Type.MATERIALIZE, world.shop, by=world.editor, options={"record_limit": limit}
    )
    workers(gated=False)
    wait_for(lambda: one_container_done(run), what="the first table to be written")
    run.abort(by=world.editor)
    landed(run, "aborted", timeout=15)
    try:
        done = {n for n, s in statuses(run).items() if s == "success"}
        with connect(enrichment.url) as conn:
            tables = {t.name for t in conn.tables()}
            assert not any(name.startswith("rb_tmp_") for name in tables)  # the scratch table went
            assert tables == {f"big_mat_{name}" for name in done | {"t03"}}
            for name in done:
                assert conn.scalar(f'SELECT COUNT(*) FROM "big_mat_{name}"') == limit
            if "t03" not in done:
                assert conn.scalar('SELECT COUNT(*) FROM "big_mat_t03"') == 10  # untouched
        assert 1 <= len(done) < 4
        Run.objects.get(pk=run.pk).delete_by(world.editor)  # deleting the run leaves the tables
        with connect(enrichment.url) as conn:
            assert {f"big_mat_{name}" for name in done} <= {t.name for t in conn.tables()}
    finally:
        enrichment.drop()
