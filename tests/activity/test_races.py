"""Two people acting on one run at the same instant, on real concurrent connections (threads).

Each contender loads the run as its page showed it, waits at a barrier, then acts: the database
must settle it with exactly one winner, a clear refusal for the loser and nothing half-done.
These run on both databases; on PostgreSQL they exercise row locks and conditional updates
between truly parallel transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import pytest
from django.db import connection

from activity.models import DeletedRun, Run, RunEvent
from activity.rules import InvalidTransition
from tests.base import build_world, make_run, purge_now

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 10


def race(*contenders: Callable[[], object]) -> list[tuple[str, object]]:
    barrier = threading.Barrier(len(contenders))
    outcomes: list[tuple[str, object]] = [("none", None)] * len(contenders)

    def contend(index: int, act: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = ("won", act())
        except InvalidTransition as refusal:
            outcomes[index] = ("refused", refusal)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            outcomes[index] = ("crashed", error)
        finally:
            connection.close()

    threads = [threading.Thread(target=contend, args=pair) for pair in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(kind == "crashed" for kind, _ in outcomes), outcomes
    return outcomes


def as_seen(run: Run, **state) -> Run:
    """The run as a page rendered it: loaded now, with the state the page showed."""
    seen = Run.objects.get(pk=run.pk)
    for name, value in state.items():
        setattr(seen, name, value)
    return seen


@pytest.fixture
def people():
    return build_world()


def winners(outcomes) -> int:
    return sum(kind == "won" for kind, _ in outcomes)


def test_abort_pressed_twice_on_a_running_run_requests_one_abort(people):
    for _ in range(ROUNDS):
        run = make_run(people.shop, status=Run.Status.RUNNING)
        a, b = as_seen(run), as_seen(run)
        outcomes = race(partial(a.abort, by=people.editor), partial(b.abort, by=people.admin))
        assert winners(outcomes) == 1, outcomes
        refusal = next(value for kind, value in outcomes if kind == "refused")
        assert "already aborting" in refusal.message and not refusal.forbidden
        assert run.events.filter(kind=RunEvent.Kind.ABORT_REQUESTED).count() == 1


def test_abort_pressed_twice_on_a_queued_run_aborts_it_once(people):
    for _ in range(ROUNDS):
        run = make_run(people.shop)
        a, b = as_seen(run), as_seen(run)
        outcomes = race(partial(a.abort, by=people.editor), partial(b.abort, by=people.admin))
        assert winners(outcomes) == 1, outcomes
        run.refresh_from_db()
        assert run.status == Run.Status.ABORTED
        assert list(run.events.values_list("kind", flat=True)) == ["abort_requested", "finished"]


def test_resume_pressed_twice_creates_one_resume(people):
    for _ in range(ROUNDS):
        run = make_run(
            people.shop, status=Run.Status.FAILURE, units={"a": "success", "b": "failure"}
        )
        a, b = as_seen(run, resumed_as_id=None), as_seen(run, resumed_as_id=None)
        outcomes = race(partial(a.resume, by=people.editor), partial(b.resume, by=people.admin))
        assert winners(outcomes) == 1, outcomes
        child = next(value for kind, value in outcomes if kind == "won")
        refusal = next(value for kind, value in outcomes if kind == "refused")
        assert f"already resumed as #{child.pk}" in refusal.message
        assert list(Run.objects.filter(parent=run).values_list("pk", flat=True)) == [child.pk]
        assert list(child.units.values_list("name", flat=True)) == ["b"]


def test_abort_from_a_stale_page_against_delete_leaves_the_run_deleted_once(people):
    for _ in range(ROUNDS):
        run = make_run(people.shop, status=Run.Status.FAILURE)
        stale = as_seen(run, status=Run.Status.RUNNING)  # the page still showed it running
        fresh = as_seen(run)
        outcomes = race(
            partial(stale.abort, by=people.editor), partial(fresh.delete_by, people.admin)
        )
        assert outcomes[1][0] == "won" and outcomes[0][0] == "refused", outcomes
        assert Run.objects.get(pk=run.pk).deleted_at
        purge_now()
        assert DeletedRun.objects.filter(run_number=run.pk).count() == 1


def test_two_aborts_and_a_delete_on_a_running_run(people):
    for _ in range(ROUNDS):
        run = make_run(people.shop, status=Run.Status.RUNNING)
        stale_terminal = as_seen(run, status=Run.Status.ABORTED)  # a page that thought it was over
        a, b = as_seen(run), as_seen(run)
        outcomes = race(
            partial(a.abort, by=people.editor),
            partial(b.abort, by=people.admin),
            partial(stale_terminal.delete_by, people.admin),
        )
        assert winners(outcomes[:2]) == 1, outcomes
        assert outcomes[2][0] == "refused" and "can no longer be deleted" in outcomes[2][1].message
        run.refresh_from_db()
        assert run.is_aborting
        assert not DeletedRun.objects.filter(run_number=run.pk).exists()


def test_delete_pressed_twice_writes_one_audit_record(people):
    for _ in range(ROUNDS):
        run = make_run(people.shop, status=Run.Status.SUCCESS)
        a, b = as_seen(run), as_seen(run)
        outcomes = race(partial(a.delete_by, people.editor), partial(b.delete_by, people.admin))
        assert winners(outcomes) == 1, outcomes
        purge_now()
        assert DeletedRun.objects.filter(run_number=run.pk).count() == 1


@pytest.mark.postgres
def test_the_races_ran_on_postgresql():
    """On the PostgreSQL leg, make sure the contenders above really had parallel connections."""
    assert connection.vendor == "postgresql"


def test_twenty_reruns_with_one_key_make_one_run_and_one_timeline_event(people):
    run = make_run(people.shop, status=Run.Status.SUCCESS)
    outcomes = race(
        *(partial(as_seen(run).rerun, by=people.editor, request_key="one-key") for _ in range(20))
    )
    children = {value.pk for kind, value in outcomes if kind == "won"}
    assert len(children) == 1 and run.children.count() == 1
    assert run.events.filter(kind=RunEvent.Kind.RERUN_AS).count() == 1
