"""Load the demo: users for every persona, their teams, the demo shop datastore and real runs.

Idempotent: a second call keeps what exists (and resets the demo passwords).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Level, Team, User
from activity import engine
from activity.models import Run
from catalog.demo_shop import build_shop
from catalog.models import Check, Datastore
from schedules.models import Schedule

PASSWORD = "runboard-demo"

# username, role, team, what they stand for (SPEC §1)
PEOPLE = [
    ("admin", User.Role.ADMIN, None, "Admin: everything, and the Django admin"),
    ("maria", User.Role.MEMBER, "Data platform", "Editor: launches and acts on runs"),
    ("alex", User.Role.MEMBER, "Analytics engineering", "Author: reads activity and logs"),
    ("dana", User.Role.MANAGER, "Data stewards", "Drafter; manager: manages teams"),
    ("victor", User.Role.MEMBER, "Business intelligence", "Viewer: reads activity and logs"),
    ("rita", User.Role.MEMBER, "Finance reporting", "Reporter: reads activity and logs"),
    ("olga", User.Role.MEMBER, None, "Outsider: in no team, sees no datastore"),
]

TEAMS = {
    "Data platform": (Level.EDITOR, "Owns the shop pipelines and runs its operations."),
    "Analytics engineering": (Level.AUTHOR, "Writes the models on top of the shop data."),
    "Data stewards": (Level.DRAFTER, "Drafts quality checks for review."),
    "Business intelligence": (Level.VIEWER, "Builds the dashboards; reads the activity."),
    "Finance reporting": (Level.REPORTER, "Receives the quality reports."),
}

# Checks written by people for the problems planted in the shop (profile infers the others).
AUTHORED = [
    ("customers", "email", Check.Rule.NOT_NULL, {}),
    ("customers", "email", Check.Rule.UNIQUE, {}),
    ("products", "sku", Check.Rule.UNIQUE, {}),
    ("orders", "order_date", Check.Rule.NOT_FUTURE, {}),
    (
        "orders",
        "status",
        Check.Rule.IN_SET,
        {"values": ["pending", "paid", "shipped", "delivered", "cancelled"]},
    ),
    ("orders", "customer_id", Check.Rule.REFERENCES, {"container": "customers", "field": "id"}),
    ("order_items", "product_id", Check.Rule.REFERENCES, {"container": "products", "field": "id"}),
    ("order_items", "unit_price", Check.Rule.BETWEEN, {"min": 0}),
    ("payments", "amount", Check.Rule.BETWEEN, {"min": 0}),
    ("payments", "method", Check.Rule.IN_SET, {"values": ["card", "paypal", "transfer"]}),
    ("reviews", "rating", Check.Rule.BETWEEN, {"min": 1, "max": 5}),
    ("addresses", "postcode", Check.Rule.MATCHES, {"pattern": "^[0-9]{5}$"}),
]


class Command(BaseCommand):
    help = "Load the demo users, teams and shop datastore, and run Sync, Profile and Scan on it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scale", type=float, default=1.0, help="Size of the demo shop.")
        parser.add_argument(
            "--no-runs", action="store_true", help="Skip the first Sync, Profile and Scan."
        )

    def handle(self, *args, scale: float, no_runs: bool, **options) -> None:
        shop, staging = self.datastores(scale)
        people = self.people(shop, staging)
        if not no_runs:
            if not shop.runs.exists():
                self.first_runs(shop, staging, people["admin"])
            self.schedules(shop, people["maria"])
        self.stdout.write(self.style.SUCCESS("Demo ready. Log in at http://127.0.0.1:8000/ as:"))
        for username, _, _, what in PEOPLE:
            self.stdout.write(f"  {username:<8} password {PASSWORD:<15} {what}")

    def datastores(self, scale: float) -> tuple[Datastore, Datastore]:
        folder = settings.RUNBOARD["DEMO_DIR"]
        path, staging_path = folder / "shop.sqlite3", folder / "staging.sqlite3"
        if not path.exists():
            self.stdout.write(f"Building the demo shop database in {path} …")
            build_shop(path, scale=scale)
        if not staging_path.exists():
            build_shop(staging_path, scale=scale / 10, seed=11, variant="staging")
        enrichment, _ = Datastore.objects.get_or_create(
            name="shop-enrichment",
            defaults={"connection_url": f"sqlite:///{folder / 'enrichment.sqlite3'}"},
        )
        shop, _ = Datastore.objects.get_or_create(
            name="shop",
            defaults={
                "connection_url": f"sqlite:///{path}",
                "enrichment": enrichment,
                "enrichment_prefix": "shop",
            },
        )
        # A smaller copy of the shop, with a few differences, to promote checks to.
        staging, _ = Datastore.objects.get_or_create(
            name="shop-staging", defaults={"connection_url": f"sqlite:///{staging_path}"}
        )
        return shop, staging

    @transaction.atomic
    def people(self, shop: Datastore, staging: Datastore) -> dict[str, User]:
        teams = {}
        for name, (level, description) in TEAMS.items():
            team, _ = Team.objects.get_or_create(
                name=name, defaults={"level": level, "description": description}
            )
            team.datastores.add(shop, staging)
            teams[name] = team
        people = {}
        for username, role, team, _ in PEOPLE:
            user, _ = User.objects.get_or_create(
                username=username, defaults={"role": role, "email": f"{username}@runboard.test"}
            )
            user.set_password(PASSWORD)
            user.save()
            if team:
                teams[team].members.add(user)
            people[username] = user
        return people

    def schedules(self, shop: Datastore, owner: User) -> None:
        """A Scan every 5 minutes and a nightly Profile: leave `make run` open and the Activity
        fills up by itself."""
        for name, type, expression in [
            ("Scan every 5 minutes", Run.Type.SCAN, "*/5 * * * *"),
            ("Nightly profile", Run.Type.PROFILE, "0 2 * * *"),
        ]:
            if not Schedule.objects.filter(datastore=shop, name=name).exists():
                Schedule().configure(
                    by=owner,
                    name=name,
                    type=type,
                    datastore=shop,
                    target=None,
                    options={},
                    cron_expression=expression,
                    active=True,
                )

    def first_runs(self, shop: Datastore, staging: Datastore, admin: User) -> None:
        """Sync and Profile run here, for real, so the catalog exists; the Scan is queued for the
        worker that `make run` starts, so the first page shows a live run."""
        self.stdout.write("Syncing and profiling the demo shop …")
        catalog(shop, admin)
        engine.execute(Run.launch(Run.Type.SYNC, staging, by=admin).pk)
        Run.launch(Run.Type.SCAN, shop, by=admin, options={"auto_resolve": True})


def catalog(shop: Datastore, by: User) -> None:
    """A real Sync, the checks people wrote for the planted problems, then a real Profile."""
    engine.execute(Run.launch(Run.Type.SYNC, shop, by=by, options={"prune": True}).pk)
    for container_name, field_name, rule, params in AUTHORED:
        container = shop.containers.get(name=container_name)
        Check.objects.get_or_create(
            container=container,
            field=container.fields.get(name=field_name),
            rule=rule,
            inferred=False,
            defaults={"params": params, "description": "Written by the data platform team"},
        )
    engine.execute(Run.launch(Run.Type.PROFILE, shop, by=by).pk)
