"""SQLite datastores live under the allowed directories, and never in Runboard's own database:
refused when a datastore is saved and when a worker connects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

from activity import engine
from activity.models import Run
from catalog.connectors import SourceUnavailable, connect
from catalog.connectors.sqlite import SCRATCH
from catalog.models import Datastore
from config.settings import env_dirs
from tests.base import build_world
from tests.conftest import ON_POSTGRESQL

OUTSIDE = "outside the directories allowed"
OWN = "Runboard's own database"
own_database_is_a_file = pytest.mark.skipif(
    ON_POSTGRESQL, reason="Runboard's own database is a file only on SQLite"
)


@pytest.fixture
def allowed(settings, tmp_path) -> Path:
    """The one directory SQLite datastores may use (pytest's temporary root is not one here)."""
    folder = tmp_path / "allowed"
    folder.mkdir()
    settings.RUNBOARD = settings.RUNBOARD | {"SQLITE_DIRS": [folder]}
    return folder


def sqlite_file(path: Path) -> Path:
    import sqlite3

    sqlite3.connect(path).close()
    return path


@pytest.fixture(params=["own database", "/etc/passwd", "symlink out", "dot-dot out"])
def refused(request, allowed, tmp_path, settings) -> tuple[str, str]:
    """A URL the catalog must refuse, and the words of the refusal."""
    if request.param == "own database":
        if ON_POSTGRESQL:
            pytest.skip("Runboard's own database is a file only on SQLite")
        return f"sqlite:///{settings.DATABASES['default']['NAME']}", OWN
    if request.param == "/etc/passwd":
        return "sqlite:////etc/passwd", OUTSIDE
    if request.param == "symlink out":
        link = allowed / "link.sqlite3"
        link.symlink_to(sqlite_file(tmp_path / "elsewhere.sqlite3"))
        return f"sqlite:///{link}", OUTSIDE
    return f"sqlite:///{allowed}/../outside.sqlite3", OUTSIDE


def test_a_datastore_on_a_refused_file_does_not_validate(refused, db):
    url, reason = refused
    with pytest.raises(ValidationError) as error:
        Datastore(name="sneaky", connection_url=url).full_clean()
    assert reason in " ".join(error.value.message_dict["connection_url"])


def test_the_admin_form_shows_the_refusal_and_saves_nothing(refused, client, world):
    url, reason = refused
    client.force_login(world.admin)
    response = client.post(
        "/admin/catalog/datastore/add/",
        {"name": "sneaky", "connection_url": url, "enrichment_prefix": "rb"},
    )
    assert response.status_code == 200
    html = response.content.decode().replace("&#x27;", "'")
    assert "errorlist" in html and reason in html
    assert not Datastore.objects.filter(name="sneaky").exists()


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_connecting_to_a_refused_file_names_the_allowed_directories(
    refused, allowed, tmp_path, write
):
    url, reason = refused
    with pytest.raises(SourceUnavailable, match=reason) as error:
        connect(url, write=write)
    if reason == OUTSIDE:
        assert str(allowed.resolve()) in str(error.value)
    # An enrichment datastore opens its file for writing: nothing was created outside.
    assert not (tmp_path / "outside.sqlite3").exists()


def test_a_file_inside_an_allowed_directory_is_accepted(allowed, client, world):
    url = f"sqlite:///{sqlite_file(allowed / 'shop.sqlite3')}"
    Datastore(name="fine", connection_url=url).full_clean()
    with connect(url) as conn:
        assert conn.tables() == []
    client.force_login(world.admin)
    response = client.post(
        "/admin/catalog/datastore/add/",
        {"name": "fine", "connection_url": url, "enrichment_prefix": "rb"},
    )
    assert response.status_code == 302
    assert Datastore.objects.get(name="fine").connection_url == url


def test_an_enrichment_file_may_be_created_inside_an_allowed_directory(allowed):
    with connect(f"sqlite:///{allowed}/sub/../enrichment.sqlite3", write=True) as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    assert (allowed / "enrichment.sqlite3").is_file()


def test_the_private_scratch_database_stays_allowed(allowed):
    with connect(SCRATCH) as conn:
        assert conn.scalar("SELECT 1") == 1


def test_the_demo_folder_is_allowed_wherever_it_points(settings, tmp_path):
    demo = tmp_path / "demo"
    demo.mkdir()
    settings.RUNBOARD = settings.RUNBOARD | {"SQLITE_DIRS": [], "DEMO_DIR": demo}
    with connect(f"sqlite:///{sqlite_file(demo / 'shop.sqlite3')}") as conn:
        assert conn.tables() == []


@own_database_is_a_file
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_runboards_own_database_is_refused_even_in_an_allowed_directory(settings, db, suffix):
    own = Path(settings.DATABASES["default"]["NAME"])
    settings.RUNBOARD = settings.RUNBOARD | {"SQLITE_DIRS": [own.parent]}
    with pytest.raises(SourceUnavailable, match=OWN):
        connect(f"sqlite:///{own}{suffix}")
    with pytest.raises(ValidationError):
        Datastore(name="sneaky", connection_url=f"sqlite:///{own}{suffix}").full_clean()


@own_database_is_a_file
def test_a_hard_link_to_runboards_own_database_is_refused(settings, db):
    own = Path(settings.DATABASES["default"]["NAME"])
    settings.RUNBOARD = settings.RUNBOARD | {"SQLITE_DIRS": [own.parent]}
    alias = own.with_name("alias-of-the-runboard-database.sqlite3")
    os.link(own, alias)
    try:
        with pytest.raises(SourceUnavailable, match=OWN):
            connect(f"sqlite:///{alias}")
    finally:
        for leftover in (alias, *(alias.with_name(alias.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)


@pytest.mark.django_db(transaction=True)
def test_a_run_on_a_datastore_saved_before_the_rule_fails_without_reading_the_file():
    world = build_world(shop_url="sqlite:////etc/passwd")  # objects.create skips clean()
    sync = Run.launch(Run.Type.SYNC, world.shop, by=world.editor)
    engine.execute(sync.pk)
    sync.refresh_from_db()
    assert sync.status == Run.Status.FAILURE
    assert OUTSIDE in sync.detail
    assert not world.shop.containers.exists()
    assert not sync.logs.filter(message__startswith="Connection 1/").exists()  # no retries


def test_the_allowed_directories_must_be_absolute(monkeypatch):
    monkeypatch.setenv("RUNBOARD_SQLITE_DIRS", "/srv/sources, /srv/more")
    assert env_dirs("RUNBOARD_SQLITE_DIRS", []) == [Path("/srv/sources"), Path("/srv/more")]
    monkeypatch.setenv("RUNBOARD_SQLITE_DIRS", "/srv/sources,relative/dir")
    with pytest.raises(ImproperlyConfigured, match="relative/dir"):
        env_dirs("RUNBOARD_SQLITE_DIRS", [])
