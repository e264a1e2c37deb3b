from __future__ import annotations

from django import forms

from activity.operations import OPERATIONS
from activity.operations.base import OptionsForm
from activity.operations.external_scan import Records, read_csv
from activity.rules import RunType

# External Scans start from a container's page, with the file of records they check.
LAUNCHABLE = [t for t in RunType if t != RunType.EXTERNAL_SCAN]


class LaunchForm(forms.Form):
    """Which operation, on which datastore; the operation's own form holds its options."""

    datastore = forms.ModelChoiceField(queryset=None, empty_label=None)
    type = forms.ChoiceField(choices=[(t.value, t.label) for t in LAUNCHABLE], initial=RunType.SCAN)
    target = forms.ModelChoiceField(
        queryset=None, required=False, help_text="Promote: where the checks are copied to."
    )

    def __init__(self, *args, datastores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["datastore"].queryset = datastores
        self.fields["target"].queryset = datastores

    def chosen(self, name: str):
        """The choice as submitted so far, before the whole form validates (to show options)."""
        field = self.fields[name]
        try:
            return field.clean(self[name].value() or field.initial)
        except forms.ValidationError:
            return None

    def options_form(self, data=None, initial: dict | None = None) -> OptionsForm:
        run_type = self.chosen("type") or RunType.SCAN
        datastore = self.chosen("datastore") or self.fields["datastore"].queryset.first()
        target = self.chosen("target") if run_type == RunType.PROMOTE else None
        form_class = OPERATIONS[run_type].options_form
        return form_class(
            data, initial=initial, datastore=datastore, target=target, prefix="option"
        )


class UploadForm(forms.Form):
    """An External Scan's file of records: cleaning it validates every record (read_csv)."""

    file = forms.FileField(
        label="CSV file",
        allow_empty_file=True,  # read_csv() says what is wrong with it, empty included
        help_text="A header row naming the container's columns, then records.",
    )

    def __init__(self, *args, container, **kwargs):
        super().__init__(*args, **kwargs)
        self.container = container

    def clean_file(self) -> Records:
        upload = self.cleaned_data["file"]
        records = read_csv(self.container, upload)
        self.filename = upload.name
        return records
