"""Fixtures the operation tests share: the enrichment datastore, the staging datastore a Promote
writes to, and the editor's browser session."""

from __future__ import annotations

import pytest
from django.test import Client

from activity.models import Run
from tests.base import client_for, execute
from tests.sources import empty_source


@pytest.fixture
def enrichment(source, tmp_path):
    """An empty database of the source's kind, where Export and Materialize write."""
    built = empty_source(source.kind, tmp_path)
    yield built
    built.drop()


@pytest.fixture
def staging(world, source, tmp_path):
    """A smaller copy of the shop to promote to: customers has EMAIL in capitals and no age."""
    copy = empty_source(source.kind, tmp_path)
    copy.execute(
        'CREATE TABLE customers (id INTEGER, "EMAIL" TEXT, country TEXT, signup DATE)',
        "CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount NUMERIC, status TEXT)",
    )
    world.target.connection_url = copy.url
    world.target.save()
    world.editor.teams.get(name="editor team").datastores.add(world.target)
    world.editor = world.persona("editor")  # its levels are cached: read them again
    execute(Run.launch(Run.Type.SYNC, world.target, by=world.admin))
    yield world.target
    copy.drop()


@pytest.fixture
def editor_client(world) -> Client:
    return client_for(world, "editor")
