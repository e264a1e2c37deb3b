"""SPEC §4, checked cell by cell: every type × status × persona × action."""

from __future__ import annotations

import pytest

from activity.models import Run
from activity.rules import Action, InvalidTransition, available_actions
from tests.base import ACTORS, PERSONAS, SEERS, make_run

# SPEC §4's table, copied as written; the test parses it rather than restating the rules.
SPEC_TABLE = """
| Sync | queued, running | never | success, failure, aborted | success, failure, aborted |
| Profile | queued, running | failure, aborted | success, failure, aborted | success, failure, aborted |
| Scan | queued, running | failure, aborted | success, failure, aborted | success, failure, aborted |
| External Scan | queued, running | never | never | success, failure, aborted |
| Export | queued, running | never | success, failure, aborted | success, failure, aborted |
| Materialize | queued, running | never | success, failure, aborted | success, failure, aborted |
| Promote | queued, running | failure, aborted | success, failure, aborted | success, failure, aborted |
"""
COLUMNS = [Action.ABORT, Action.RESUME, Action.RERUN, Action.DELETE]
LABELS = {t.label: t for t in Run.Type}


def spec() -> dict[tuple[str, str], set[Action]]:
    allowed: dict[tuple[str, str], set[Action]] = {}
    for line in SPEC_TABLE.strip().splitlines():
        label, *cells = [cell.strip() for cell in line.strip("|").split("|")]
        for action, cell in zip(COLUMNS, cells, strict=True):
            for status in [] if cell == "never" else cell.split(", "):
                allowed.setdefault((LABELS[label], status), set()).add(action)
    return allowed


SPEC = spec()
STATUSES = [s.value for s in Run.Status]


def expected(run_type: str, status: str, persona: str) -> set[Action]:
    if persona not in ACTORS:
        return set()
    actions = set(SPEC.get((run_type, status), set()))
    if run_type == Run.Type.PROMOTE and persona == "editor":
        actions -= {Action.RESUME, Action.RERUN}  # the editor has no editor level on the target
    return actions


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("run_type", [t.value for t in Run.Type])
def test_actions_offered_match_the_spec_for_every_persona(world, run_type, status):
    run = make_run(world.shop, type=run_type, status=status)
    for persona in PERSONAS:
        user = world.persona(persona)
        offered = set(available_actions(run, user))
        assert offered == expected(run_type, status, persona), (run_type, status, persona)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("run_type", [t.value for t in Run.Type])
def test_every_action_not_offered_is_refused_with_the_right_reason(world, run_type, status):
    run = make_run(world.shop, type=run_type, status=status)
    for persona in PERSONAS:
        user = world.persona(persona)
        for action in set(Action) - expected(run_type, status, persona):
            with pytest.raises(InvalidTransition) as refused:
                run.perform(action, by=user)
            lacks_permission = persona not in ACTORS or (
                persona == "editor"
                and run_type == Run.Type.PROMOTE
                and action in (Action.RESUME, Action.RERUN)
            )
            assert refused.value.forbidden == lacks_permission, (run_type, status, persona, action)
            run.refresh_from_db()
            assert run.status == status


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("run_type", [t.value for t in Run.Type])
def test_every_action_offered_to_the_editor_succeeds(world, run_type, status):
    for action in expected(run_type, status, "editor"):
        run = make_run(world.shop, type=run_type, status=status, units={"orders": "failure"})
        run.perform(action, by=world.persona("editor"))


def test_only_people_with_a_level_on_the_datastore_see_its_runs(world):
    run = make_run(world.shop)
    for persona in PERSONAS:
        visible = Run.objects.visible_to(world.persona(persona)).filter(pk=run.pk).exists()
        assert visible == (persona in SEERS), persona


def test_promote_resume_and_rerun_need_editor_on_the_target_too(world):
    run = make_run(world.shop, type=Run.Type.PROMOTE, status=Run.Status.FAILURE)
    editor = world.persona("editor")
    assert available_actions(run, editor) == [Action.DELETE]
    with pytest.raises(InvalidTransition, match="editor permission on shop-staging"):
        run.resume(by=editor)

    world.editor.teams.get(name="editor team").datastores.add(world.target)
    editor = world.persona("editor")
    assert available_actions(run, editor) == [Action.RESUME, Action.RERUN, Action.DELETE]
    child = run.resume(by=editor)
    assert child.target == world.target


def test_promote_abort_and_delete_need_editor_on_the_source_only(world):
    queued = make_run(world.shop, type=Run.Type.PROMOTE)
    assert available_actions(queued, world.persona("editor")) == [Action.ABORT]
    queued.abort(by=world.persona("editor"))
    assert queued.status == Run.Status.ABORTED


def test_a_run_is_resumed_once(world):
    run = make_run(world.shop, status=Run.Status.ABORTED, units={"a": "success", "b": "pending"})
    editor = world.persona("editor")
    child = run.resume(by=editor)
    run = Run.objects.for_rows().get(pk=run.pk)
    assert Action.RESUME not in available_actions(run, editor)
    with pytest.raises(InvalidTransition, match=f"already resumed as #{child.pk}"):
        run.resume(by=editor)
    assert Action.RERUN in available_actions(run, editor)


def test_resume_is_offered_on_the_child_when_it_stops_too(world):
    run = make_run(world.shop, status=Run.Status.FAILURE, units={"a": "failure"})
    child = run.resume(by=world.editor)
    Run.objects.filter(pk=child.pk).update(status=Run.Status.ABORTED)
    child = Run.objects.for_rows().get(pk=child.pk)
    assert Action.RESUME in available_actions(child, world.persona("editor"))


def test_an_aborting_run_offers_no_second_abort(world):
    run = make_run(world.shop, status=Run.Status.RUNNING, aborting=True)
    assert available_actions(run, world.persona("admin")) == []
    with pytest.raises(InvalidTransition, match="already aborting") as refused:
        run.abort(by=world.persona("admin"))
    assert not refused.value.forbidden


def test_a_user_in_several_teams_gets_the_highest_level(world):
    editor = world.persona("editor")  # editor team (editor) and watchers (viewer) both hold shop
    assert editor.level_on(world.shop).label == "Editor"
    assert editor.level_on(world.target).label == "Viewer"
    assert editor.level_on(world.other) is None


def test_a_deactivated_editor_can_do_nothing(world):
    world.editor.is_active = False
    world.editor.save()
    run = make_run(world.shop)
    assert available_actions(run, world.persona("editor")) == []
