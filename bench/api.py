"""The JSON API against the Activity bench's history (200,000 runs), beside the HTML page and
Django's floor, in the same run: page 1 of GET /api/operations, filtered, a page ~100,000 runs
deep, and one operation of 1,000 containers. Prints each target of issue 11 met or not.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/runboard_bench .venv/bin/python bench/api.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# The Activity bench seeds the history and serves the floor view: load it under its own name
# (a module named `activity` here would hide Runboard's app of that name).
spec = importlib.util.spec_from_file_location(
    "activity_bench", Path(__file__).with_name("activity.py")
)
bench = importlib.util.module_from_spec(spec)
sys.modules["activity_bench"] = bench
spec.loader.exec_module(bench)

from django.test import Client, override_settings  # noqa: E402

from accounts.models import ApiToken, User  # noqa: E402


def main() -> None:
    bench.seed()
    bench.seed_extras()
    editor = User.objects.get(username="bench-editor")
    _, token = ApiToken.issue(editor, "bench", 1)
    api = Client(headers={"Authorization": f"Bearer {token}"})
    page = Client()
    page.force_login(editor)
    big = bench.RUNS // 2  # the run of 1,000 containers the Activity bench seeded
    requests = {
        "floor50": ("floor: 50 plain rows, one query", "/floor/50/", {}),
        "html": ("the HTML page 1 (50 runs)", "/activity/", {}),
        "list": ("GET /api/operations?size=50", "/api/operations?size=50", {}),
        "filtered": (
            "… ?result=success&size=50",
            "/api/operations?result=success&size=50",
            {},
        ),
        "deep": (
            f"… a page ~{bench.RUNS // 2:,} runs deep",
            f"/api/operations?size=50&page={bench.RUNS // 100}",
            {},
        ),
        "one": (f"GET /api/operations/{big} (1,000 containers)", f"/api/operations/{big}", {}),
    }
    with override_settings(ROOT_URLCONF="activity_bench"):
        print(
            f"\nAPI on PostgreSQL (median of {bench.ROUNDS} rounds; SQL = the same statements, bare)"
        )
        bench.row("request", "server", "its SQL", "")
        # The HTML page and the floor with the session, the API with the token: two clients.
        pages = bench.measure(page, {k: v for k, v in requests.items() if k in ("floor50", "html")})
        calls = bench.measure(
            api, {k: v for k, v in requests.items() if k not in ("floor50", "html")}
        )
    ms = pages | calls
    print("\n  target                                    figure          limit")
    for label, figure, unit, limit in [
        ("list page, against the floor", ms["list"] / ms["floor50"], "x floor(50)", 2.0),
        ("list page, against the HTML page", ms["list"] / ms["html"], "x page 1", 1.0),
        ("filtered list page", ms["filtered"] / ms["floor50"], "x floor(50)", 2.0),
        ("deep list page", ms["deep"] / ms["floor50"], "x floor(50)", 2.0),
        ("one operation of 1,000 containers", ms["one"], "ms", 5.0),
    ]:
        verdict = "met" if figure <= limit else "NOT MET"
        print(f"  {label:<40}{figure:8.2f} {unit:<12}<= {limit:<6} {verdict}")


if __name__ == "__main__":
    main()
