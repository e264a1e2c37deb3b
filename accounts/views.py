from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import TokenForm
from accounts.models import ApiToken

# The session keeps a new token for the one page that shows it, then forgets it.
JUST_ISSUED = "accounts.just_issued_token"


@require_http_methods(["GET", "POST"])
def token_list(request):
    form = TokenForm(request.POST or None)
    if form.is_valid():
        token, raw = ApiToken.issue(
            request.user, form.cleaned_data["name"], form.cleaned_data["days"]
        )
        request.session[JUST_ISSUED] = {"id": token.pk, "jwt": raw}
        return redirect("accounts:tokens")
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "tokens": request.user.api_tokens.all(),
            "issued": request.session.pop(JUST_ISSUED, None),
            "section": "tokens",
        },
        status=400 if form.errors else 200,
    )


@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    token.revoke()
    messages.success(request, f"Token “{token.name}” revoked: it no longer opens the API.")
    return redirect("accounts:tokens")
