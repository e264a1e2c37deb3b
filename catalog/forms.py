from __future__ import annotations

from django import forms

from catalog.models import Anomaly


class AnomalyFilters(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Open and closed"), ("open", "Open"), *Anomaly.Status.choices]
    )
    run = forms.IntegerField(required=False, min_value=1, label="Found by run")
    container = forms.IntegerField(required=False, min_value=1)
    before = forms.IntegerField(required=False, min_value=1)

    def apply(self, anomalies):
        data = self.cleaned_data
        if data["status"] == "open":
            anomalies = anomalies.open()
        elif data["status"]:
            anomalies = anomalies.filter(status=data["status"])
        if data["run"]:
            anomalies = anomalies.filter(run_number=data["run"])
        if data["container"]:
            anomalies = anomalies.filter(container_id=data["container"])
        if data["before"]:
            anomalies = anomalies.filter(pk__lt=data["before"])
        return anomalies
