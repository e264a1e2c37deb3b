"""Parsing of what people type into query strings and forms, once for every page.

Everything here is bounded before it reaches the database: ids are ASCII digits within a
64-bit integer (a Unicode digit such as "²" passes str.isdigit() but not int(); a 23-digit
number overflows SQLite and PostgreSQL), and days stay where adding one cannot overflow.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.core.exceptions import ValidationError

from catalog.models import Anomaly

BIGINT_MAX = 2**63 - 1
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def parse_number(text: str, *, minimum: int = 0, what: str = "a number") -> int:
    """A whole number of ASCII digits from `minimum` to BIGINT_MAX, or ValidationError."""
    text = text.strip()
    # The length check comes first: int() of a 5,000-digit string is refused (and slow).
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        raise ValidationError(f"Expected {what}, not {text[:30]!r}.")
    number = int(text)
    if not minimum <= number <= BIGINT_MAX:
        raise ValidationError(f"Expected {what}, not {text!r}.")
    return number


def parse_id(text: str) -> int:
    return parse_number(text, minimum=1, what="an id (a positive whole number)")


class IdField(forms.CharField):
    """An object id in a query string or form: a positive 64-bit number, ASCII digits only."""

    def to_python(self, value) -> int | None:
        text = super().to_python(value)
        return parse_id(text) if text else None


class DayField(forms.DateField):
    """A calendar day within the range the database and date arithmetic hold."""

    def validate(self, value) -> None:
        super().validate(value)
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise ValidationError(
                f"Pick a day between {FIRST_DAY.year} and {LAST_DAY.year}, not {value}."
            )


class AnomalyFilters(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Open and closed"), ("open", "Open"), *Anomaly.Status.choices]
    )
    run = IdField(required=False, label="Found failing by run")
    container = IdField(required=False)
    before = IdField(required=False)

    def apply(self, anomalies):
        data = self.cleaned_data
        if data["status"] == "open":
            anomalies = anomalies.open()
        elif data["status"]:
            anomalies = anomalies.filter(status=data["status"])
        if data["run"]:
            anomalies = anomalies.seen_by(data["run"])
        if data["container"]:
            anomalies = anomalies.filter(container_id=data["container"])
        if data["before"]:
            anomalies = anomalies.filter(pk__lt=data["before"])
        return anomalies
