"""What people do on the Activity page, in real Chromium, with a real worker behind it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from activity.models import Run
from tests.base import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def row(page, run_id: int):
    return page.locator(f"#run-{run_id} > .run-row")


def toggle(page, run_id: int):
    return page.locator(f"#run-{run_id} .toggle")


def button(page, run_id: int, label: str):
    return row(page, run_id).get_by_role("button", name=label)


def newest_run_id() -> int:
    return Run.objects.order_by("-id").values_list("pk", flat=True)[0]


def test_an_editor_launches_watches_aborts_resumes_and_deletes_a_scan(
    demo, worker, login, page, live_server
):
    login("maria")
    page.click("text=Run operation")
    page.select_option("#id_datastore", label="shop")
    page.select_option("#id_type", "scan")
    page.click("button:has-text('Run operation') >> nth=-1")
    page.wait_for_url(f"{live_server.url}/activity/")
    scan = newest_run_id()
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    # progress moves by itself
    expect(row(page, scan).locator(".badge")).to_have_text(re.compile("Running"))
    expect(row(page, scan).locator(".progress b")).not_to_have_text("0")

    # expand it, abort it, see it land without a reload
    toggle(page, scan).click()
    expect(page.locator(f"#run-{scan}-detail")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    button(page, scan, "Abort").click()
    expect(row(page, scan).locator(".badge")).to_have_text(re.compile("Aborted"), timeout=15_000)
    assert page.evaluate("window.sameDocument") is True
    aborted = Run.objects.get(pk=scan)
    assert aborted.status == "aborted" and aborted.containers_succeeded < aborted.containers_total

    # resume it: the child appears at the top, goes live, finishes
    button(page, scan, "Resume").click()
    child = wait_for(
        lambda: Run.objects.filter(parent_id=scan, link="resume").first(), what="resume"
    ).pk
    expect(page.locator("tbody.run").first).to_have_id(f"run-{child}")
    expect(row(page, child).locator(".badge")).to_have_text(re.compile("Success"), timeout=60_000)
    expect(row(page, scan).locator(".result")).to_contain_text(f"resumed as #{child}")

    # delete the parent: its row goes
    page.once("dialog", lambda dialog: dialog.accept())
    button(page, scan, "Delete").click()
    expect(page.locator(f"#run-{scan}")).to_have_count(0)
    assert page.evaluate("window.sameDocument") is True
    assert Run.objects.get(pk=scan).deleted_at  # hidden at once; gone for good after the undo


def test_a_viewer_reads_logs_but_finds_no_action(demo, login, page):
    login("victor")
    runs = page.locator("tbody.run")
    expect(runs).to_have_count(2)  # the demo's Sync and Profile
    expect(page.locator("td.actions")).to_have_count(0)
    expect(page.locator("text=Run operation")).to_have_count(0)
    profile = Run.objects.get(type="profile").pk
    toggle(page, profile).click()
    log = page.locator(f"#run-{profile}-log")
    expect(log).to_contain_text("Connected to shop")
    expect(page.locator(f"#run-{profile}-units")).to_contain_text("order_items")


def test_a_filter_change_updates_the_url_and_the_list(demo, login, page):
    login("maria")
    page.select_option("select[name=type]", "profile")
    expect(page).to_have_url(re.compile(r"type=profile"))
    expect(page.locator("tbody.run")).to_have_count(1)
    page.reload()
    expect(page.locator("select[name=type]")).to_have_value("profile")
    expect(page.locator("tbody.run")).to_have_count(1)


def test_the_keyboard_alone_expands_a_row_and_presses_abort(demo, login, page):
    queued = Run.launch(Run.Type.SCAN, demo, by=User.objects.get(username="maria")).pk
    login("maria")
    tab_to(page, toggle(page, queued))
    page.keyboard.press("Enter")
    expect(page.locator(f"#run-{queued}-detail")).to_be_visible()
    expect(toggle(page, queued)).to_have_attribute("aria-expanded", "true")
    page.wait_for_timeout(2500)  # a live poll passes: the focus stays on the open row
    expect(toggle(page, queued)).to_be_focused()
    tab_to(page, button(page, queued, "Abort"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Enter")
    expect(row(page, queued).locator(".badge")).to_have_text(re.compile("Aborted"))
    expect(toggle(page, queued)).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(f"#run-{queued}-detail")).to_have_count(0)


def tab_to(page, target, presses: int = 60) -> None:
    """Press Tab until the target has the focus, as a keyboard user would."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")
