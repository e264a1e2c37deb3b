"""Cron expressions (5 fields, UTC): the form's presets, their words, their next fire times.

croniter parses and steps them; this module only builds them from presets and says them in
words. A preset is a small dataclass that renders an expression; a custom expression is taken
as it is, once croniter accepts it and it fires at least once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterBadDateError, croniter

WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


class InvalidCron(ValueError):
    """Not an expression that fires: the message says why, for a form."""


def validate(expression: str) -> str:
    """The expression, normalised to single spaces, or InvalidCron."""
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidCron(
            "A cron expression has 5 fields: minute hour day-of-month month day-of-week."
        )
    normal = " ".join(fields)
    if not croniter.is_valid(normal):
        raise InvalidCron(f"“{normal}” is not a valid cron expression.")
    try:
        next_fires(normal, 1)
    except CroniterBadDateError:
        raise InvalidCron(f"“{normal}” never fires (such as the 30th of February).") from None
    return normal


def next_fires(expression: str, count: int, after: datetime | None = None) -> list[datetime]:
    """The next `count` fire times strictly after `after` (now), in UTC."""
    steps = croniter(expression, (after or datetime.now(UTC)).astimezone(UTC))
    return [steps.get_next(datetime).replace(tzinfo=UTC) for _ in range(count)]


@dataclass
class Preset:
    """What the schedule form offers: hourly at minute M, daily at HH:MM, weekly on chosen
    days at HH:MM, monthly on day D at HH:MM, or a custom expression."""

    kind: str  # hourly, daily, weekly, monthly, custom
    minute: int = 0
    hour: int = 0
    weekdays: tuple[int, ...] = ()  # 0 = Sunday, as cron counts
    day: int = 1
    custom: str = ""

    def expression(self) -> str:
        match self.kind:
            case "hourly":
                return f"{self.minute} * * * *"
            case "daily":
                return f"{self.minute} {self.hour} * * *"
            case "weekly":
                days = ",".join(str(d) for d in sorted(set(self.weekdays)))
                return f"{self.minute} {self.hour} * * {days}"
            case "monthly":
                return f"{self.minute} {self.hour} {self.day} * *"
        return validate(self.custom)

    @classmethod
    def of(cls, expression: str) -> Preset:
        """The preset an expression was built from, to show it in the form again."""
        minute, hour, day, month, weekday = expression.split()
        number = str.isdigit
        if number(minute) and hour == day == month == weekday == "*":
            return cls("hourly", minute=int(minute))
        if number(minute) and number(hour) and day == month == "*":
            if weekday == "*":
                return cls("daily", minute=int(minute), hour=int(hour))
            if all(number(d) and int(d) < 7 for d in weekday.split(",")):
                days = tuple(int(d) for d in weekday.split(","))
                return cls("weekly", minute=int(minute), hour=int(hour), weekdays=days)
        if number(minute) and number(hour) and number(day) and month == weekday == "*":
            return cls("monthly", minute=int(minute), hour=int(hour), day=int(day))
        return cls("custom", custom=expression)


def in_words(expression: str) -> str:
    """“every day at 02:00 UTC”, for the presets; the expression itself otherwise."""
    preset = Preset.of(expression)
    at = f"{preset.hour:02d}:{preset.minute:02d} UTC"
    match preset.kind:
        case "hourly":
            return f"every hour at minute {preset.minute}"
        case "daily":
            return f"every day at {at}"
        case "weekly":
            days = [WEEKDAYS[d] for d in sorted(set(preset.weekdays))]
            listed = days[0] if len(days) == 1 else ", ".join(days[:-1]) + " and " + days[-1]
            return f"every {listed} at {at}"
        case "monthly":
            return f"on day {preset.day} of every month at {at}"
    if (step := re.fullmatch(r"\*/(\d+) \* \* \* \*", expression)) and step[1] != "1":
        return f"every {step[1]} minutes"
    return f"cron “{expression}” (UTC)"
