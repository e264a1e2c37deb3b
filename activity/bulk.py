"""Actions on many runs at once: each run in turn through the one entry point (Run.perform), in
its own transaction, with a report per run — never all or nothing, never a silent skip."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from activity import rules
from activity.models import Run
from activity.rules import Action, InvalidTransition

# At most this many runs per bulk action: a filter that matches more is refused, not cut short.
BOUND = 1000


class TooMany(ValueError):
    """The selection is larger than BOUND."""


@dataclass
class Outcome:
    run_id: int
    done: bool
    status: int  # as the single action answers: 200, 403, 404 or 409
    reason: str = ""
    new_run_id: int | None = None


def selected(runs, ids: list[int] | None = None) -> list[int]:
    """The ids a bulk action covers: `ids` among `runs` (the user's, filtered), or all of them;
    TooMany beyond BOUND. Ids the user cannot see are kept, to be reported as not found."""
    if ids is not None:
        if len(ids) > BOUND:
            raise TooMany(f"{len(ids):,} runs selected: at most {BOUND:,} at once.")
        return list(dict.fromkeys(ids))
    found = list(runs.order_by("-id").values_list("pk", flat=True)[: BOUND + 1])
    if len(found) > BOUND:
        raise TooMany(
            f"The filters match more than {BOUND:,} runs: narrow them to at most {BOUND:,}."
        )
    return found


def offered(ids: list[int], user) -> Counter:
    """How many of these runs allow each action, for the bar: "Abort 12 of 40 selected"."""
    runs = (
        Run.objects.visible_to(user)
        .filter(pk__in=ids)
        .with_links()
        .select_related("datastore", "target")
    )
    return Counter(action for run in runs for action in rules.available_actions(run, user))


def apply(action: Action, ids: list[int], *, by, trigger=Run.Trigger.MANUAL) -> list[Outcome]:
    """Take the action on each run, in order, each on its own; the report of each."""
    runs = {run.pk: run for run in Run.objects.visible_to(by).filter(pk__in=ids).with_links()}
    outcomes = []
    for pk in ids:
        run = runs.get(pk)
        if run is None:
            outcomes.append(Outcome(pk, False, 404, f"No run #{pk} that you can see."))
            continue
        try:
            child = run.perform(action, by=by, trigger=trigger)
        except InvalidTransition as refusal:
            outcomes.append(Outcome(pk, False, 403 if refusal.forbidden else 409, refusal.message))
        except ValidationError as error:
            outcomes.append(Outcome(pk, False, 409, " ".join(error.messages)))
        else:
            outcomes.append(Outcome(pk, True, 200, new_run_id=child.pk if child else None))
    return outcomes
