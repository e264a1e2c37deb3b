"""The engine in real worker processes: abort mid-run, resume, kill -9, a vanishing source,
several workers on one run. Sources are big enough for a container to take seconds."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from activity import engine
from activity.models import Run, RunEvent
from catalog.connectors import connect
from catalog.models import Anomaly, Check, FieldProfile
from tests.base import build_world, start_worker, wait_for
from tests.sources import big_source, empty_source

pytestmark = pytest.mark.django_db(transaction=True)

TABLES, ROWS = 4, 1_500_000


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def big(request, tmp_path_factory):
    """Four tables of 1.5M rows: profiling one takes a few seconds."""
    source = big_source(request.param, tmp_path_factory.mktemp("big"), TABLES, ROWS)
    yield source
    source.drop()


@pytest.fixture
def workers(tmp_path):
    started = []

    def start(*args, **env):
        process = start_worker(tmp_path / f"worker-{len(started)}.log", *args, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def world(big):
    world = build_world(shop_url=big.url)
    sync = Run.launch(Run.Type.SYNC, world.shop, by=world.editor)
    engine.execute(sync.pk)
    return world


def profiled(world) -> dict[str, int]:
    """For each table, the run whose statistics its fields hold."""
    rows = FieldProfile.objects.filter(field__container__datastore=world.shop)
    by_table: dict[str, set[int]] = {}
    for table, run_number in rows.values_list("field__container__name", "run_number"):
        by_table.setdefault(table, set()).add(run_number)
    assert all(len(runs) == 1 for runs in by_table.values()), by_table
    return {table: runs.pop() for table, runs in by_table.items()}


def statuses(run: Run) -> dict[str, str]:
    return dict(run.containers.values_list("name", "status"))


def one_container_done(run: Run):
    run.refresh_from_db()
    return run.containers_done >= 1 and run.containers.filter(status="running").exists()


def test_abort_lands_within_a_second_and_keeps_finished_work(world, workers):
    profile = Run.launch(Run.Type.PROFILE, world.shop, by=world.editor)
    workers()
    wait_for(lambda: one_container_done(profile), what="the first container to finish")
    asked = time.monotonic()
    profile.abort(by=world.editor)
    wait_for(lambda: Run.objects.get(pk=profile.pk).status == "aborted", timeout=10, what="abort")
    latency = time.monotonic() - asked
    assert latency < 3, f"the abort took {latency:.1f}s to land in the middle of a big container"

    profile.refresh_from_db()
    done = [name for name, status in statuses(profile).items() if status == "success"]
    assert 1 <= len(done) < TABLES
    assert set(statuses(profile).values()) == {"success", "pending"}  # the interrupted one too
    assert set(profiled(world)) == set(done)  # finished work stays, the rest left nothing
    assert profile.counters["containers_profiled"] == len(done)
    assert profile.counters["records_profiled"] == ROWS * len(done)
    assert profile.logs.filter(message__contains="interrupted by the abort").exists()
    assert profile.events.filter(kind=RunEvent.Kind.FINISHED, note="aborted").count() == 1


def test_resume_after_abort_processes_only_what_was_left(world, workers):
    profile = Run.launch(Run.Type.PROFILE, world.shop, by=world.editor)
    workers()
    wait_for(lambda: one_container_done(profile), what="the first container to finish")
    profile.abort(by=world.editor)
    wait_for(lambda: Run.objects.get(pk=profile.pk).status == "aborted", what="abort")
    finished = {n for n, s in statuses(profile).items() if s == "success"}

    child = Run.objects.get(pk=profile.pk).resume(by=world.editor)
    assert set(statuses(child)) == set(statuses(profile)) - finished
    wait_for(lambda: Run.objects.get(pk=child.pk).status == "success", timeout=60, what="resume")
    by_run = profiled(world)
    assert {t for t, r in by_run.items() if r == profile.pk} == finished
    assert {t for t, r in by_run.items() if r == child.pk} == set(statuses(child))

    rerun = Run.objects.get(pk=child.pk).rerun(by=world.editor)
    assert len(statuses(rerun)) == TABLES  # a rerun takes everything again


def test_a_killed_worker_is_reaped_and_its_run_resumes(world, workers, settings):
    settings.RUNBOARD = settings.RUNBOARD | {"HEARTBEAT_TIMEOUT": 2}
    profile = Run.launch(Run.Type.PROFILE, world.shop, by=world.editor)
    worker = workers()
    wait_for(lambda: one_container_done(profile), what="the first container to finish")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    wait_for(
        lambda: (
            Run.objects.get(pk=profile.pk).heartbeat_at < timezone.now() - timedelta(seconds=2.2)
        ),
        what="the heartbeat to go stale",
    )
    call_command("reap_runs")
    profile.refresh_from_db()
    assert profile.status == "failure"
    assert profile.detail.startswith("worker lost")
    assert profile.logs.filter(level="error", message__startswith="Worker lost").exists()
    assert "running" not in statuses(profile).values()  # the interrupted one is unfinished again
    finished = {n for n, s in statuses(profile).items() if s == "success"}

    child = profile.resume(by=world.editor)
    workers("--batch")
    wait_for(lambda: Run.objects.get(pk=child.pk).status == "success", timeout=60, what="resume")
    by_run = profiled(world)
    assert len(by_run) == TABLES  # every container processed successfully exactly once
    assert {t for t, r in by_run.items() if r == profile.pk} == finished


def test_the_source_disappearing_mid_run_fails_it_clearly_and_loses_nothing(world, workers, big):
    profile = Run.launch(Run.Type.PROFILE, world.shop, by=world.editor)
    workers()
    wait_for(lambda: one_container_done(profile), what="the first container to finish")
    hidden = big.hide()
    try:
        wait_for(
            lambda: Run.objects.get(pk=profile.pk).status == "failure", timeout=30, what="failure"
        )
    finally:
        big.restore(hidden)
    profile.refresh_from_db()
    assert "source datastore unreachable" in profile.detail
    assert profile.logs.filter(level="warning", message__contains="failed").exists()  # retries
    done = {n for n, s in statuses(profile).items() if s == "success"}
    assert set(profiled(world)) == done
    assert profile.counters["containers_profiled"] == len(done)
    assert "running" not in statuses(profile).values()

    child = profile.resume(by=world.editor)
    wait_for(lambda: Run.objects.get(pk=child.pk).status == "success", timeout=60, what="resume")
    assert len(profiled(world)) == TABLES


@pytest.mark.postgres
def test_two_workers_share_one_run_and_process_every_container_once(world, workers):
    for table in world.shop.containers.all():
        Check.objects.create(
            container=table, field=table.fields.get(name="a"), rule="between", params={"max": 998}
        )
    scan = Run.launch(Run.Type.SCAN, world.shop, by=world.editor)
    workers(RUNBOARD_RUN_PARALLELISM="2")
    workers(RUNBOARD_RUN_PARALLELISM="2")
    wait_for(lambda: Run.objects.get(pk=scan.pk).status == "success", timeout=60, what="the scan")
    scan.refresh_from_db()
    assert scan.containers_done == TABLES == scan.counters["containers_scanned"]
    assert len(set(scan.containers.values_list("worker", flat=True))) == 2
    per_table = Anomaly.objects.filter(run=scan).values_list("container__name", "failed_count")
    assert sorted(per_table) == [(f"t{t:02d}", ROWS // 1000) for t in range(TABLES)]
    assert scan.events.filter(kind=RunEvent.Kind.FINISHED).count() == 1


def test_an_aborted_materialize_leaves_no_table_that_looks_complete(world, workers, big, tmp_path):
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
    workers()
    wait_for(lambda: one_container_done(run), what="the first table to be written")
    run.abort(by=world.editor)
    wait_for(lambda: Run.objects.get(pk=run.pk).status == "aborted", timeout=15, what="abort")
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
        assert 1 <= len(done) < TABLES
        Run.objects.get(pk=run.pk).delete_by(world.editor)  # deleting the run leaves the tables
        with connect(enrichment.url) as conn:
            assert {f"big_mat_{name}" for name in done} <= {t.name for t in conn.tables()}
    finally:
        enrichment.drop()


def test_a_stopping_worker_hands_the_rest_of_its_run_to_another(world, workers):
    profile = Run.launch(Run.Type.PROFILE, world.shop, by=world.editor)
    first = workers()
    wait_for(lambda: one_container_done(profile), what="the first container to finish")
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)  # it finished its container, then left
    profile.refresh_from_db()
    assert profile.status == "running"
    assert "pending" in statuses(profile).values() and "running" not in statuses(profile).values()
    assert profile.logs.filter(message__contains="is stopping").exists()

    workers("--batch")
    wait_for(
        lambda: Run.objects.get(pk=profile.pk).status == "success", timeout=60, what="the rest"
    )
    assert set(profiled(world).values()) == {profile.pk}
    assert len(profiled(world)) == TABLES
