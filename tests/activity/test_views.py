"""The Activity actions over HTTP, for every persona: status codes, what is rendered, the state after."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from activity.models import Run
from tests.base import ACTORS, PERSONAS, SEERS, client_for, make_run

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "run-row"}

# action → (the state it is offered in, what the database says after it succeeded)
CASES = {
    "abort": ({"status": "running"}, lambda run: run.is_aborting),
    "resume": (
        {"status": "failure", "units": {"a": "success", "b": "failure"}},
        lambda run: run.children.filter(link="resume").count() == 1,
    ),
    "rerun": ({"status": "success"}, lambda run: run.children.filter(link="rerun").count() == 1),
    "delete": ({"status": "aborted"}, lambda run: run is None),
}


def button(run: Run, action: str) -> str:
    """A row's button: it submits the page's form to the run's action."""
    return f'formaction="{run.url}{action}/"'


def reload(run: Run) -> Run | None:
    """The run as the Activity now shows it; None once deleted (hidden, for the undo window)."""
    return Run.objects.filter(pk=run.pk, deleted_at__isnull=True).first()


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", list(CASES))
def test_plain_posts_redirect_actors_and_refuse_the_others(world, action, persona):
    state, succeeded = CASES[action]
    run = make_run(world.shop, **state)
    response = client_for(world, persona).post(
        f"/activity/runs/{run.pk}/{action}/", {"next": "/activity/?type=scan"}
    )
    if persona in ACTORS:
        assert response.status_code == 302
        assert response["Location"] == "/activity/?type=scan"
        assert succeeded(reload(run))
    elif persona in SEERS:
        assert response.status_code == 403
        assert b"editor permission on shop" in response.content
        assert reload(run) is not None and not succeeded(reload(run))
    else:
        assert response.status_code == 404  # never 403 for a run they cannot see
        assert reload(run) is not None and not succeeded(reload(run))


@pytest.mark.parametrize("action", list(CASES))
def test_htmx_posts_answer_with_the_row(world, action):
    state, succeeded = CASES[action]
    run = make_run(world.shop, **state)
    response = client_for(world, "editor").post(f"/activity/runs/{run.pk}/{action}/", **HX)
    assert response.status_code == 200
    html = response.content.decode()
    if action == "delete":
        assert f'<tbody id="run-{run.pk}" hx-swap-oob="delete">' in html  # htmx removes the row
    else:
        assert re.match(rf'\s*<table>\s*<tbody id="run-{run.pk}"', html)
    assert succeeded(reload(run))


def test_resume_over_htmx_also_sends_the_new_run_and_starts_the_live_updates(world):
    run = make_run(world.shop, status="aborted", units={"a": "success", "b": "pending"})
    html = (
        client_for(world, "editor").post(f"/activity/runs/{run.pk}/resume/", **HX).content.decode()
    )
    child = run.children.get()
    assert f"resumed as #{child.pk}" in html
    assert 'hx-swap-oob="afterend:#runs-head"' in html
    assert f'<tbody id="run-{child.pk}"' in html
    assert 'id="live"' in html and 'hx-trigger="every 2s"' in html


def test_an_action_on_a_run_that_moved_on_is_a_409_with_the_row_and_its_message(world):
    run = make_run(world.shop, status="running", aborting=True)
    response = client_for(world, "editor").post(f"/activity/runs/{run.pk}/abort/", **HX)
    assert response.status_code == 409
    html = response.content.decode()
    assert f'<tbody id="run-{run.pk}"' in html
    assert "is already aborting" in html and 'role="alert"' in html

    plain = client_for(world, "editor").post(f"/activity/runs/{run.pk}/abort/")
    assert plain.status_code == 409
    assert b"is already aborting" in plain.content


def test_an_action_on_a_run_deleted_meanwhile_says_so(world):
    run = make_run(world.shop, status="success")
    editor = client_for(world, "editor")
    page = editor.get("/activity/")
    assert f'formaction="{run.url}delete/"' in page.content.decode()
    run.delete_by(world.admin)
    response = editor.post(f"/activity/runs/{run.pk}/delete/", **HX)
    assert response.status_code == 404


def test_a_double_clicked_rerun_creates_one_run(world):
    run = make_run(world.shop, status="success")
    editor = client_for(world, "editor")
    for _ in range(2):
        editor.post(f"/activity/runs/{run.pk}/rerun/", {"key": "same-form"}, **HX)
    assert run.children.count() == 1


def test_abort_and_delete_ask_for_confirmation_without_javascript(world):
    run = make_run(world.shop, status="success")
    page = client_for(world, "editor").get(f"/activity/runs/{run.pk}/delete/")
    assert page.status_code == 200
    assert b"Delete run #" in page.content and b'method="post"' in page.content
    assert reload(run) is not None


def test_forms_need_their_csrf_token(world):
    run = make_run(world.shop, status="running")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.editor)
    assert client.post(f"/activity/runs/{run.pk}/abort/").status_code == 403
    assert not reload(run).is_aborting


def test_actions_answer_only_to_post(world):
    run = make_run(world.shop, status="failure")
    assert client_for(world, "editor").get(f"/activity/runs/{run.pk}/resume/").status_code == 405


def test_a_viewer_sees_no_action_buttons_but_reads_the_logs(world):
    run = make_run(
        world.shop,
        status="failure",
        units={"orders": "failure"},
        detail="source datastore unreachable",
    )
    run.log("lost connection to shop", "error")
    viewer = client_for(world, "viewer")
    page = viewer.get("/activity/").content.decode()
    assert f"#{run.pk}" in page
    for action in ("resume", "rerun", "delete", "abort"):
        assert button(run, action) not in page
    assert ">Actions<" not in page and "Run operation" not in page
    detail = viewer.get(f"/activity/runs/{run.pk}/", **HX).content.decode()
    assert "lost connection to shop" in detail
    assert "source datastore unreachable" in detail


def test_an_editor_sees_exactly_the_buttons_the_rules_allow(world):
    failed = make_run(
        world.shop, status="failure", units={"a": "success", "b": "failure", "c": "pending"}
    )
    running = make_run(world.shop, status="running")
    page = client_for(world, "editor").get("/activity/").content.decode()
    assert button(failed, "resume") in page and button(failed, "rerun") in page
    assert button(failed, "delete") in page and button(failed, "abort") not in page
    assert "Resume: processes the 2 unfinished tables" in page
    assert button(running, "abort") in page and button(running, "delete") not in page


def test_an_expanded_row_shows_containers_log_timeline_and_links(world):
    parent = make_run(
        world.shop, status="failure", units={"orders": "failure", "payments": "pending"}
    )
    child = parent.resume(by=world.editor)
    unit = child.units.get(name="orders")
    child.log("boom in orders", "error", unit=unit)
    child.log("worker started")
    html = client_for(world, "editor").get(f"/activity/runs/{child.pk}/", **HX).content.decode()
    assert 'aria-expanded="true"' in html
    assert f"resume of #{parent.pk}" in html
    assert "boom in orders" in html and "worker started" in html
    assert "Created by <strong>editor</strong>" in html
    assert f'href="/activity/runs/{parent.pk}/"' in html


def test_a_run_opened_directly_is_a_full_page(world):
    run = make_run(world.shop, status="success")
    page = client_for(world, "viewer").get(f"/activity/runs/{run.pk}/")
    assert page.status_code == 200
    assert b"<html" in page.content and f"Run #{run.pk}".encode() in page.content


def test_someone_elses_run_is_a_404(world):
    run = make_run(world.other, status="success")
    assert client_for(world, "editor").get(f"/activity/runs/{run.pk}/").status_code == 404
    assert client_for(world, "other_editor").get(f"/activity/runs/{run.pk}/").status_code == 200


def test_the_log_downloads_as_text(world):
    run = make_run(world.shop, status="success")
    run.log("first line")
    response = client_for(world, "viewer").get(f"/activity/runs/{run.pk}/log.txt")
    assert response["Content-Type"].startswith("text/plain")
    assert b"first line" in b"".join(response.streaming_content)


def test_pages_carry_a_strict_content_security_policy(world):
    response = client_for(world, "editor").get("/activity/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self' 'nonce-" in policy
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy
    html = response.content.decode()
    assert "<script>" not in html and " style=" not in html and "hx-on" not in html


@pytest.mark.parametrize("action", ["abort", "delete"])
def test_the_no_js_confirmation_page_is_only_for_who_may_act_on_a_run_that_allows_it(world, action):
    allowed = make_run(world.shop, status="running" if action == "abort" else "failure")
    moved_on = make_run(world.shop, status="success" if action == "abort" else "running")
    page = client_for(world, "editor").get(f"/activity/runs/{allowed.pk}/{action}/")
    assert page.status_code == 200 and b'method="post"' in page.content
    assert (
        client_for(world, "viewer").get(f"/activity/runs/{allowed.pk}/{action}/").status_code == 403
    )
    refused = client_for(world, "editor").get(f"/activity/runs/{moved_on.pk}/{action}/")
    assert refused.status_code == 409 and b"can no longer be" in refused.content
    assert (
        client_for(world, "outsider").get(f"/activity/runs/{allowed.pk}/{action}/").status_code
        == 404
    )
