"""The Activity list: filters in the URL, search, sorts, keyset pages, the heatmap, live updates,
and a constant number of queries whatever the page or run size."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Team, User
from activity.models import Run, RunLog
from tests.base import make_run


@pytest.fixture
def editor(world) -> Client:
    client = Client()
    client.force_login(world.persona("editor"))
    return client


def ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tbody id="run-(\d+)"', response.content.decode())]


def test_newest_first_and_only_what_the_user_may_see(world, editor):
    mine = [make_run(world.shop, status="success") for _ in range(3)]
    make_run(world.other, status="success")
    assert ids(editor.get("/activity/")) == [run.pk for run in reversed(mine)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=profile", ["profile"]),
        ("status=failure", ["failure"]),
        ("has_logs=on", ["logs"]),
        ("q=%23{pk}", ["target"]),
    ],
)
def test_filters_narrow_the_list(world, editor, query, expected):
    runs = {
        "profile": make_run(world.shop, type="profile", status="success"),
        "failure": make_run(world.shop, status="failure"),
        "logs": make_run(world.shop, status="success", has_logs=True),
        "target": make_run(world.shop, status="success"),
    }
    response = editor.get(f"/activity/?{query.format(pk=runs['target'].pk)}")
    assert response.status_code == 200
    assert ids(response) == [runs[name].pk for name in expected]


def test_filter_by_datastore_triggered_by_and_date_range(world, editor):
    old = make_run(
        world.shop, status="success", by=world.admin, created_at=timezone.now() - timedelta(days=40)
    )
    mine = make_run(world.target, status="success", by=world.editor)
    assert ids(editor.get(f"/activity/?datastore={world.target.pk}")) == [mine.pk]
    assert ids(editor.get(f"/activity/?triggered_by={world.admin.pk}")) == [old.pk]
    day = old.created_at.date().isoformat()
    assert ids(editor.get(f"/activity/?created_from={day}&created_to={day}")) == [old.pk]


def test_one_datastores_activity(world, editor):
    make_run(world.shop, status="success")
    target = make_run(world.target, status="success")
    response = editor.get(f"/activity/datastores/{world.target.pk}/")
    assert ids(response) == [target.pk]
    assert b"Activity \xc2\xb7 shop-staging" in response.content
    assert editor.get(f"/activity/datastores/{world.other.pk}/").status_code == 404


def test_sort_by_duration(world, editor):
    runs = [
        make_run(world.shop, status="success", duration=timedelta(seconds=s)) for s in (30, 10, 20)
    ]
    make_run(world.shop, status="running")  # no duration yet: not in a duration sort
    assert ids(editor.get("/activity/?sort=longest")) == [runs[0].pk, runs[2].pk, runs[1].pk]
    assert ids(editor.get("/activity/?sort=shortest")) == [runs[1].pk, runs[2].pk, runs[0].pk]


def test_pages_follow_their_links(world, editor, settings):
    runs = [make_run(world.shop, status="success").pk for _ in range(60)][::-1]
    page = editor.get("/activity/").content.decode()
    assert ids_in(page) == runs[:50]
    older = re.search(r'href="\?([^"]*after=\d+)"', page).group(1).replace("&amp;", "&")
    page2 = editor.get(f"/activity/?{older}").content.decode()
    assert ids_in(page2) == runs[50:]
    assert 'aria-disabled="true">Older' in page2
    newer = re.search(r'href="\?([^"]*before=\d+)"', page2).group(1).replace("&amp;", "&")
    assert ids_in(editor.get(f"/activity/?{newer}").content.decode()) == runs[:50]


def ids_in(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tbody id="run-(\d+)"', html)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=abc", "Search by run id"),
        ("type=nope", "Select a valid choice"),
        ("created_from=2026-13-45", "Enter a valid date"),
        ("created_from=2026-05-02&created_to=2026-05-01", "ends before it starts"),
        ("after=12x", "page link is malformed"),
        ("size=7", "Select a valid choice"),
        ("datastore=abc", "Select a valid choice"),
    ],
)
def test_a_malformed_query_string_is_a_400_with_a_message(world, editor, query, message):
    response = editor.get(f"/activity/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_filter_change_over_htmx_renders_only_the_results(world, editor):
    run = make_run(world.shop, type="profile", status="success")
    response = editor.get(
        "/activity/?type=profile", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="results">')
    assert f'<tbody id="run-{run.pk}"' in html and "<html" not in html


def test_the_tabs_count_live_runs(world, editor):
    make_run(world.shop, status="queued")
    make_run(world.shop, status="running")
    make_run(world.shop, status="running")
    html = editor.get("/activity/").content.decode()
    assert re.search(r"Queued <span class=\"count\">1</span>", html)
    assert re.search(r"Running <span class=\"count\">2</span>", html)


def test_the_heatmap_counts_runs_per_day_and_filters_by_day(world, editor):
    make_run(world.shop, status="success")
    make_run(world.shop, status="success")
    html = editor.get("/activity/").content.decode()
    today = timezone.now().date().isoformat()
    assert f'href="?day={today}" title="2 runs on ' in html
    old = make_run(world.shop, status="success", created_at=timezone.now() - timedelta(days=3))
    day = old.created_at.date().isoformat()
    assert ids(editor.get(f"/activity/?day={day}")) == [old.pk]
    html = editor.get(f"/activity/?day={day}").content.decode()
    assert f'class="l1 selected" href="?day={day}"' in html
    assert f'name="created_from" value="{day}"' in html


def test_the_kpis_cover_the_last_seven_days(world, editor):
    make_run(world.shop, status="success", counters={"records_scanned": 1500})
    make_run(world.shop, status="failure")
    make_run(world.shop, status="success", created_at=timezone.now() - timedelta(days=9))
    html = editor.get("/activity/").content.decode()
    assert re.search(r"Runs · 7 days</dt><dd>2<", html)
    assert re.search(r"Success rate</dt><dd>50.0<small>%", html)
    assert re.search(r"Records scanned</dt><dd>1,500<", html)


# Live updates -----------------------------------------------------------------------------------


def test_no_polling_when_nothing_on_the_page_is_live(world, editor):
    make_run(world.shop, status="success")
    html = editor.get("/activity/").content.decode()
    assert 'id="live"' in html and "every 2s" not in html


def test_one_poll_for_all_live_rows(world, editor):
    runs = [make_run(world.shop, status="running") for _ in range(3)]
    html = editor.get("/activity/").content.decode()
    assert html.count('hx-trigger="every 2s"') == 1
    for run in runs:
        assert f'form="live" name="run" value="{run.pk}:running"' in html


def test_the_live_request_updates_rows_and_stops_once_all_are_terminal(world, editor):
    running, done = make_run(world.shop, status="running"), make_run(world.shop, status="running")
    Run.objects.filter(pk=done.pk).update(status="success")
    response = editor.get(f"/activity/live/?run={running.pk}:running&run={done.pk}:running")
    html = response.content.decode()
    # still running: only the cells that move; finished: the whole row, with its new actions
    cell = f'hx-swap-oob="outerHTML:#run-{running.pk} > .run-row > '
    assert f'<td {cell}.progress" class="progress live">' in html
    assert f'<td {cell}.num" class="num">running for ' in html
    assert f'#run-{running.pk} > .run-row"' not in html
    assert f'<tr class="run-row" hx-swap-oob="outerHTML:#run-{done.pk} > .run-row">' in html
    assert f'formaction="{done.url}rerun/"' in html
    assert "every 2s" in html  # one still live
    assert f"Run #{done.pk} Scan: Success." in html  # announced to screen readers

    Run.objects.filter(pk=running.pk).update(status="aborted")
    html = editor.get(f"/activity/live/?run={running.pk}:running").content.decode()
    assert "every 2s" not in html  # the poller comes back without its trigger


def test_the_live_request_appends_only_new_log_entries_to_open_rows(world, editor):
    run = make_run(world.shop, status="running")
    old = run.log("an old line")
    run.log("a new line")
    html = editor.get(
        f"/activity/live/?run={run.pk}:running&open={run.pk}:{old.pk}"
    ).content.decode()
    assert f'hx-swap-oob="beforeend:#run-{run.pk}-log"' in html
    assert "a new line" in html and "an old line" not in html
    assert f'#run-{run.pk} > .run-row"' not in html  # the row stays, and the focus in it
    last = RunLog.objects.filter(run=run).latest("id").pk
    assert f'name="open" value="{run.pk}:{last}" hx-swap-oob="true"' in html


def test_the_live_request_only_covers_visible_runs_and_refuses_garbage(world, editor):
    hidden = make_run(world.other, status="running")
    assert (
        f"run-{hidden.pk}"
        not in editor.get(f"/activity/live/?run={hidden.pk}:running").content.decode()
    )
    assert editor.get("/activity/live/?run=abc").status_code == 400


# Constant query counts ------------------------------------------------------------------------


def count_queries(client, url, django_assert_max_num_queries, limit, **headers):
    with django_assert_max_num_queries(limit):
        assert client.get(url, **headers).status_code == 200


# The session, its user, the user's teams (levels, badge, the datastores of the filter), the page
# of runs, the live counts with the queue places; and the KPIs and heatmap once per 30 seconds.
LIST_QUERIES = 5
FIGURES_QUERIES = 2


@pytest.mark.parametrize("runs", [2, 50])
def test_the_list_page_costs_the_same_queries_for_any_page_size(
    world, editor, django_assert_max_num_queries, runs
):
    for i in range(runs):
        make_run(
            world.shop, status=["queued", "running", "failure", "success"][i % 4], by=world.editor
        )
    limit = LIST_QUERIES + FIGURES_QUERIES
    count_queries(editor, "/activity/", django_assert_max_num_queries, limit)
    count_queries(editor, "/activity/", django_assert_max_num_queries, LIST_QUERIES)


def test_the_list_page_costs_the_same_queries_however_many_people_could_launch(
    world, editor, django_assert_max_num_queries
):
    make_run(world.shop, status="success", by=world.editor)
    editor.get("/activity/")  # the figures above the list are cached from here on
    with django_assert_max_num_queries(LIST_QUERIES):
        editor.get("/activity/")
    team = Team.objects.filter(members=world.editor).first()
    team.members.add(*(User.objects.create_user(f"member{i}") for i in range(30)))
    count_queries(editor, "/activity/", django_assert_max_num_queries, LIST_QUERIES)
    assert "member29" not in editor.get("/activity/").content.decode()


def test_filter_by_who_triggered_a_run_typing_their_name(world, editor):
    mine = make_run(world.shop, status="success", by=world.editor)
    make_run(world.shop, status="success", by=world.admin)
    assert ids(editor.get("/activity/?by=editor")) == [mine.pk]
    assert ids(editor.get("/activity/?by=nobody")) == []
    page = editor.get("/activity/?by=editor").content.decode()
    assert 'name="by" value="editor"' in page


# The session, its user, their levels, the run; its log's tail (and how long it is), its first
# containers, their statuses, its timeline, its anomalies.
DETAIL_QUERIES = 9


@pytest.mark.parametrize(("units", "lines"), [(2, 3), (300, 600)])
def test_the_expanded_row_costs_the_same_queries_for_any_run_size(
    world, editor, django_assert_max_num_queries, units, lines
):
    run = make_run(world.shop, status="failure", units={f"t{i}": "success" for i in range(units)})
    unit_ids = list(run.units.values_list("pk", flat=True))
    RunLog.objects.bulk_create(
        RunLog(run=run, unit_id=unit_ids[i % units] if i % 2 else None, message=f"line {i}")
        for i in range(lines)
    )
    count_queries(
        editor,
        f"/activity/runs/{run.pk}/",
        django_assert_max_num_queries,
        DETAIL_QUERIES,
        HTTP_HX_REQUEST="true",
    )


@pytest.mark.parametrize("live", [1, 25])
def test_the_live_request_costs_the_same_queries_for_any_number_of_rows(
    world, editor, django_assert_max_num_queries, live
):
    runs = [
        make_run(world.shop, status="running", units={f"t{i}": "running" for i in range(5)})
        for _ in range(live)
    ]
    query = "&".join(f"run={run.pk}:running" for run in runs)
    count_queries(editor, f"/activity/live/?{query}", django_assert_max_num_queries, LIVE_QUERIES)


# The session, its user, their levels, the runs; for the open rows: their new log entries, their
# first containers, the containers' statuses, the timelines, the anomalies.
LIVE_QUERIES = 4
OPEN_ROWS_QUERIES = 5


@pytest.mark.parametrize("open_rows", [1, 10])
def test_the_live_request_costs_the_same_queries_for_any_number_of_open_rows(
    world, editor, django_assert_max_num_queries, open_rows
):
    runs = [
        make_run(world.shop, status="running", units={f"t{i}": "running" for i in range(5)})
        for _ in range(open_rows)
    ]
    seen = {run.pk: run.log("seen already").pk for run in runs}
    for run in runs:
        run.log(f"new in #{run.pk}", "warning")
        run.log(f"in a table of #{run.pk}", unit=run.units.first())
    query = "&".join(f"run={run.pk}:running&open={run.pk}:{seen[run.pk]}" for run in runs)
    with django_assert_max_num_queries(LIVE_QUERIES + OPEN_ROWS_QUERIES):
        html = editor.get(f"/activity/live/?{query}").content.decode()
    for run in runs:
        assert f'hx-swap-oob="beforeend:#run-{run.pk}-log"' in html
        assert f"new in #{run.pk}" in html and f"in a table of #{run.pk}" in html
    assert "seen already" not in html


def test_queued_runs_show_their_place_among_the_queued_runs_the_user_may_see(world, editor, client):
    make_run(world.other, status="queued")  # another team's run waits ahead of ours
    first, second = make_run(world.shop, status="queued"), make_run(world.shop, status="queued")

    def places(html: str) -> list[str]:
        rows = [html[html.index(f'<tbody id="run-{run.pk}"') :] for run in (first, second)]
        cells = [row[row.index('class="result') :] for row in rows]
        return [cell[: cell.index("</td>")].split(">")[-1].strip() for cell in cells]

    # The editor cannot know how busy the warehouse team is: only what they see counts.
    assert places(editor.get("/activity/").content.decode()) == ["1st in queue", "2nd in queue"]
    client.force_login(world.admin)  # who sees every datastore counts every queued run
    assert places(client.get("/activity/").content.decode()) == ["2nd in queue", "3rd in queue"]
