"""API tokens: created on the user's page or by a command, shown once, revocable; JWTs a client
can read, that the server checks against their row on every call."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import jwt
import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiToken, signing_key
from tests.api.conftest import ApiClient
from tests.base import client_for, make_run


def test_a_user_creates_a_token_sees_it_once_and_revokes_it(world):
    page = client_for(world, "viewer")
    created = page.post("/account/tokens/", {"name": "nightly scan", "days": 30}, follow=True)
    token = re.search(r'id="new-token">([^<]+)<', created.content.decode()).group(1)
    assert ApiClient(token).get("/datastores").status_code == 200
    assert token not in page.get("/account/tokens/").content.decode()  # shown once only

    row = ApiToken.objects.get(name="nightly scan")
    assert row.user == world.viewer and row.last_used_at is not None
    assert (row.expires_at - row.created_at) == timedelta(days=30)
    page.post(f"/account/tokens/{row.pk}/revoke/")
    assert ApiClient(token).get("/datastores").status_code == 401


def test_a_user_revokes_only_their_own_tokens(world):
    theirs, _ = ApiToken.issue(world.editor, "theirs", 30)
    assert (
        client_for(world, "viewer").post(f"/account/tokens/{theirs.pk}/revoke/").status_code == 404
    )
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None


def test_a_token_name_is_required_and_the_expiry_is_bounded(world):
    page = client_for(world, "viewer")
    assert page.post("/account/tokens/", {"name": "", "days": 30}).status_code == 400
    assert page.post("/account/tokens/", {"name": "x", "days": 5000}).status_code == 400
    assert not ApiToken.objects.exists()


def test_the_command_prints_only_the_token(world):
    out = io.StringIO()
    call_command("api_token", "editor", "--name", "ci", "--days", "7", stdout=out)
    token = out.getvalue().strip()
    assert "\n" not in token and ApiClient(token).get("/datastores").status_code == 200


def test_a_client_reads_the_expiry_without_the_key(world):
    _, token = ApiToken.issue(world.editor, "ci", 7)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {"exp", "iat", "jti", "sub"} <= set(claims)
    assert claims["sub"] == str(world.editor.pk)
    assert claims["exp"] - claims["iat"] == 7 * 86400


def forged(claims: dict, key: bytes | str = b"") -> str:
    return jwt.encode(claims, key or signing_key(), algorithm="HS256")


def test_expired_revoked_tampered_foreign_and_malformed_tokens_are_401(world):
    row, good = ApiToken.issue(world.editor, "ci", 7)
    claims = jwt.decode(good, options={"verify_signature": False})
    header, payload, signature = good.split(".")
    expired, _ = ApiToken.issue(world.editor, "old", 1)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    revoked, revoked_token = ApiToken.issue(world.editor, "gone", 7)
    revoked.revoke()
    bad = {
        "expired (claims)": forged(claims | {"exp": int(timezone.now().timestamp()) - 10}),
        "expired (row)": forged(claims | {"jti": str(expired.jti)}),
        "revoked": revoked_token,
        "tampered": f"{header}.{payload[:-2]}xy.{signature}",
        "another user in the claims": forged(claims | {"sub": str(world.admin.pk)}),
        "signed with another key": forged(claims, "not-runboard's-key-but-long-enough-00000"),
        "unknown id": forged(claims | {"jti": "00000000-0000-0000-0000-000000000000"}),
        "no id": forged({k: v for k, v in claims.items() if k != "jti"}),
        "not a JWT": "hello",
        "empty": " ",
    }
    for what, token in bad.items():
        response = ApiClient(token).get("/datastores")
        assert response.status_code == 401, what
        assert response.json() == {
            "detail": "Send a valid API token: Authorization: Bearer <token>."
        }, what
    assert ApiClient(good).get("/datastores").status_code == 200


def test_an_inactive_users_token_is_refused(world):
    _, token = ApiToken.issue(world.editor, "ci", 7)
    world.editor.is_active = False
    world.editor.save()
    assert ApiClient(token).get("/datastores").status_code == 401


def test_a_token_acts_with_its_users_permissions_at_the_time_of_the_call(world):
    run = make_run(world.shop, status="success")
    _, token = ApiToken.issue(world.editor, "ci", 7)
    client = ApiClient(token)
    assert client.get(f"/operations/{run.pk}").status_code == 200
    world.editor.teams.clear()  # the editor leaves every team
    assert client.get(f"/operations/{run.pk}").status_code == 404
    assert client.put(f"/operations/rerun/{run.pk}").status_code == 404


def test_a_browser_session_never_opens_the_api_and_a_token_never_opens_a_page(world):
    logged_in = client_for(world, "admin")
    assert logged_in.get("/api/datastores").status_code == 401
    run = make_run(world.shop, status="success")
    assert logged_in.put(f"/api/operations/rerun/{run.pk}").status_code == 401
    assert not run.children.exists()
    _, token = ApiToken.issue(world.admin, "ci", 7)
    page = ApiClient(token).client.get("/activity/", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 302 and page["Location"].startswith("/login/")


def test_admins_see_and_revoke_every_token(world):
    row, token = ApiToken.issue(world.editor, "ci", 7)
    admin = client_for(world, "admin")
    listing = admin.get("/admin/accounts/apitoken/")
    assert listing.status_code == 200 and "ci" in listing.content.decode()
    admin.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [row.pk]},
    )
    assert ApiToken.objects.get(pk=row.pk).revoked_at is not None
    assert ApiClient(token).get("/datastores").status_code == 401


@pytest.mark.parametrize("persona", ["editor", "viewer", "reporter", "outsider"])
def test_the_user_menu_links_to_the_tokens_page(world, persona):
    assert (
        'href="/account/tokens/"' in client_for(world, persona).get("/datastores/").content.decode()
    )
