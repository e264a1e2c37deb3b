from __future__ import annotations

import os

import pytest

from tests.base import build_world

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright runs an event loop


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def sqlite_sources_in_tmp(settings, tmp_path_factory):
    """Test sources are SQLite files in pytest's temporary directories: allow those too."""
    dirs = [*settings.RUNBOARD["SQLITE_DIRS"], tmp_path_factory.getbasetemp()]
    settings.RUNBOARD = settings.RUNBOARD | {"SQLITE_DIRS": dirs}


@pytest.fixture
def world(db):
    return build_world()


ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith(("postgres:", "postgresql:"))


def pytest_configure(config):
    if os.environ.get("RUNBOARD_REQUIRE_POSTGRES") and not ON_POSTGRESQL:
        raise pytest.UsageError(
            "RUNBOARD_REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL"
        )


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRESQL:
        return
    skip = pytest.mark.skip(
        reason="NEEDS POSTGRESQL: set DATABASE_URL=postgresql://… (`.ci/run` runs this leg)"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def source(request, tmp_path):
    """The small shop of tests/sources.py, on SQLite and (PostgreSQL leg) on PostgreSQL."""
    from tests.sources import shop_source

    built = shop_source(request.param, tmp_path)
    yield built
    built.drop()


@pytest.fixture(autouse=True)
def fresh_cache():
    """The Activity's figures are cached for a few seconds: every test starts without them."""
    from django.core.cache import cache

    cache.clear()
