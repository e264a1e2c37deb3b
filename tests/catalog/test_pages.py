"""The catalog pages for every persona: who sees the shop's datastore, containers, checks and
anomalies at all, and who sees where its database lives (never with its credentials)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Level, Team
from catalog.models import Anomaly, Check, Container, Datastore, Field
from tests.base import ACTORS, PERSONAS, SEERS, client_for

SHOP_URL = (
    "postgresql://shop_owner:Sh0pPassw0rd@db.internal:5432/shop"
    "?sslpassword=SslS3cret&access_token=T0kenValue"
)
ENRICHMENT_URL = "postgresql://enricher@enrich.internal:5432/enrichment?password=Enr1chS3cret"
SECRETS = ["Sh0pPassw0rd", "SslS3cret", "T0kenValue", "Enr1chS3cret"]
OUTSIDERS = sorted(set(PERSONAS) - SEERS)  # outsider, other_editor (an editor of warehouse)
BELOW_EDITOR = sorted(SEERS - ACTORS)

LISTS = ["datastore-list", "container-list", "check-list", "anomaly-list"]
DETAILS = ["datastore-detail", "container-detail", "check-detail", "anomaly-detail"]


@dataclass
class Catalog:
    """The shop's catalog: one of each object, named so that its page can be recognised."""

    datastore: Datastore
    container: Container
    check: Check
    anomaly: Anomaly

    def detail(self, page: str) -> str:
        return getattr(self, page.removesuffix("-detail")).get_absolute_url()

    # What each list shows of the shop's object: its name and a link to its page.
    def marks(self, page: str) -> list[str]:
        detail = self.detail(page.replace("-list", "-detail"))
        name = {
            "datastore-list": "<strong>shop</strong>",
            "container-list": "loyalty_members",
            "check-list": "member_email",
            "anomaly-list": "Loyalty members without an email",
        }[page]
        return [f'href="{detail}"', name]


@pytest.fixture
def catalog(world) -> Catalog:
    Datastore.objects.filter(pk=world.shop.pk).update(connection_url=SHOP_URL)
    Datastore.objects.filter(pk=world.shop.enrichment_id).update(connection_url=ENRICHMENT_URL)
    container = Container.objects.create(datastore=world.shop, name="loyalty_members")
    field = Field.objects.create(container=container, name="member_email", type="TEXT")
    check = Check.objects.create(container=container, field=field, rule=Check.Rule.NOT_NULL)
    anomaly = Anomaly.objects.create(
        container=container,
        quality_check=check,
        run_number=7,
        description="Loyalty members without an email",
        failed_count=3,
    )
    return Catalog(world.shop, container, check, anomaly)


@pytest.fixture
def visit(world):
    """GET a page as a persona: its status code and its HTML."""

    def get(persona: str, url: str) -> tuple[int, str]:
        response = client_for(world, persona).get(url)
        return response.status_code, response.content.decode()

    return get


@pytest.mark.parametrize("page", DETAILS)
@pytest.mark.parametrize("persona", sorted(SEERS))
def test_everyone_with_a_level_on_the_shop_opens_its_catalog_pages(visit, catalog, persona, page):
    status, _ = visit(persona, catalog.detail(page))
    assert status == 200


@pytest.mark.parametrize("page", LISTS)
@pytest.mark.parametrize("persona", sorted(SEERS))
def test_everyone_with_a_level_on_the_shop_finds_it_in_the_lists(visit, catalog, persona, page):
    status, html = visit(persona, reverse(f"catalog:{page}"))
    assert status == 200
    for mark in catalog.marks(page):
        assert mark in html


@pytest.mark.parametrize("page", DETAILS)
@pytest.mark.parametrize("persona", OUTSIDERS)
def test_people_without_a_level_on_the_shop_get_404_on_its_pages(visit, catalog, persona, page):
    status, html = visit(persona, catalog.detail(page))
    assert status == 404
    assert "loyalty_members" not in html


@pytest.mark.parametrize("page", LISTS)
@pytest.mark.parametrize("persona", OUTSIDERS)
def test_people_without_a_level_on_the_shop_see_nothing_of_it_in_lists(
    visit, catalog, persona, page
):
    status, html = visit(persona, reverse(f"catalog:{page}"))
    assert status == 200
    for mark in catalog.marks(page):
        assert mark not in html


@pytest.mark.parametrize("page", LISTS + DETAILS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_no_catalog_page_shows_a_credential_to_anyone(visit, catalog, persona, page):
    url = catalog.detail(page) if page in DETAILS else reverse(f"catalog:{page}")
    _, html = visit(persona, url)
    for secret in SECRETS:
        assert secret not in html


@pytest.mark.parametrize("page", ["datastore-list", "datastore-detail"])
@pytest.mark.parametrize("persona", sorted(ACTORS))
def test_editors_and_admins_see_the_connection_redacted(visit, catalog, persona, page):
    url = catalog.detail(page) if page == "datastore-detail" else reverse(f"catalog:{page}")
    _, html = visit(persona, url)
    assert "Connection" in html
    assert "postgresql://shop_owner:•••@db.internal:5432/shop" in html


@pytest.mark.parametrize("page", ["datastore-list", "datastore-detail"])
@pytest.mark.parametrize("persona", BELOW_EDITOR + OUTSIDERS)
def test_no_one_below_editor_sees_where_the_shop_lives(visit, catalog, persona, page):
    url = catalog.detail(page) if page == "datastore-detail" else reverse(f"catalog:{page}")
    _, html = visit(persona, url)
    assert "db.internal" not in html
    assert "enrich.internal" not in html
    if persona in BELOW_EDITOR:
        assert "Connection" not in html


def test_the_enrichment_connection_is_only_for_editors_of_the_enrichment_datastore(
    visit, catalog, world
):
    page = catalog.detail("datastore-detail")
    shown = "postgresql://enricher@enrich.internal:5432/enrichment?password=•••"
    for admin in ("admin", "superuser"):
        assert shown in visit(admin, page)[1]
    # An editor of the shop, even a viewer of its enrichment datastore, is not one of its editors.
    viewers = Team.objects.create(name="enrichment viewers", level=Level.VIEWER)
    viewers.members.add(world.editor)
    viewers.datastores.add(world.shop.enrichment)
    _, html = visit("editor", page)
    assert "shop-enrichment" in html
    assert "enrich.internal" not in html

    editors = Team.objects.create(name="enrichment editors", level=Level.EDITOR)
    editors.members.add(world.editor, world.viewer)
    editors.datastores.add(world.shop.enrichment)
    assert shown in visit("editor", page)[1]
    # Editing the enrichment datastore does not make the viewer an editor of the shop.
    _, html = visit("viewer", page)
    assert shown in html
    assert "db.internal" not in html


@pytest.mark.parametrize("persona", ["admin", "superuser"])
def test_the_admin_lists_datastores_without_their_credentials(visit, catalog, persona):
    status, html = visit(persona, "/admin/catalog/datastore/")
    assert status == 200
    assert "postgresql://shop_owner:•••@db.internal:5432/shop" in html
    for secret in SECRETS:
        assert secret not in html


def test_the_datastore_page_counts_each_containers_fields_checks_and_open_anomalies(
    world, catalog, django_assert_max_num_queries
):
    container = catalog.container
    fields = [
        Field.objects.create(container=container, name=f"f{i}", type="TEXT") for i in range(3)
    ]
    Field.objects.filter(pk=fields[0].pk).update(removed_at=timezone.now())
    checks = [
        Check.objects.create(container=container, field=field, rule=Check.Rule.NOT_NULL)
        for field in fields
    ]
    Check.objects.filter(pk=checks[0].pk).update(status=Check.Status.DRAFT)
    # One open anomaly per check at most: the second three belong to no check.
    statuses = ["active", "acknowledged", "resolved"] * 2
    for check, status in zip([*checks, None, None, None], statuses, strict=True):
        Anomaly.objects.create(
            container=container, quality_check=check, run_number=9, failed_count=1, status=status
        )
    # member_email and two of f0-f2; the first check and two of three; 1 + 4 of 7 anomalies
    viewer = client_for(world, "viewer")
    # session, user, levels, the datastore, the badge of the header, the containers and counts
    with django_assert_max_num_queries(6):
        html = viewer.get(catalog.detail("datastore-detail")).content.decode()
    row = html[html.index(">loyalty_members</a>") :]
    assert '<td class="num">3</td><td class="num">3</td>' in row[: row.index("</tr>")]
    assert f'?container={container.pk}&amp;status=open">5</a>' in row


def test_saving_a_datastore_that_does_not_answer_warns_and_still_saves(world, settings, tmp_path):
    from tests.base import client_for

    folder = settings.RUNBOARD["SQLITE_DIRS"][0]
    response = client_for(world, "superuser").post(
        "/admin/catalog/datastore/add/",
        {
            "name": "later",
            "connection_url": f"sqlite:///{folder}/not-there-yet.db",
            "enrichment_prefix": "rb",
        },
        follow=True,
    )
    assert "cannot connect to later now" in response.content.decode()
    assert Datastore.objects.filter(name="later").exists()


def test_a_datastore_with_runs_is_deleted_after_saying_what_happens_to_them(world):
    from activity.models import DeletedRun, Run
    from tests.base import client_for, make_run

    run = make_run(world.other, status="success")
    admin = client_for(world, "superuser")
    page = admin.get(f"/admin/catalog/datastore/{world.other.pk}/delete/").content.decode()
    assert "1 run(s) on or into it" in page and "audit record" in page
    assert "Cannot delete" not in page
    admin.post(f"/admin/catalog/datastore/{world.other.pk}/delete/", {"post": "yes"})
    assert not Datastore.objects.filter(pk=world.other.pk).exists()
    assert not Run.objects.filter(pk=run.pk).exists()
    assert DeletedRun.objects.get(run_number=run.pk).deleted_by_name.endswith("(datastore deleted)")
