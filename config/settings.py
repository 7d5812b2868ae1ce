"""Procedo settings, read from the environment (12-factor).

Defaults give the embedded demo: SQLite, Celery on a filesystem broker (no server).
Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PROCEDO_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# The demo and the tests run without a configured secret; a production deployment
# must set SECRET_KEY (checked by `manage.py check --deploy`).
SECRET_KEY = env_str("SECRET_KEY", "insecure-demo-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "guardian",
    "common",
    "accounts",
    "audit",
    "engine",
    "forms",
    "cases",
    "connectors",
    "documents",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.RequestSizeLimitMiddleware",
    "common.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "common.middleware.ItalianFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.TenantMiddleware",
    "accounts.middleware.PasswordChangeRequiredMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "accounts.context_processors.tenancy",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "") or f"sqlite:///{VAR_DIR / 'procedo.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The demo runs web, worker and beat on one SQLite file: wait for the lock
    # instead of failing, and take the write lock at BEGIN so that our
    # select_for_update() (a no-op on SQLite) still serialises writers.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The inbox indexes' INCLUDE columns are a PostgreSQL optimisation; SQLite ignores them.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Server-side binding lets psycopg prepare the hot statements (inbox, locks, audit).
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = env_bool("DATABASE_SERVER_SIDE_BINDING", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accedi/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accedi/"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60)  # idle timeout, renewed on every request
SESSION_SAVE_EVERY_REQUEST = True

LANGUAGE_CODE = "it"
LANGUAGES = [("it", _("Italiano")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Rome"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Front-end packages from frontend/node_modules (installed by `make`, `npm ci`), served locally: no CDN.
_NODE = BASE_DIR / "frontend" / "node_modules"
STATICFILES_DIRS = [
    (prefix, _NODE / package / "dist")
    for prefix, package in (("bootstrap-italia", "bootstrap-italia"), ("htmx", "htmx.org"), ("bpmn-js", "bpmn-js"))
    if (_NODE / package / "dist").is_dir()
] + [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve straight from the app and frontend folders too (demo without collectstatic).
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
MEDIA_ROOT = Path(env_str("PROCEDO_MEDIA_ROOT", str(VAR_DIR / "media")))

# Documents on S3-compatible object storage when a bucket is configured (django-storages);
# otherwise on the filesystem under PROCEDO_DOCUMENTS_ROOT (documents/storage.py).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if env_str("PROCEDO_S3_BUCKET", ""):
    STORAGES["documents"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("PROCEDO_S3_BUCKET", ""),
            "endpoint_url": env_str("PROCEDO_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("PROCEDO_S3_REGION", "") or None,
            "access_key": env_str("PROCEDO_S3_ACCESS_KEY", "") or None,
            "secret_key": env_str("PROCEDO_S3_SECRET_KEY", "") or None,
            "location": env_str("PROCEDO_S3_PREFIX", "documents"),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Procedo API",
    "DESCRIPTION": "Case management for the demographic services of Italian municipalities.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.CaseStatus",
        "WorkItemStatusEnum": "cases.models.WorkItemStatus",
    },
}

# --- Celery -----------------------------------------------------------------
# Demo: a filesystem broker needs no server. Production: redis:// or amqp://.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "engine-fire-due-timers": {"task": "engine.tasks.fire_due_timers_task", "schedule": 10.0},
    "engine-deliver-due-outbox": {"task": "engine.tasks.deliver_due_outbox_task", "schedule": 5.0},
    "cases-deliver-payments": {"task": "cases.tasks.deliver_payments_task", "schedule": 60.0},
    "cases-poll-anpr-citizen-requests": {"task": "cases.tasks.poll_anpr_citizen_requests_task", "schedule": 300.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Procedo ------------------------------------------------------------------
PROCEDO_PROCESSES_DIR = Path(env_str("PROCEDO_PROCESSES_DIR", str(BASE_DIR / "processes")))
PROCEDO_SPECS_DIR = Path(env_str("PROCEDO_SPECS_DIR", str(BASE_DIR.parent / "shared" / "specs")))
# Outbox: attempts before a service call becomes an incident, and backoff base (s).
PROCEDO_OUTBOX_MAX_ATTEMPTS = env_int("PROCEDO_OUTBOX_MAX_ATTEMPTS", 5)
# Fernet keys (comma-separated, newest first) encrypting connector credentials at rest; unset =
# derived from SECRET_KEY (demo, tests).
PROCEDO_SECRETS_KEYS = env_str("PROCEDO_SECRETS_KEYS", "")
# Largest request body accepted at all (uploads included), refused before it is read.
PROCEDO_MAX_REQUEST_BYTES = env_int("PROCEDO_MAX_REQUEST_BYTES", 30 * 1024 * 1024)
PROCEDO_OUTBOX_BACKOFF_SECONDS = env_int("PROCEDO_OUTBOX_BACKOFF_SECONDS", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "spiff": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    CSRF_COOKIE_HTTPONLY = False
    X_FRAME_OPTIONS = "DENY"
