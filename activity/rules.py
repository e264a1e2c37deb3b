"""Which action is offered when: SPEC §4's table combined with team permissions, defined once.

Row buttons, the POST views, the API and the transitions themselves all ask these functions;
nothing else re-derives them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from accounts.models import User
    from activity.models import Run


class RunType(models.TextChoices):
    SYNC = "sync", "Sync"
    PROFILE = "profile", "Profile"
    SCAN = "scan", "Scan"
    EXTERNAL_SCAN = "external_scan", "External Scan"
    EXPORT = "export", "Export"
    MATERIALIZE = "materialize", "Materialize"
    PROMOTE = "promote", "Promote"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    ABORTED = "aborted", "Aborted"


LIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
TERMINAL = (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.ABORTED)


class Action(models.TextChoices):
    ABORT = "abort", "Abort"
    RESUME = "resume", "Resume"
    RERUN = "rerun", "Rerun"
    DELETE = "delete", "Delete"


_ALL = frozenset(Action)
SUPPORTED: dict[RunType, frozenset[Action]] = {
    RunType.SYNC: _ALL - {Action.RESUME},
    RunType.PROFILE: _ALL,
    RunType.SCAN: _ALL,
    RunType.EXTERNAL_SCAN: frozenset({Action.ABORT, Action.DELETE}),
    RunType.EXPORT: _ALL - {Action.RESUME},
    RunType.MATERIALIZE: _ALL - {Action.RESUME},
    RunType.PROMOTE: _ALL,
}

ALLOWED_FROM: dict[Action, tuple[RunStatus, ...]] = {
    Action.ABORT: LIVE,
    Action.RESUME: (RunStatus.FAILURE, RunStatus.ABORTED),
    Action.RERUN: TERMINAL,
    Action.DELETE: TERMINAL,
}

# Resume and Rerun of a Promote write checks into the target datastore, so they need editor there.
NEEDS_TARGET = frozenset({Action.RESUME, Action.RERUN})


class InvalidTransition(Exception):
    """An action the permission or the run's current state does not allow.

    `forbidden` is True when the user lacks the permission (HTTP 403); otherwise the state no
    longer allows it, usually because someone acted first (HTTP 409).
    """

    def __init__(self, message: str, *, forbidden: bool = False):
        super().__init__(message)
        self.message = message
        self.forbidden = forbidden


def state_refusal(run: Run, action: Action) -> str | None:
    """Why the run's type and state do not allow the action, or None when they do."""
    label = f"Run #{run.pk}"
    if action not in SUPPORTED[run.type]:
        return f"{RunType(run.type).label} runs cannot be {past(action)}."
    if run.status not in ALLOWED_FROM[action]:
        return (
            f"{label} is {RunStatus(run.status).label.lower()}: it can no longer be {past(action)}."
        )
    if action == Action.ABORT and run.abort_requested_at:
        return f"{label} is already aborting."
    if action == Action.RESUME and run.resumed_as_id:
        return f"{label} was already resumed as #{run.resumed_as_id}."
    if action == Action.RESUME and not run.unfinished:
        return f"{label} has nothing unfinished to resume."
    return None


def lacking_editor(user: User, run: Run, action: Action) -> str | None:
    """Which of the run's datastores ("datastore" or "target") the user lacks editor on."""
    if not user.can_edit(run.datastore_id):
        return "datastore"
    if run.type == RunType.PROMOTE and action in NEEDS_TARGET and not user.can_edit(run.target_id):
        return "target"
    return None


def permits(user: User, run: Run, action: Action) -> bool:
    """Whether the user's role or team level lets them take this action on this run at all."""
    return lacking_editor(user, run, action) is None


def available_actions(run: Run, user: User) -> list[Action]:
    """The actions to offer this user on this run, in the order the row shows them."""
    return [a for a in Action if permits(user, run, a) and state_refusal(run, a) is None]


def authorize(run: Run, action: Action, user: User) -> None:
    """Raise InvalidTransition unless the user may take the action on the run as it is now."""
    if (lacking := lacking_editor(user, run, action)) is not None:
        raise InvalidTransition(
            f"You need the editor permission on {getattr(run, lacking)} to {action.label.lower()} this run.",
            forbidden=True,
        )
    if refusal := state_refusal(run, action):
        raise InvalidTransition(refusal)


def authorize_undelete(run: Run, user: User) -> None:
    """Who may delete a run may bring it back within the undo window."""
    if (lacking := lacking_editor(user, run, Action.DELETE)) is not None:
        raise InvalidTransition(
            f"You need the editor permission on {getattr(run, lacking)} to undo this deletion.",
            forbidden=True,
        )


def authorize_launch(user: User, datastore, target=None) -> None:
    for store in (datastore, target):
        if store is not None and not user.can_edit(store):
            raise InvalidTransition(
                f"You need the editor permission on {store} to launch operations on it.",
                forbidden=True,
            )


def past(action: Action) -> str:
    return {"abort": "aborted", "resume": "resumed", "rerun": "rerun", "delete": "deleted"}[action]
