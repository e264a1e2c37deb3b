"""Runboard settings: one file, read from environment variables.

DATABASE_URL picks the database (SQLite in var/ when unset). Every other knob has a small typed
reader below that refuses a malformed value at start-up rather than misbehaving later.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RUNBOARD_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def env_number[T: (int, float)](name: str, default: T) -> T:
    value = os.environ.get(name)
    if value is None:
        return default
    kind = type(default)
    try:
        number = kind(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a {kind.__name__}, not {value!r}") from None
    if number < 0:
        raise ImproperlyConfigured(f"{name} must not be negative, not {value!r}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    return default if value is None else [item.strip() for item in value.split(",") if item.strip()]


def env_dirs(name: str, default: list[Path]) -> list[Path]:
    if name not in os.environ:
        return default
    dirs = [Path(item) for item in env_list(name, [])]
    if relative := [str(folder) for folder in dirs if not folder.is_absolute()]:
        raise ImproperlyConfigured(f"{name} must list absolute paths, not {', '.join(relative)}")
    return dirs


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    # This key is in the repository: with it anyone can forge sessions and password-reset links.
    # So only development (DEBUG) and the test suite may fall back to it.
    if not DEBUG and "PYTEST_VERSION" not in os.environ:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=true for development)"
        )
    SECRET_KEY = "runboard-insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks_db",
    "ninja",
    "accounts",
    "catalog",
    "activity",
    "schedules",
]

MIDDLEWARE = [
    "api.middleware.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# Runboard's pages are Jinja2 (templates/, config/jinja2.py): a page of runs prints thousands of
# values, which Django's template language took most of the page's time to do. The admin keeps
# Django's templates.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "config.jinja2.Environment",
            "context_processors": [
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "trim_blocks": True,
            "lstrip_blocks": True,
        },
    },
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite by default, PostgreSQL (or another SQLite file) when DATABASE_URL is set.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'runboard.sqlite3'}")
    )
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions and WAL make concurrent writers (web, workers) wait for the lock
    # instead of failing with "database is locked"; workers need a file database, tests too.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["TEST"] = {"NAME": str(VAR_DIR / "test_runboard.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    # Tests create and drop their database: pooled connections would keep it open.
    "RUNBOARD_DB_POOL",
    "PYTEST_VERSION" not in os.environ,
):
    # dj-database-url has no pool argument, and the pool refuses CONN_MAX_AGE != 0.
    _db["CONN_MAX_AGE"] = 0
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_number("RUNBOARD_DB_POOL_SIZE", 10),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "activity:run-list"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MANIFEST_STATIC = env_bool(
    "RUNBOARD_MANIFEST_STATIC", not DEBUG and "PYTEST_VERSION" not in os.environ
)
# Without collectstatic (development, tests), WhiteNoise serves straight from the app folders.
WHITENOISE_USE_FINDERS = not MANIFEST_STATIC
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest storage needs collectstatic, which development and tests do not run.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if MANIFEST_STATIC
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

SESSION_COOKIE_HTTPONLY = True
# HTTPS settings are opt-in: `make run` and the tests speak plain HTTP on 127.0.0.1.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_number("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a proxy that terminates TLS, gunicorn sees plain HTTP: the header the proxy sets to
# "https" (X-Forwarded-Proto) tells Django the request was secure, or SECURE_SSL_REDIRECT would
# redirect forever. Trust it only if the proxy always sets it: a client can send it too.
SECURE_PROXY_SSL_HEADER = None
if _header := env_str("SECURE_PROXY_SSL_HEADER", ""):
    if not re.fullmatch(r"[A-Za-z0-9-]+", _header):
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER must be a header name (X-Forwarded-Proto), not {_header!r}"
        )
    SECURE_PROXY_SSL_HEADER = (f"HTTP_{_header.upper().replace('-', '_')}", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
}

# Background work: django.tasks with the database backend. The queue only carries "work on run
# X"; abort requests, progress, heartbeats and logs live in the activity tables.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

RUNBOARD = {
    # How many workers may process one run's containers at once.
    "RUN_PARALLELISM": env_number("RUNBOARD_RUN_PARALLELISM", 2),
    # A worker beats every HEARTBEAT seconds; a run silent for HEARTBEAT_TIMEOUT is reaped.
    "HEARTBEAT": env_number("RUNBOARD_HEARTBEAT", 1.0),
    "HEARTBEAT_TIMEOUT": env_number("RUNBOARD_HEARTBEAT_TIMEOUT", 30.0),
    # How often a worker looks for an abort request of the run it works on.
    "ABORT_POLL": env_number("RUNBOARD_ABORT_POLL", 0.25),
    "REAP_EVERY": env_number("RUNBOARD_REAP_EVERY", 10.0),
    # How long a deleted run can be brought back (Undo) before a worker removes it for good.
    "UNDO_SECONDS": env_number("RUNBOARD_UNDO_SECONDS", 30.0),
    # Terminal runs older than this many days are removed by the workers (0: kept forever).
    "RETENTION_DAYS": env_number("RUNBOARD_RETENTION_DAYS", 0),
    # How often each worker looks for schedules that are due (cron has minutes: a few seconds do).
    "SCHEDULER_TICK": env_number("RUNBOARD_SCHEDULER_TICK", 5.0),
    # Pauses between attempts to reach a datastore that does not answer.
    "RECONNECT_DELAYS": (0.2, 0.5, 1.0),
    "DEMO_DIR": VAR_DIR / "demo",
    # SQLite datastores must be files under these directories (the demo's is always one), and
    # never Runboard's own database: anyone who sees a datastore reads what its file holds.
    "SQLITE_DIRS": env_dirs("RUNBOARD_SQLITE_DIRS", [VAR_DIR / "demo", VAR_DIR / "sources"]),
    # An External Scan's upload: validated and stored as it streams, so memory stays flat.
    "UPLOAD_MAX_BYTES": env_number("RUNBOARD_UPLOAD_MAX_BYTES", 20 * 1024 * 1024),
    "UPLOAD_MAX_RECORDS": env_number("RUNBOARD_UPLOAD_MAX_RECORDS", 1_000_000),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        # Django's default prints its loggers only under DEBUG and otherwise mails them to ADMINS,
        # which Runboard has none of: a 500's traceback (django.request) would reach no one.
        "django": {"handlers": ["console"], "level": "INFO" if DEBUG else "ERROR"},
        "runboard": {"handlers": ["console"], "level": env_str("RUNBOARD_LOG_LEVEL", "INFO")},
    },
}
