from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import Level, Team, User
from activity.models import Run
from catalog.models import Anomaly, Datastore
from schedules.models import Schedule

DEMO_PASSWORD = "runboard-demo"


@pytest.fixture
def demo_dir(settings, tmp_path):
    settings.RUNBOARD = settings.RUNBOARD | {"DEMO_DIR": tmp_path}
    return tmp_path


@pytest.mark.django_db(transaction=True)
def test_demo_loads_people_teams_a_datastore_and_real_runs(demo_dir, capsys):
    call_command("demo", scale=0.02)
    out = capsys.readouterr().out
    for username in ("admin", "maria", "alex", "dana", "victor", "rita"):
        assert f"{username}" in out
    assert DEMO_PASSWORD in out

    shop = Datastore.objects.get(name="shop")
    assert shop.enrichment.name == "shop-enrichment"
    assert {t.level for t in Team.objects.filter(datastores=shop)} == set(Level)
    assert User.objects.get(username="maria").level_on(shop) == Level.EDITOR

    sync, profile, staging_sync, scan = Run.objects.order_by("id")
    assert (sync.type, sync.status) == ("sync", "success")
    assert sync.counters["containers_found"] == 10
    assert (profile.type, profile.status) == ("profile", "success")
    assert profile.counters["checks_added"] > 0
    assert (scan.type, scan.status) == ("scan", "queued")  # left for the worker of `make run`
    assert not Anomaly.objects.exists()

    staging = Datastore.objects.get(name="shop-staging")  # the place to promote checks to
    assert (staging_sync.datastore, staging_sync.status) == (staging, "success")
    customers = staging.containers.get(name="customers")
    assert "state" in customers.fields.values_list("name", flat=True)  # a difference from shop
    assert User.objects.get(username="maria").level_on(staging) == Level.EDITOR

    # Two schedules on the shop, so that the Activity fills up by itself (maria owns them).
    schedules = {s.name: s for s in Schedule.objects.filter(datastore=shop)}
    assert schedules["Scan every 5 minutes"].cron == "*/5 * * * *"
    assert schedules["Nightly profile"].in_words == "every day at 02:00 UTC"
    assert all(
        s.active and s.next_fire_at and s.owner.username == "maria" for s in schedules.values()
    )


@pytest.mark.django_db(transaction=True)
def test_demo_is_idempotent(demo_dir):
    call_command("demo", scale=0.02)
    call_command("demo", scale=0.02)
    assert Datastore.objects.filter(name="shop").count() == 1
    assert Run.objects.count() == 4
    assert User.objects.filter(username="maria").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("username", ["admin", "maria", "victor", "rita", "olga"])
def test_demo_users_log_in_and_reach_the_activity(client, demo_dir, username):
    call_command("demo", scale=0.02, no_runs=True)
    login = client.get("/login/")
    assert login.status_code == 200 and b'name="password"' in login.content
    response = client.post("/login/", {"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert client.get(response["Location"], follow=True).status_code == 200


def test_every_page_but_login_is_private(client, db):
    response = client.get("/activity/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_favicon_is_public(client, db):
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (302, "/static/images/logo.svg")
