"""Settings as a deployment meets them: each test starts Django in a process of its own, with
the environment a server would have (no pytest in it)."""

from __future__ import annotations

import os
import secrets
import shlex
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


def readme_deploy_environment(tmp_path: Path) -> dict[str, str]:
    """The variables the README's Deploying section exports, its placeholders filled in."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    command, *variables = shlex.split(block.replace("\\\n", " ").splitlines()[0])
    assert command == "export"
    env = dict(variable.split("=", 1) for variable in variables)
    assert {name for name, value in env.items() if "…" in value} == {"SECRET_KEY", "DATABASE_URL"}
    return env | {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'runboard.sqlite3'}",
    }


def test_the_readme_deploy_environment_passes_check_deploy(tmp_path):
    env = readme_deploy_environment(tmp_path)
    check = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    process = django_process(tmp_path, check, **env)
    assert process.returncode == 0, process.stderr
    assert "System check identified no issues" in process.stdout


SERVE_HTTP_AND_PROXIED_HTTPS = """
import django
django.setup()
from django.test import Client
client = Client(headers={"Host": "runboard.example.com"})
plain = client.get("/favicon.ico")
print(plain.status_code, plain.headers.get("Location"))
proxied = client.get("/favicon.ico", headers={"X-Forwarded-Proto": "https"})
print(proxied.status_code, proxied.headers.get("Strict-Transport-Security"))
"""


def test_behind_the_readme_proxy_http_is_redirected_and_https_gets_hsts(tmp_path):
    env = readme_deploy_environment(tmp_path)
    process = django_process(tmp_path, ["-c", SERVE_HTTP_AND_PROXIED_HTTPS], **env)
    assert process.returncode == 0, process.stderr
    plain, proxied = process.stdout.splitlines()
    assert plain == "301 https://runboard.example.com/favicon.ico"
    # Secure through the proxy's header: served, not redirected again (no redirect loop).
    assert proxied == "302 max-age=31536000; includeSubDomains; preload"


def test_development_speaks_plain_http(tmp_path):
    code = SERVE_HTTP_AND_PROXIED_HTTPS.replace("runboard.example.com", "127.0.0.1")
    process = django_process(tmp_path, ["-c", code], DEBUG="true")
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines() == ["302 /static/images/logo.svg", "302 None"]


def test_a_proxy_header_that_is_not_a_header_name_is_refused(tmp_path):
    process = setup_django(
        tmp_path, SECRET_KEY=STRONG_KEY, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https"
    )
    assert process.returncode != 0
    assert process.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: SECURE_PROXY_SSL_HEADER must be a header "
        "name (X-Forwarded-Proto), not 'X-Forwarded-Proto: https'"
    )
