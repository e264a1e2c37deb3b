from __future__ import annotations

from django import forms

from accounts.models import ApiToken

EXPIRIES = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (ApiToken.MAX_DAYS, "1 year")]


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What will use it: “nightly scan in Airflow”, “CI of shop-etl”."
    )
    days = forms.TypedChoiceField(
        label="Expires in", choices=EXPIRIES, coerce=int, initial=90, empty_value=90
    )
