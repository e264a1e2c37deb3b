"""The personas every test meets, built once per test, and small factories for runs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Level, Team, User
from activity import engine
from activity.models import Run, RunContainer, RunDay
from activity.operations import OPERATIONS
from catalog.connectors.sqlite import allowed_dirs
from catalog.models import Check, Container, Datastore
from tests.sources import AUTHORED

ROOT = Path(settings.BASE_DIR)
PASSWORD = "secret-pass-123"

PERSONAS = [
    "admin",
    "superuser",
    "editor",
    "author",
    "drafter",
    "viewer",
    "reporter",
    "outsider",
    "other_editor",
]
# Who may act on runs of the `shop` datastore (SPEC §4): admins, and editors of its teams.
ACTORS = {"admin", "superuser", "editor"}
# Who sees the shop's runs at all: anyone with a level on it.
SEERS = ACTORS | {"author", "drafter", "viewer", "reporter"}


@dataclass
class World:
    shop: Datastore
    target: Datastore
    other: Datastore
    admin: User
    superuser: User
    editor: User
    author: User
    drafter: User
    viewer: User
    reporter: User
    outsider: User
    other_editor: User

    def persona(self, name: str) -> User:
        # A fresh instance: levels are cached per user object, as they are per request.
        return User.objects.get(pk=getattr(self, name).pk)


def client_for(world: World, persona: str) -> Client:
    """A browser session logged in as one of the personas."""
    client = Client()
    client.force_login(world.persona(persona))
    return client


def user(username: str, **fields) -> User:
    return User.objects.create_user(username, f"{username}@example.com", PASSWORD, **fields)


def build_world(shop_url: str = "sqlite:////nonexistent/shop.db") -> World:
    enrichment = Datastore.objects.create(name="shop-enrichment", connection_url=shop_url)
    shop = Datastore.objects.create(name="shop", connection_url=shop_url, enrichment=enrichment)
    target = Datastore.objects.create(name="shop-staging", connection_url=shop_url)
    other = Datastore.objects.create(name="warehouse", connection_url=shop_url)
    people = {
        "admin": user("admin", role=User.Role.ADMIN),
        "superuser": User.objects.create_superuser("root", "root@example.com", PASSWORD),
        **{name: user(name) for name in PERSONAS[2:]},
    }
    for name, level in [
        ("editor", Level.EDITOR),
        ("author", Level.AUTHOR),
        ("drafter", Level.DRAFTER),
        ("viewer", Level.VIEWER),
        ("reporter", Level.REPORTER),
    ]:
        team = Team.objects.create(name=f"{name} team", level=level)
        team.members.add(people[name])
        team.datastores.add(shop)
    # A viewer team that also holds the editor must not lower the editor's level.
    watchers = Team.objects.create(name="watchers", level=Level.VIEWER)
    watchers.members.add(people["editor"], people["viewer"])
    watchers.datastores.add(shop, target)
    warehouse = Team.objects.create(name="warehouse team", level=Level.EDITOR)
    warehouse.members.add(people["other_editor"])
    warehouse.datastores.add(other)
    return World(shop=shop, target=target, other=other, **people)


def make_run(
    datastore: Datastore,
    *,
    type: str = Run.Type.SCAN,
    status: str = Run.Status.QUEUED,
    units: dict[str, str] | None = None,
    aborting: bool = False,
    target: Datastore | None = None,
    by: User | None = None,
    **fields,
) -> Run:
    """A run in any state, as the engine would have left it, with its containers."""
    now = timezone.now()
    if status != Run.Status.QUEUED:
        fields.setdefault("started_at", now - timedelta(minutes=2))
        fields.setdefault("begun_at", fields["started_at"])
    if status in (Run.Status.SUCCESS, Run.Status.FAILURE, Run.Status.ABORTED):
        fields.setdefault("finished_at", now)
        fields.setdefault("duration", fields["finished_at"] - fields["started_at"])
    if status == Run.Status.RUNNING:
        fields.setdefault("heartbeat_at", now)
    if aborting:
        fields["abort_requested_at"] = now
    if type == Run.Type.PROMOTE and target is None:
        target = datastore.__class__.objects.get(name="shop-staging")
    units = units or {"orders": RunContainer.Status.PENDING}
    for name in units:
        Container.objects.get_or_create(datastore=datastore, name=name)
    defaults = {"container": next(iter(units))} if type == Run.Type.EXTERNAL_SCAN else {}
    options = OPERATIONS[type].clean_options(datastore, fields.pop("options", defaults), target)
    run = Run.objects.create(
        options=options,
        type=type,
        status=status,
        datastore=datastore,
        target=target,
        triggered_by=by,
        containers_total=len(units),
        containers_done=sum(s in RunContainer.FINISHED for s in units.values()),
        containers_succeeded=sum(s == RunContainer.Status.SUCCESS for s in units.values()),
        **fields,
    )
    RunDay.count(run, +1)
    for position, (name, unit_status) in enumerate(units.items()):
        container = Container.objects.get(datastore=datastore, name=name)
        RunContainer.objects.create(
            run=run, container=container, name=name, position=position, status=unit_status
        )
    return run


def database_url() -> str:
    """The URL of the test database, for worker processes to share it with the test."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    env = os.environ | {
        "DATABASE_URL": database_url(),
        "RUNBOARD_HEARTBEAT": "0.2",
        "RUNBOARD_ABORT_POLL": "0.05",
        "RUNBOARD_HEARTBEAT_TIMEOUT": "2",
        "RUNBOARD_REAP_EVERY": "0.5",
        "RUNBOARD_RUN_PARALLELISM": "1",
        "RUNBOARD_DB_POOL": "false",
        # The same SQLite sources as the test's settings (pytest's temporary dirs, the demo's).
        "RUNBOARD_SQLITE_DIRS": ",".join(str(folder) for folder in allowed_dirs()),
        "PYTHONUNBUFFERED": "1",
        # Outside pytest and without DEBUG, settings refuse to start without a key of their own.
        "SECRET_KEY": settings.SECRET_KEY,
    }
    env.pop("PYTEST_VERSION", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env | extra


def start_worker(log: Path, *args: str, gates: Path | None = None, **env: str) -> subprocess.Popen:
    """A real worker process on the test database, its output in `log`. With `gates`, its
    Profile waits at the test's gates (tests/gate.py)."""
    command = ["-m", "tests.gate_worker"] if gates else ["manage.py", "worker"]
    if gates:
        env["RUNBOARD_GATES"] = str(gates)
    with log.open("a") as out:
        return subprocess.Popen(
            [
                sys.executable,
                *command,
                "--no-reload",
                "--no-startup-delay",
                "--interval",
                "0.1",
                *args,
            ],
            cwd=ROOT,
            env=worker_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(predicate, timeout: float = 30, what: str = "the condition"):
    """Poll until predicate() is truthy; its value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}")


# Running operations for real -------------------------------------------------------------------


def execute(run: Run) -> Run:
    """Run it here, in this process, as a worker would; the run as it ended."""
    engine.execute(run.pk)
    run.refresh_from_db()
    return run


def launch(world: World, type: str, **options) -> Run:
    """Launch an operation on the shop as its editor and run it here."""
    return execute(Run.launch(type, world.shop, by=world.editor, options=options))


def author_checks(world: World) -> None:
    """The checks people wrote for the problems planted in the test shop (tests/sources.py)."""
    for (container, field, rule), params in AUTHORED.items():
        table = world.shop.containers.get(name=container)
        Check.objects.create(
            container=table, field=table.fields.get(name=field), rule=rule, params=params
        )


def catalogued_world(source, enrichment) -> World:
    """The personas, with the shop on `source` synced, its checks written, and an enrichment
    datastore on `enrichment`."""
    world = build_world(shop_url=source.url)
    world.shop.enrichment.connection_url = enrichment.url
    world.shop.enrichment.save()
    world.shop.enrichment_prefix = "shop"
    world.shop.save()
    execute(Run.launch(Run.Type.SYNC, world.shop, by=world.editor))
    author_checks(world)
    return world


def promote(world, **options) -> Run:
    return execute(
        Run.launch(
            Run.Type.PROMOTE, world.shop, by=world.editor, target=world.target, options=options
        )
    )


def upload(client: Client, container, text: str | bytes, name: str = "records.csv"):
    data = text.encode() if isinstance(text, str) else text
    file = io.BytesIO(data)
    file.name = name
    return client.post(
        f"/activity/containers/{container.pk}/external-scan/", {"file": file}, follow=True
    )


def csv_of(rows: list[tuple]) -> str:
    lines = ["id,email,country,age,signup"]
    lines += [",".join("" if v is None else str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def purge_now() -> int:
    """What a worker does once the undo window has passed: deleted runs go for good."""
    from activity.retention import purge_deleted

    later = timezone.now() + timedelta(seconds=settings.RUNBOARD["UNDO_SECONDS"] + 1)
    return purge_deleted(now=later)
