"""The largest upload an External Scan accepts is validated, stored and checked in a real process
whose memory stays flat: the records stream from the file to the database to the worker's scratch
table, never held whole."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from activity import engine
from activity.models import Run
from catalog.models import Anomaly, Check
from tests.base import ROOT, build_world, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

# What a 20 MB upload may add to a process that validates, stores and checks it (it held the
# whole file several times over before: a 20 MB file grew the web process by 1.7 GB).
BOUND_MB = 100

MEASURE = """
import resource, sys
import django
django.setup()
from django.core.files import File
from accounts.models import User
from activity import engine
from activity.models import Run
from activity.operations.external_scan import read_csv
from catalog.models import Container

container = Container.objects.get(pk=int(sys.argv[1]))
user = User.objects.get(pk=int(sys.argv[2]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[3], "rb") as upload:
    records = read_csv(container, File(upload))
run = Run.receive(container, records, by=user, filename="largest.csv")
engine.execute(run.pk)
print(run.pk, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def largest_upload(path) -> int:
    """As many records as the limits allow (whichever of bytes and records binds first); one
    in a thousand has a country outside the set. Returns how many records it holds."""
    most_bytes = settings.RUNBOARD["UPLOAD_MAX_BYTES"]
    most_records = settings.RUNBOARD["UPLOAD_MAX_RECORDS"]
    written, count = 0, 0
    with path.open("w") as out:
        header = "id,country,age,signup\n"
        out.write(header)
        written += len(header)
        for i in range(1, most_records + 1):
            line = f"{i},{'XX' if i % 1000 == 0 else 'DE'},{i % 90},2025-01-0{1 + i % 9}\n"
            if written + len(line) > most_bytes:
                break
            out.write(line)
            written += len(line)
            count = i
    return count


def test_the_largest_allowed_upload_is_checked_with_bounded_memory(source, tmp_path):
    world = build_world(shop_url=source.url)
    engine.execute(Run.launch(Run.Type.SYNC, world.shop, by=world.editor).pk)
    customers = world.shop.containers.get(name="customers")
    Check.objects.create(
        container=customers,
        field=customers.fields.get(name="country"),
        rule=Check.Rule.IN_SET,
        params={"values": ["DE", "FR", "NL"]},
    )
    path = tmp_path / "largest.csv"
    count = largest_upload(path)
    assert count > 500_000

    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(customers.pk), str(world.editor.pk), str(path)],
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    run_id, growth_mb = map(int, done.stdout.split())
    run = Run.objects.get(pk=run_id)
    assert run.status == Run.Status.SUCCESS
    assert run.counters["records_checked"] == count
    assert Anomaly.objects.get(run=run).failed_count == count // 1000
    assert growth_mb < BOUND_MB, f"validating and checking {count:,} records took {growth_mb} MB"
