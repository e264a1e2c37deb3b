from __future__ import annotations

from django import forms

from activity.forms import LaunchForm
from schedules import cron
from schedules.cron import WEEKDAYS, Preset

PRESETS = [
    ("hourly", "Every hour"),
    ("daily", "Every day"),
    ("weekly", "Every week"),
    ("monthly", "Every month"),
    ("custom", "Custom (cron)"),
]


class TimingForm(forms.Form):
    """When a schedule fires: a preset and its few fields, or a cron expression (UTC)."""

    preset = forms.ChoiceField(choices=PRESETS, initial="daily", widget=forms.RadioSelect)
    minute = forms.IntegerField(min_value=0, max_value=59, initial=0, required=False)
    hour = forms.IntegerField(min_value=0, max_value=23, initial=2, required=False)
    weekdays = forms.TypedMultipleChoiceField(
        choices=[(str(d), WEEKDAYS[d]) for d in (1, 2, 3, 4, 5, 6, 0)],
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        initial=["1"],
    )
    day = forms.IntegerField(
        min_value=1,
        max_value=28,
        initial=1,
        required=False,
        help_text="1 to 28: every month has it.",
    )
    custom = forms.CharField(
        max_length=100, required=False, help_text="5 fields in UTC: minute hour day month weekday."
    )

    @classmethod
    def of(cls, expression: str) -> TimingForm:
        """The form showing an existing schedule's timing."""
        preset = Preset.of(expression)
        return cls(
            initial={
                "preset": preset.kind,
                "minute": preset.minute,
                "hour": preset.hour,
                "weekdays": [str(d) for d in preset.weekdays] or ["1"],
                "day": preset.day,
                "custom": preset.custom or expression,
            }
        )

    def clean(self):
        data = super().clean()
        kind = data.get("preset")
        if kind == "weekly" and not data.get("weekdays"):
            self.add_error("weekdays", "Choose at least one day of the week.")
        if kind == "custom" and not data.get("custom"):
            self.add_error("custom", "Write the cron expression.")
        if self.errors:
            return data
        preset = Preset(
            kind,
            minute=data.get("minute") or 0,
            hour=data.get("hour") or 0,
            weekdays=tuple(data.get("weekdays") or ()),
            day=data.get("day") or 1,
            custom=data.get("custom") or "",
        )
        try:
            data["expression"] = preset.expression()
        except cron.InvalidCron as error:
            self.add_error("custom", str(error))
        return data

    def preview(self, count: int = 5) -> list:
        """The next fire times of what is filled in so far (or of the initial values), for the
        page and its htmx preview; none while the timing is invalid."""
        form = self if self.is_bound else TimingForm(self.initial_data())
        if not form.is_valid():
            return []
        return cron.next_fires(form.cleaned_data["expression"], count)

    def initial_data(self) -> dict:
        return {name: self.initial.get(name, field.initial) for name, field in self.fields.items()}


class ScheduleForm(LaunchForm):
    """What a schedule runs: the launch page's form (operation, datastore, target, and the
    operation's own options form: one definition), with a name."""

    name = forms.CharField(max_length=100)
    field_order = ["name", "datastore", "type", "target"]
