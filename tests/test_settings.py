"""Settings as a deployment meets them: each test starts Django in a process of its own, with
the environment a server would have (no pytest in it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.decorators import login_not_required
from django.urls import path

ROOT = Path(__file__).resolve().parent.parent
# A long, random-looking key: `check --deploy` refuses short or repetitive ones.
STRONG_KEY = "k3y-for-the-settings-tests_" + "0123456789abcdefghijklmnopqrstuvwxyz"


def django_process(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """`python <args>` in the project, with only the environment given here and a system's basics."""
    basics = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=basics
        | {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "RUNBOARD_VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'runboard.sqlite3'}",
        }
        | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def setup_django(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return django_process(tmp_path, ["-c", "import django; django.setup()"], **env)


@pytest.mark.parametrize("debug", [{"DEBUG": "false"}, {}], ids=["DEBUG=false", "DEBUG unset"])
def test_production_refuses_to_start_without_a_secret_key(tmp_path, debug):
    process = setup_django(tmp_path, **debug)
    assert process.returncode != 0
    assert process.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: "
        "SECRET_KEY must be set when DEBUG is off (set DEBUG=true for development)"
    )


def test_production_refuses_an_empty_secret_key(tmp_path):
    process = setup_django(tmp_path, DEBUG="false", SECRET_KEY="")
    assert process.returncode != 0
    assert "SECRET_KEY must be set" in process.stderr


def test_production_starts_with_a_secret_key(tmp_path):
    process = setup_django(tmp_path, DEBUG="false", SECRET_KEY=STRONG_KEY)
    assert process.returncode == 0, process.stderr


def test_manage_py_check_passes_with_a_secret_key_and_fails_without(tmp_path):
    without = django_process(tmp_path, ["manage.py", "check"], DEBUG="false")
    assert without.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in without.stderr
    with_key = django_process(
        tmp_path, ["manage.py", "check"], DEBUG="false", SECRET_KEY=STRONG_KEY
    )
    assert with_key.returncode == 0, with_key.stderr


def test_development_starts_without_a_secret_key(tmp_path):
    process = setup_django(tmp_path, DEBUG="true")
    assert process.returncode == 0, process.stderr


def test_worker_processes_of_the_tests_get_the_key_of_the_test_run(settings):
    from tests.base import worker_env

    env = worker_env()
    assert "PYTEST_VERSION" not in env  # so settings would refuse to start without a key
    assert env["SECRET_KEY"] == settings.SECRET_KEY


def explode(request):
    raise RuntimeError("this 500 must leave its traceback in the logs")


# The URLs of the 500 test below: its Django process takes this module as ROOT_URLCONF.
urlpatterns = [path("explode/", login_not_required(explode))]

SERVE_ONE_500 = """
import django
django.setup()
from django.test import Client, override_settings
with override_settings(ROOT_URLCONF="tests.test_settings"):
    print(Client(raise_request_exception=False).get("/explode/").status_code)
"""


@pytest.mark.parametrize("debug", ["false", "true"])
def test_a_500_leaves_its_traceback_on_stderr(tmp_path, debug):
    process = django_process(tmp_path, ["-c", SERVE_ONE_500], DEBUG=debug, SECRET_KEY=STRONG_KEY)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "500"
    assert "Internal Server Error: /explode/" in process.stderr
    assert "Traceback (most recent call last)" in process.stderr
    assert "RuntimeError: this 500 must leave its traceback in the logs" in process.stderr


def test_runboard_loggers_write_to_stderr_in_production(tmp_path):
    code = "import django, logging; django.setup(); logging.getLogger('runboard.engine').info('hi')"
    process = django_process(tmp_path, ["-c", code], DEBUG="false", SECRET_KEY=STRONG_KEY)
    assert process.returncode == 0, process.stderr
    assert process.stderr.strip() == "hi"
