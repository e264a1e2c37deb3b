"""Browser tests: Debian's Chromium driven by Playwright, against a live server and a real worker."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from accounts.models import User
from activity.management.commands.demo import catalog
from catalog.models import Datastore
from tests.base import start_worker
from tests.e2e import CHROMIUM, CHROMIUM_ARGS

# A demo shop big enough (about a million order items) for a Scan to run for several seconds.
SCALE = 3.0


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("RUNBOARD_REQUIRE_BROWSER"):
        raise pytest.UsageError(f"RUNBOARD_REQUIRE_BROWSER is set but there is no {CHROMIUM}")
    skip = pytest.mark.skip(reason="NEEDS CHROMIUM: apt-get install chromium (`.ci/run` does)")
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    """The demo, as `make run` loads it: its users and teams, the shop, a real Sync and Profile.
    The shop database itself is built once per machine and reused."""
    settings.RUNBOARD = settings.RUNBOARD | {"DEMO_DIR": settings.VAR_DIR / "e2e-demo"}
    call_command("demo", scale=SCALE, no_runs=True, verbosity=0)
    shop = Datastore.objects.get(name="shop")
    catalog(shop, User.objects.get(username="admin"))
    return shop


@pytest.fixture
def worker(tmp_path):
    process = start_worker(tmp_path / "worker.log", RUNBOARD_RUN_PARALLELISM="1")
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def login(live_server, page):
    page.set_default_timeout(15_000)

    def log_in(username: str) -> None:
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "runboard-demo")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/activity/")

    return log_in
