"""The Activity page against a big history, next to its own SQL and to Django's floor.

Seeds (once) 200,000 runs, 2,000,000 container rows and 5,000,000 log lines into a PostgreSQL
database, 2,000 people who could launch and a catalog of 100 containers with their fields,
checks and anomalies; then prints the median server time of each request through the full
middleware stack (Django's test client), the time of the very SQL statements that request ran,
executed bare, and the floor: a view of no logic that renders the same number of plain rows from
one indexed query. Last, each target of PERFORMANCE.md beside its figure, met or not.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/runboard_bench .venv/bin/python bench/activity.py
"""

from __future__ import annotations

import re
import statistics
import time

from common import ROOT, median_ms, row, setup

setup("postgresql://postgres@127.0.0.1:5432/runboard_bench")

from django.db import connection  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.template import engines  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402

from accounts.models import Level, Team, User  # noqa: E402
from activity.models import Run, RunDay, RunLog  # noqa: E402
from catalog.models import Datastore  # noqa: E402

RUNS, UNITS_PER_RUN, LOGS_PER_RUN, BIG_RUN_UNITS, LIVE = 200_000, 10, 25, 1_000, 25


def seed() -> None:
    if RunDay.objects.exists():  # written last: the history is complete
        return
    started = time.monotonic()
    print(
        f"Seeding {RUNS:,} runs, {RUNS * UNITS_PER_RUN:,} containers, {RUNS * LOGS_PER_RUN:,} log lines…"
    )
    stores = [
        Datastore.objects.get_or_create(
            name=f"store-{i}", defaults={"connection_url": "sqlite:////nowhere.db"}
        )[0]
        for i in range(6)
    ]
    editor = User.objects.filter(username="bench-editor").first() or User.objects.create_user(
        "bench-editor", password="x"
    )
    team, _ = Team.objects.get_or_create(name="bench", defaults={"level": Level.EDITOR})
    team.members.add(editor)
    team.datastores.add(*stores)
    ids = [s.pk for s in stores]
    with connection.cursor() as c:
        c.execute(
            "TRUNCATE activity_run, activity_runcontainer, activity_runlog, activity_runevent, activity_runday RESTART IDENTITY CASCADE"
        )
        # One run every ~78 s over 26 weeks, newest last; the last 25 are live.
        c.execute(
            f"""
            INSERT INTO activity_run (id, type, status, datastore_id, target_id, options, triggered_by_id, trigger,
                trigger_label, request_key, created_at, started_at, finished_at, duration, heartbeat_at,
                abort_requested_at, aborted_by_id, parent_id, link, message, detail, has_logs, counters,
                containers_total, containers_done, containers_succeeded, task_id, requeues)
            SELECT i,
                (ARRAY['sync','profile','scan','scan','scan','export','materialize','promote','external_scan'])[1 + i % 9],
                CASE WHEN i > {RUNS - LIVE} THEN 'running' WHEN i % 33 = 0 THEN 'failure' WHEN i % 51 = 0 THEN 'aborted' ELSE 'success' END,
                (ARRAY{ids})[1 + i % 6],
                CASE WHEN i % 9 = 7 THEN (ARRAY{ids})[1 + (i + 1) % 6] END,
                '{{"containers": []}}'::jsonb, {editor.pk}, 'manual', '', NULL,
                now() - interval '182 days' + i * interval '78 seconds',
                now() - interval '182 days' + i * interval '78 seconds' + interval '2 seconds',
                CASE WHEN i <= {RUNS - LIVE} THEN now() - interval '182 days' + i * interval '78 seconds' + (30 + i % 600) * interval '1 second' END,
                CASE WHEN i <= {RUNS - LIVE} THEN (28 + i % 600) * interval '1 second' END,
                CASE WHEN i > {RUNS - LIVE} THEN now() END,
                NULL, NULL, NULL, '', '', CASE WHEN i % 33 = 0 THEN 'source datastore unreachable' ELSE '' END,
                i % 10 = 0,
                jsonb_build_object('containers_scanned', {UNITS_PER_RUN}, 'records_scanned', i % 100000, 'anomalies_identified', i % 17),
                {UNITS_PER_RUN}, CASE WHEN i > {RUNS - LIVE} THEN i % {UNITS_PER_RUN} ELSE {UNITS_PER_RUN} END,
                CASE WHEN i > {RUNS - LIVE} THEN i % {UNITS_PER_RUN} WHEN i % 33 = 0 THEN 7 ELSE {UNITS_PER_RUN} END,
                '', 0
            FROM generate_series(1, {RUNS}) AS i
            """
        )
        c.execute(
            f"""
            INSERT INTO activity_runcontainer (run_id, container_id, name, position, status, started_at, finished_at,
                heartbeat_at, worker, losses, counters, result, error)
            SELECT r.id, NULL, 'table_' || p, p,
                CASE WHEN p < r.containers_succeeded THEN 'success' WHEN r.status = 'running' AND p = r.containers_succeeded THEN 'running'
                     WHEN r.status = 'failure' AND p = 7 THEN 'failure' ELSE 'pending' END,
                r.started_at, r.finished_at, NULL, 'bench:1', 0,
                jsonb_build_object('records_scanned', 1000 + p, 'anomalies_identified', p % 3), '{{}}'::jsonb, ''
            FROM activity_run r CROSS JOIN generate_series(0, {UNITS_PER_RUN - 1}) AS p
            """
        )
        c.execute(
            f"""
            INSERT INTO activity_runlog (run_id, unit_id, at, level, message)
            SELECT r.id, NULL, r.created_at + l * interval '1 second',
                CASE WHEN l % 11 = 0 THEN 'warning' ELSE 'info' END,
                'step ' || l || ' of run ' || r.id || ': processed a batch of records from the source'
            FROM activity_run r CROSS JOIN generate_series(1, {LOGS_PER_RUN}) AS l
            """
        )
        c.execute(
            """
            INSERT INTO activity_runevent (run_id, at, kind, actor_id, actor_name, related_run_number, note)
            SELECT id, created_at, 'created', triggered_by_id, 'bench-editor', NULL::bigint, '' FROM activity_run
            UNION ALL SELECT id, started_at, 'started', NULL::bigint, '', NULL::bigint, 'bench:1' FROM activity_run
            UNION ALL SELECT id, finished_at, 'finished', NULL::bigint, '', NULL::bigint, status FROM activity_run
            WHERE finished_at IS NOT NULL
            """
        )
        c.execute(
            "SELECT setval(pg_get_serial_sequence('activity_run', 'id'), (SELECT MAX(id) FROM activity_run))"
        )
        # One run with 1,000 containers, for the expanded row.
        c.execute(
            f"""
            INSERT INTO activity_runcontainer (run_id, container_id, name, position, status, started_at, finished_at,
                heartbeat_at, worker, losses, counters, result, error)
            SELECT {RUNS // 2}, NULL, 'big_table_' || p, {UNITS_PER_RUN} + p, 'success', now(), now(), NULL, 'bench:1', 0,
                '{{"records_scanned": 5000}}'::jsonb, '{{}}'::jsonb, ''
            FROM generate_series(1, {BIG_RUN_UNITS - UNITS_PER_RUN}) AS p
            """
        )
        c.execute(
            f"UPDATE activity_run SET containers_total = {BIG_RUN_UNITS} WHERE id = {RUNS // 2}"
        )
        c.execute(
            """
            INSERT INTO activity_runday (datastore_id, day, runs)
            SELECT datastore_id, created_at::date, COUNT(*) FROM activity_run GROUP BY 1, 2
            """
        )
        c.execute("ANALYZE")
    print(f"  seeded in {time.monotonic() - started:.0f} s")


# Costs that grew with the data, each at a size where it shows.
PEOPLE, CONTAINERS, FIELDS, CHECKS, ANOMALIES, OPEN = 2_000, 100, 20, 10, 20, 5


def seed_extras() -> None:
    """2,000 people who could launch (the Triggered-by filter listed them all), and a datastore of
    100 containers x 20 fields x 10 checks x 20 anomalies (its page joined all three)."""
    team = Team.objects.get(name="bench")
    if not team.members.filter(username="bench-person-0").exists():
        people = User.objects.bulk_create(
            User(username=f"bench-person-{i}", password="!") for i in range(PEOPLE)
        )
        team.members.add(*people)
    store, created = Datastore.objects.get_or_create(
        name="bench-catalog", defaults={"connection_url": "sqlite:////nowhere.db"}
    )
    team.datastores.add(store)
    if not created and store.containers.exists():
        return
    with connection.cursor() as c:
        c.execute(
            f"""
            INSERT INTO catalog_container (name, kind, created_at, updated_at, datastore_id)
            SELECT 'table_' || i, 'table', now(), now(), {store.pk}
            FROM generate_series(1, {CONTAINERS}) AS i
            """
        )
        c.execute(
            f"""
            INSERT INTO catalog_field (name, type, position, container_id)
            SELECT 'column_' || f, 'TEXT', f, c.id
            FROM catalog_container c CROSS JOIN generate_series(1, {FIELDS}) AS f
            WHERE c.datastore_id = {store.pk}
            """
        )
        c.execute(
            f"""
            INSERT INTO catalog_check (rule, params, status, description, inferred, created_at,
                updated_at, container_id)
            SELECT 'not_null', '{{}}'::jsonb, CASE WHEN k % 3 = 0 THEN 'draft' ELSE 'active' END,
                '', true, now(), now(), c.id
            FROM catalog_container c CROSS JOIN generate_series(1, {CHECKS}) AS k
            WHERE c.datastore_id = {store.pk}
            """
        )
        c.execute(
            f"""
            INSERT INTO catalog_anomaly (run_number, description, failed_count, examples, status,
                created_at, container_id)
            SELECT 10000000 + a, 'bench anomaly', 1, '[]'::jsonb,
                CASE WHEN a % 4 = 0 THEN 'resolved' ELSE 'active' END, now(), c.id
            FROM catalog_container c CROSS JOIN generate_series(1, {ANOMALIES}) AS a
            WHERE c.datastore_id = {store.pk}
            """
        )
        c.execute("ANALYZE")


# The floor: one indexed LIMIT query, n plain rows, the full middleware stack, no logic.
FLOOR = engines["django"].from_string(
    "<!doctype html><table>{% for id, type, status, created in rows %}"
    "<tr><td>{{ id }}</td><td>{{ type }}</td><td>{{ status }}</td><td>{{ created }}</td></tr>"
    "{% endfor %}</table>"
)


def floor(request, n: int):
    rows = Run.objects.order_by("-id").values_list("id", "type", "status", "created_at")[:n]
    return HttpResponse(FLOOR.render({"rows": rows}, request))


urlpatterns = [path("floor/<int:n>/", floor), path("", include("config.urls"))]


ROUNDS = 31


def measure(client: Client, requests: dict[str, tuple[str, str, dict]]) -> dict[str, float]:
    """Each request's median server time, and the time of its SQL statements run bare.

    The requests take turns, round after round, so that a machine busy with other work slows
    them all alike and the ratios between them hold. Each is asked once first, unmeasured: its
    statements are counted on the second asking, with the caches warm."""
    statements, times = {}, {key: [] for key in requests}
    for key, (_, url, headers) in requests.items():
        client.get(url, **headers)
        connection.force_debug_cursor = True  # the request resets the log when it starts
        response = client.get(url, **headers)
        statements[key] = [q["sql"] for q in connection.queries]
        connection.force_debug_cursor = False
        assert response.status_code == 200, (url, response.status_code)
    for _ in range(ROUNDS):
        for key, (_, url, headers) in requests.items():
            started = time.perf_counter()
            client.get(url, **headers)
            times[key].append((time.perf_counter() - started) * 1000)
    medians = {key: statistics.median(found) for key, found in times.items()}
    for key, (label, _, _) in requests.items():

        def bare_sql(sqls=statements[key]):
            with connection.cursor() as cursor:
                for sql in sqls:
                    cursor.execute(sql)
                    if cursor.description:
                        cursor.fetchall()

        sql = median_ms(bare_sql, repeat=ROUNDS)
        row(
            label, f"{medians[key]:8.2f} ms", f"{sql:8.2f} ms", f"{len(statements[key]):>5} queries"
        )
    return medians


def first_row_visible(repeat: int = 21) -> float | None:
    """What a person waits for: Playwright's page.goto() until the first run row is visible, in
    Debian's Chromium, against gunicorn serving the same database (warm cache)."""
    import os
    import statistics
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    from tests.e2e import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        return None

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            "127.0.0.1:8765",
            "--worker-class",
            "gthread",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=os.environ | {"RUNBOARD_MANIFEST_STATIC": "false", "DEBUG": "false"},
    )
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            for _ in range(50):
                try:
                    page.goto("http://127.0.0.1:8765/login/")
                    break
                except Exception:  # noqa: BLE001 - gunicorn is still starting
                    time.sleep(0.2)
            page.fill("#id_username", "bench-editor")
            page.fill("#id_password", "bench-password")
            page.click("button[type=submit]")
            page.wait_for_url("**/activity/")
            # The same measure of a page of no rows (the datastores list) tells what this machine,
            # as busy as it is now, takes for any page: they take turns.
            times = {"/activity/": [], "/datastores/": []}
            for _ in range(repeat):
                for url, found in times.items():
                    started = time.perf_counter()
                    page.goto(f"http://127.0.0.1:8765{url}", wait_until="commit")
                    page.locator("tbody.run, h1").first.wait_for(state="visible")
                    found.append((time.perf_counter() - started) * 1000)
            browser.close()
        waited = statistics.median(times["/activity/"][1:])
        reference = statistics.median(times["/datastores/"][1:])
        print(
            f"  first row visible in Chromium after page.goto (median of {repeat - 1}): "
            f"{waited:.0f} ms (the datastores list's title: {reference:.0f} ms)"
        )
        return waited
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    seed()
    seed_extras()
    editor = User.objects.get(username="bench-editor")
    editor.set_password("bench-password")
    editor.save()
    client = Client()
    client.force_login(editor)
    live_ids = range(RUNS - LIVE + 1, RUNS + 1)
    live = "&".join(f"run={pk}:running" for pk in live_ids)
    store = Datastore.objects.get(name="bench-catalog")
    hx = {"HTTP_HX_REQUEST": "true"}
    requests = {
        "floor50": ("floor: 50 plain rows, one query", "/floor/50/", {}),
        "floor25": ("floor: 25 plain rows, one query", "/floor/25/", {}),
        "page1": ("page 1 (50 runs)", "/activity/", {}),
        "filtered": (
            "page 1, status=success & type=scan",
            "/activity/?status=success&type=scan",
            {},
        ),
        "deep": (f"a page ~{RUNS // 2:,} runs deep", f"/activity/?after={RUNS // 2}", {}),
        "sorted": ("page 1 sorted by duration", "/activity/?sort=longest", {}),
        "expanded": (
            f"expanded row, run of {BIG_RUN_UNITS:,} containers",
            f"/activity/runs/{RUNS // 2}/",
            hx,
        ),
        "live": (f"live update of {LIVE} running rows", f"/activity/live/?{live}", {}),
        "live_open": (
            f"live update of {LIVE} rows, {OPEN} of them open",
            f"/activity/live/?{live}&{open_rows(live_ids[:OPEN])}",
            {},
        ),
        "catalog": (
            f"datastore page, {CONTAINERS} containers x {FIELDS}x{CHECKS}x{ANOMALIES}",
            f"/datastores/{store.pk}/",
            {},
        ),
    }
    with override_settings(ROOT_URLCONF=__name__):
        print(
            f"\nActivity on PostgreSQL, {Run.objects.count():,} runs (median of {ROUNDS} rounds; "
            "SQL = the same statements, bare)"
        )
        row("request", "server", "its SQL", "")
        ms = measure(client, requests)
        html = client.get("/activity/").content.decode()
    rows = [len(r) for r in re.findall(r'<tbody id="run-\d+".*?</tbody>', html, re.S)]
    print(
        f"\n  page 1: {len(html) / 1000:.1f} KB of HTML, {len(rows)} rows of "
        f"{sum(rows) / len(rows):.0f} bytes on average (largest {max(rows)}); "
        f"{PEOPLE:,} people could launch, {'all' if html.count('bench-person-') >= PEOPLE else 'none'} listed"
    )
    waited = first_row_visible()
    if waited is None:
        print("  first row visible in Chromium: no chromium here (apt-get install chromium)")
    targets(ms, waited, len(html), sum(rows) / len(rows))


def open_rows(pks) -> str:
    """`open=<id>:<last log id>` for rows whose page holds all but their last 3 log entries."""
    last = dict(
        RunLog.objects.filter(run_id__in=list(pks), unit__isnull=True)
        .values_list("run_id")
        .annotate(last=Max("id"))
    )
    return "&".join(f"open={pk}:{last[pk] - 3}" for pk in pks)


def targets(ms: dict[str, float], waited: float | None, html_bytes: int, row_bytes: float) -> None:
    """Each target of PERFORMANCE.md beside its figure, ratios from this same run."""
    page1, floor50, floor25 = ms["page1"], ms["floor50"], ms["floor25"]
    checks = [
        ("page 1 of 50 runs", page1 / floor50, "x floor(50)", 2.0),
        ("filtered page", ms["filtered"] / page1, "x page 1", 1.1),
        ("deep page", ms["deep"] / page1, "x page 1", 1.1),
        ("sorted page", ms["sorted"] / page1, "x page 1", 1.1),
        ("expanded row, 1,000 containers", ms["expanded"] / floor50, "x floor(50)", 2.5),
        ("live update of 25 rows", ms["live"] / floor25, "x floor(25)", 1.5),
        ("live update, 5 rows open", ms["live_open"] / floor25, "x floor(25)", 1.5),
        ("HTML of page 1", html_bytes / 1000, "KB", 70),
        ("HTML per row", row_bytes, "bytes", 1000),
    ]
    if waited is not None:
        checks.append(("first row visible in Chromium", waited, "ms", 150))
    print("\n  target                                    figure          limit")
    for label, figure, unit, limit in checks:
        verdict = "met" if figure <= limit else "NOT MET"
        print(f"  {label:<40}{figure:8.2f} {unit:<12}<= {limit:<6} {verdict}")


if __name__ == "__main__":
    main()
