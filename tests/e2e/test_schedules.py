"""An editor schedules a nightly Profile in Chromium: the preset, its preview, pause, resume."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from schedules.models import Schedule

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_editor_schedules_a_daily_profile_then_pauses_and_resumes_it(demo, login, page):
    login("maria")
    page.click("nav >> text=Schedules")
    page.click("text=New schedule")
    page.fill("#id_name", "Nightly profile of the shop")
    page.select_option("#id_type", "profile")
    expect(page.locator("#options")).to_contain_text("Record limit")  # its options, by htmx
    page.check("input[name=preset][value=daily]")
    page.fill("#id_hour", "3")
    page.fill("#id_minute", "45")
    page.locator("#id_minute").dispatch_event("change")
    preview = page.locator("#preview li")
    expect(preview).to_have_count(5)
    expect(preview.first).to_contain_text("03:45 UTC")
    page.click("text=Save schedule")

    expect(page.locator(".messages")).to_contain_text("every day at 03:45 UTC")
    schedule = Schedule.objects.get(name="Nightly profile of the shop")
    assert (schedule.cron, schedule.type, schedule.owner.username) == (
        "45 3 * * *",
        "profile",
        "maria",
    )
    row = page.locator("tr", has_text="Nightly profile of the shop")
    expect(row).to_contain_text("every day at 03:45 UTC")

    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".messages")).to_contain_text("paused")
    expect(row).to_contain_text("Paused")
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at is None

    row.get_by_role("button", name="Resume").click()
    expect(page.locator(".messages")).to_contain_text(
        re.compile(r"resumed: it fires next at .* 03:45 UTC")
    )
    assert Schedule.objects.get(pk=schedule.pk).active
