"""Procedo settings, read from the environment (12-factor).

Defaults give the embedded demo: SQLite, Celery on a filesystem broker (no server).
Production (PROCEDO_ENV=production, the default, with DEBUG off) must set SECRET_KEY,
PROCEDO_SECRETS_KEYS, ALLOWED_HOSTS and PROCEDO_DOCUMENTS_SIGNERS or it refuses to start; it also
sets DATABASE_URL and CELERY_BROKER_URL. Every PROCEDO_* setting is declared here, once.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

from .env import env_bool, env_float, env_int, env_json, env_list, env_str
from .production import DEMO_SECRET_KEY, ENVIRONMENTS, production_problems, secrets_keys_problems

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PROCEDO_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# What this process is. "production" is the default: without DEBUG it refuses to start on demo
# secrets (config/production.py). `make run` sets "demo"; the test suite is "test" (`make test`
# sets it, and a bare pytest run is recognised by the PYTEST_VERSION pytest exports).
PROCEDO_ENV = env_str("PROCEDO_ENV", "test" if env_str("PYTEST_VERSION", "") else "production").strip().lower()
if PROCEDO_ENV not in ENVIRONMENTS:
    raise ImproperlyConfigured(f"PROCEDO_ENV must be one of {', '.join(ENVIRONMENTS)}, got {PROCEDO_ENV!r}")
PROCEDO_FAIL_CLOSED = PROCEDO_ENV == "production" and not DEBUG
SECRET_KEY = env_str("SECRET_KEY", "" if PROCEDO_FAIL_CLOSED else DEMO_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS (secure by default in production; the demo runs on plain http://127.0.0.1) ------------
# Behind a TLS-terminating proxy, name the header it sets (e.g. X-Forwarded-Proto): only then is
# "https" in that header trusted. Never set it when clients can reach the app directly.
_proxy_header = env_str("SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (f"HTTP_{_proxy_header.upper().replace('-', '_')}", "https") if _proxy_header else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PROCEDO_FAIL_CLOSED)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PROCEDO_FAIL_CLOSED else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PROCEDO_FAIL_CLOSED)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PROCEDO_FAIL_CLOSED)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PROCEDO_FAIL_CLOSED)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy of every response (common/middleware.py); empty = the strict default there.
PROCEDO_CSP = env_str("PROCEDO_CSP", "")

INSTALLED_APPS = [
    "audit.admin_site.AuditedAdminConfig",  # django.contrib.admin whose every change is audited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, not from a CDN
    "guardian",
    "common",
    "accounts",
    "audit",
    "engine",
    "forms",
    "cases",
    "connectors",
    "documents",
    "backoffice",  # tenant administration pages, above accounts, cases and documents
    "registry",
    "noticeboard",  # the public online notice board (albo pretorio), above cases and documents
    "payments",  # the tenant's pagoPA payments page, above cases and connectors
    "support",  # malfunction tickets: the tenant's SLA terms and the SLA report, above cases and documents
    "ops",
    "identity",  # SPID / CIE / eIDAS login (SAML2 service provider) and the demo identity provider
    "studio",  # the process studio: tenants' drafts, validation, four-eyes publishing, diffs (issue 15)
    "portal",  # the citizens' personal area (/area-personale/), above cases, registry, documents, connectors
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Per-request read-replica routing state (config/db_router.py); a no-op without DATABASE_REPLICA_URL.
    "config.db_router.ReplicaReadsMiddleware",
    "common.middleware.RequestSizeLimitMiddleware",
    "common.middleware.RejectNulBytesMiddleware",
    "common.middleware.JsonDepthLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "accounts.middleware.SessionRenewalMiddleware",
    "common.middleware.ItalianFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.TenantMiddleware",
    "accounts.middleware.SecondFactorMiddleware",
    "accounts.middleware.PasswordChangeRequiredMiddleware",
    # Page views raise NotFound/PermissionRefused; this turns them into the 404/403 pages.
    "common.middleware.DomainErrorPagesMiddleware",
    "common.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes requires: turns a lock-out into its response.
    "axes.middleware.AxesMiddleware",
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
    # ...and prepare a statement on its connection once it has run this many times (psycopg's own default;
    # Django's is never): PostgreSQL then skips parsing and planning it. Measured by bench/http_completions.py:
    # PostgreSQL's CPU per HTTP completion 5.7 -> 2.4 ms. 0 = never (DATABASE_PREPARE_THRESHOLD); always never
    # behind pgbouncer (below). A migration that changes a column's type under running web processes makes
    # their prepared reads of that table fail ("cached plan must not change result type") until their
    # connections are renewed (DATABASE_CONN_MAX_AGE): restart them after such a migration, as for any deploy.
    _prepare_threshold = env_int("DATABASE_PREPARE_THRESHOLD", 5)
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = _prepare_threshold if _prepare_threshold > 0 else None

# What sits between Procedo and PostgreSQL: "" (direct connections) or "pgbouncer" in transaction
# pooling mode, where consecutive transactions of one Django connection may run on different server
# sessions. Then nothing may outlive a transaction on the server: no server-side cursors
# (.iterator() outside a transaction declares a WITH HOLD cursor on one session and fetches on
# another: "cursor does not exist"), no named prepared statements (prepare_threshold=None, Django's
# default, pinned here), client-side parameter binding, no session-level SET or advisory lock (the
# code uses neither: SET LOCAL / SET TRANSACTION and row locks only). Migrations and `backup`
# (pg_dump --snapshot) need a session of their own: run them with DATABASE_URL pointing at
# PostgreSQL, not at the pooler (deploy/README.md). tests/deploy/test_pgbouncer.py runs through one.
PROCEDO_DB_POOLER = env_str("PROCEDO_DB_POOLER", "").strip().lower()
if PROCEDO_DB_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"PROCEDO_DB_POOLER must be empty or 'pgbouncer', got {PROCEDO_DB_POOLER!r}")
# A read-only replica of the primary (streaming replication): reports, exports and inbox counts
# read from it (config/db_router.py); unset = everything on the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
    if not DATABASES["replica"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a PostgreSQL URL")
    DATABASES["replica"].setdefault("OPTIONS", {})["server_side_binding"] = (
        DATABASES["default"].get("OPTIONS", {}).get("server_side_binding", True)
    )
    DATABASES["replica"]["OPTIONS"]["prepare_threshold"] = DATABASES["default"].get("OPTIONS", {}).get("prepare_threshold")
    # Tests point the replica at the primary's own test database (a mirror, not a second copy).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
for _alias, _db in DATABASES.items():
    if PROCEDO_DB_POOLER == "pgbouncer" and _db["ENGINE"].endswith("postgresql"):
        _db["DISABLE_SERVER_SIDE_CURSORS"] = True
        _db.setdefault("OPTIONS", {})["prepare_threshold"] = None
        _db["OPTIONS"]["server_side_binding"] = False
        # The pooler keeps the server connections; a Django connection per request is cheap.
        _db["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 0)
DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]
# URL names whose GET reads may go to the replica: reports, exports, inbox and its counts.
PROCEDO_REPLICA_READ_VIEWS = frozenset(
    env_list("PROCEDO_REPLICA_READ_VIEWS", ["case-export", "audit-list", "inbox", "task-list", "case-list"])
)
# After a client writes, its requests read the primary for this long (replication lag budget).
PROCEDO_REPLICA_PIN_SECONDS = env_int("PROCEDO_REPLICA_PIN_SECONDS", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out client before the password is checked
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins (login page and POST /api/v1/token/) are counted per username and client address;
# after AXES_FAILURE_LIMIT the pair is locked out for AXES_COOLOFF_MINUTES (django-axes, in the DB).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.security.axes_client_ip"
AXES_VERBOSE = False
# Reverse proxies in front of the app whose X-Forwarded-For is trusted (audit and lock-out addresses).
PROCEDO_TRUSTED_PROXY_COUNT = env_int("PROCEDO_TRUSTED_PROXY_COUNT", 0)
# API tokens expire this many days after they are issued (POST /api/v1/token/ or create_api_token).
PROCEDO_API_TOKEN_TTL_DAYS = env_int("PROCEDO_API_TOKEN_TTL_DAYS", 30)
# Issuer shown in authenticator apps next to the account name.
OTP_TOTP_ISSUER = env_str("PROCEDO_OTP_ISSUER", "Procedo")
LOGIN_URL = "/accedi/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accedi/"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60)  # idle timeout, renewed by activity
# Renewed at most this often (accounts.middleware.SessionRenewalMiddleware), not saved on every request:
# a save is a database write and a durable commit on every page view.
SESSION_SAVE_EVERY_REQUEST = False
PROCEDO_SESSION_RENEW_SECONDS = env_int("PROCEDO_SESSION_RENEW_SECONDS", 60)

# --- SPID / CIE / eIDAS: Procedo as a SAML2 service provider (identity/) ----------------------------
# Public base URL of the service provider (ACS, SLO and metadata hang from it); the entity ID is its
# metadata URL unless set.
PROCEDO_SPID_BASE_URL = env_str("PROCEDO_SPID_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
PROCEDO_SPID_ENTITY_ID = env_str("PROCEDO_SPID_ENTITY_ID", "") or f"{PROCEDO_SPID_BASE_URL}/spid/metadata/"
# The SP key and certificate (Avviso SPID n. 29 v3). `manage.py spid_setup` makes a demo pair under var/.
PROCEDO_SPID_KEY_FILE = env_str("PROCEDO_SPID_KEY_FILE", str(VAR_DIR / "identity" / "sp.key"))
PROCEDO_SPID_CERT_FILE = env_str("PROCEDO_SPID_CERT_FILE", str(VAR_DIR / "identity" / "sp.crt"))
# The public administration running the SP (metadata Organization and ContactPerson, certificate subject).
PROCEDO_SPID_IPA_CODE = env_str("PROCEDO_SPID_IPA_CODE", "c_h501")
PROCEDO_SPID_ORG_NAME = env_str("PROCEDO_SPID_ORG_NAME", "Comune di Esempio")
PROCEDO_SPID_ORG_URL = env_str("PROCEDO_SPID_ORG_URL", "https://www.comune.esempio.it")
PROCEDO_SPID_ORG_LOCALITY = env_str("PROCEDO_SPID_ORG_LOCALITY", "Roma")
PROCEDO_SPID_ORG_MUNICIPALITY = env_str("PROCEDO_SPID_ORG_MUNICIPALITY", "058091")  # ISTAT code (CIE metadata)
PROCEDO_SPID_CONTACT_EMAIL = env_str("PROCEDO_SPID_CONTACT_EMAIL", "protocollo@comune.esempio.it")
PROCEDO_SPID_CONTACT_PHONE = env_str("PROCEDO_SPID_CONTACT_PHONE", "+390612345678")
# Trusted identity providers: files of their SAML metadata (the AgID registry's, CIE's, the eIDAS node's).
PROCEDO_SPID_IDP_METADATA = env_list("PROCEDO_SPID_IDP_METADATA", [])
# Tenant (slug) citizens sign in to; empty: the only active tenant.
PROCEDO_SPID_TENANT = env_str("PROCEDO_SPID_TENANT", "")
# Tolerated clock difference with the identity providers, in seconds.
PROCEDO_SPID_CLOCK_SKEW_SECONDS = env_int("PROCEDO_SPID_CLOCK_SKEW_SECONDS", 60)
# CNS (smart card): the reverse proxy verifies the TLS client certificate against the CNS CAs and passes it
# (URL-encoded PEM) with its verdict in these headers; the app believes them only from these addresses.
# Empty list: CNS login is off.
PROCEDO_CNS_PROXY_ADDRESSES = env_list("PROCEDO_CNS_PROXY_ADDRESSES", [])
PROCEDO_CNS_CERT_HEADER = env_str("PROCEDO_CNS_CERT_HEADER", "X-SSL-Client-Cert")
PROCEDO_CNS_VERIFY_HEADER = env_str("PROCEDO_CNS_VERIFY_HEADER", "X-SSL-Client-Verify")
# The local demo identity provider (fictitious identities): never in production, whatever the flag says.
PROCEDO_SPID_DEMO_IDP = env_bool("PROCEDO_SPID_DEMO_IDP", PROCEDO_ENV != "production") and PROCEDO_ENV != "production"

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
] + [
    # The process studio's bundles (esbuild, `npm run build` at install: Makefile), served as /static/studio/.
    ("studio", path) for path in [BASE_DIR / "frontend" / "build" / "studio"] if path.is_dir()
] + [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve straight from the app and frontend folders too (demo without collectstatic).
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
MEDIA_ROOT = Path(env_str("PROCEDO_MEDIA_ROOT", str(VAR_DIR / "media")))

# Documents on S3-compatible object storage when a bucket is configured (django-storages);
# otherwise on the filesystem under PROCEDO_DOCUMENTS_ROOT (documents/storage.py).
# Production serves static files under content-hashed names (collectstatic writes them and a manifest),
# so the proxy can cache them for a year as immutable; a new release changes the names.
PROCEDO_STATIC_HASHED = env_bool("PROCEDO_STATIC_HASHED", PROCEDO_ENV == "production")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": (
        "whitenoise.storage.CompressedManifestStaticFilesStorage" if PROCEDO_STATIC_HASHED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    )},
}
# A file missing from the manifest is served under its plain name instead of failing the page.
WHITENOISE_MANIFEST_STRICT = False
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
        "accounts.authentication.ExpiringTokenAuthentication",
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
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.CaseStatus",
        "WorkItemStatusEnum": "cases.models.WorkItemStatus",
    },
}

# --- Celery -----------------------------------------------------------------
# Demo: a filesystem broker needs no server. Production: RabbitMQ (amqp://), where every queue is a
# quorum queue (replicated, survives a broker node) and the producer waits for publisher confirms.
# Tasks are routed by kind to four queues (config/celery_routes.py), each with its own workers
# (deploy/README.md), so a slow platform fills `connectors` without delaying timers or renders.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
PROCEDO_CELERY_QUEUES = ("default", "engine", "connectors", "documents")
PROCEDO_CELERY_QUORUM_QUEUES = env_bool("PROCEDO_CELERY_QUORUM_QUEUES", CELERY_BROKER_URL.startswith(("amqp", "pyamqp")))
# Quorum queues only: a message redelivered this many times (its task keeps killing the worker,
# e.g. a document that makes LibreOffice run out of memory) is dropped instead of looping forever;
# the outbox sweep still owns the outcome of every service call.
PROCEDO_CELERY_DELIVERY_LIMIT = env_int("PROCEDO_CELERY_DELIVERY_LIMIT", 5)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = ["config.celery_routes.route_task"]
CELERY_TASK_CREATE_MISSING_QUEUES = False
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The test suite publishes into a folder of its own: the demo's worker must not find (and run)
    # messages a test run left behind for rows that only existed in the test database.
    _broker_dir = VAR_DIR / ("broker-test" if PROCEDO_ENV == "test" else "broker")
    for _sub in ("processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("amqp", "pyamqp")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_QUEUES = [
    Queue(
        _name, Exchange(_name, type="direct"), routing_key=_name,
        queue_arguments=(
            {"x-queue-type": "quorum", "x-delivery-limit": PROCEDO_CELERY_DELIVERY_LIMIT}
            if PROCEDO_CELERY_QUORUM_QUEUES else None
        ),
    )
    for _name in PROCEDO_CELERY_QUEUES
]
# A quorum queue has no global QoS; Celery then applies prefetch per consumer.
CELERY_WORKER_DETECT_QUORUM_QUEUES = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged when it ends, and a worker that dies mid-task (OOM, kill -9) puts it back
# on the queue: every task may run twice (STYLE.md habit 3), none is lost. One message in hand per
# worker process: long renders and slow platforms do not hoard messages another process could run.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# Every task runs under a time budget: past the soft limit the task gets SoftTimeLimitExceeded
# (an outbox delivery records it as a failed attempt), past the hard limit the worker process
# is killed and replaced (prefork pool).
PROCEDO_TASK_SOFT_TIME_LIMIT = env_int("PROCEDO_TASK_SOFT_TIME_LIMIT", 240)
PROCEDO_TASK_TIME_LIMIT = env_int("PROCEDO_TASK_TIME_LIMIT", 300)
if not 0 < PROCEDO_TASK_SOFT_TIME_LIMIT < PROCEDO_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("PROCEDO_TASK_SOFT_TIME_LIMIT must be positive and below PROCEDO_TASK_TIME_LIMIT")
CELERY_TASK_SOFT_TIME_LIMIT = PROCEDO_TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = PROCEDO_TASK_TIME_LIMIT
CELERY_BEAT_SCHEDULE = {
    "engine-fire-due-timers": {"task": "engine.tasks.fire_due_timers_task", "schedule": 10.0},
    "engine-deliver-due-outbox": {"task": "engine.tasks.deliver_due_outbox_task", "schedule": 5.0},
    "cases-deliver-payments": {"task": "cases.tasks.deliver_payments_task", "schedule": 60.0},
    "cases-poll-anpr-citizen-requests": {"task": "cases.tasks.poll_anpr_citizen_requests_task", "schedule": 300.0},
    # Deaths recorded by the civil-status registers, sent to ANPR (registry.anpr_sender).
    "registry-send-anpr-notifications": {"task": "registry.tasks.send_anpr_notifications_task", "schedule": 60.0},
    # Counter certificates whose stamp duty was paid through pagoPA later (registry.certificates.payments).
    "registry-counter-certificates-paid": {"task": "registry.tasks.counter_certificates_paid_task", "schedule": 60.0},
    "cases-poll-notice-deliveries": {"task": "cases.tasks.poll_notice_deliveries_task", "schedule": 300.0},
    # PROCEDO_AUDIT_SEAL_INTERVAL is declared below; the schedule reads it from there.
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Procedo ------------------------------------------------------------------
PROCEDO_PROCESSES_DIR = Path(env_str("PROCEDO_PROCESSES_DIR", str(BASE_DIR / "processes")))
# Tests only: the collection of official national specifications, against which the tests check the
# copies the product ships (connectors/<platform>/schemas|openapi, forms/data). Product code never reads it.
PROCEDO_SPECS_DIR = Path(env_str("PROCEDO_SPECS_DIR", str(BASE_DIR.parent / "shared" / "specs")))
# Outbox: attempts before a service call becomes an incident, and backoff base (s).
PROCEDO_OUTBOX_MAX_ATTEMPTS = env_int("PROCEDO_OUTBOX_MAX_ATTEMPTS", 5)
# How long a claimed outbox message stays with its worker: past it the worker is presumed dead
# and the claim (already counted as an attempt) may be taken again. Longer than a task may live.
PROCEDO_OUTBOX_LEASE_SECONDS = env_int("PROCEDO_OUTBOX_LEASE_SECONDS", PROCEDO_TASK_TIME_LIMIT + 60)
if PROCEDO_OUTBOX_LEASE_SECONDS <= PROCEDO_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("PROCEDO_OUTBOX_LEASE_SECONDS must exceed PROCEDO_TASK_TIME_LIMIT")
# Fernet keys (comma-separated, newest first) encrypting connector credentials at rest; unset =
# derived from SECRET_KEY (demo and tests only: production refuses to start without them).
PROCEDO_SECRETS_KEYS = env_str("PROCEDO_SECRETS_KEYS", "")
# Largest request body accepted at all (uploads included), refused before it is read.
PROCEDO_MAX_REQUEST_BYTES = env_int("PROCEDO_MAX_REQUEST_BYTES", 30 * 1024 * 1024)
PROCEDO_OUTBOX_BACKOFF_SECONDS = env_int("PROCEDO_OUTBOX_BACKOFF_SECONDS", 10)
# What the steps the engine starts on its own (timers, service results, messages from a worker)
# mean for the cases: a dotted path to an engine.types.Projector, resolved once (engine.runtime).
# Steps a person starts get their projector passed explicitly by cases.services.
PROCEDO_ENGINE_PROJECTOR = "cases.projection.project"
# Minutes between two seals of each audit chain (audit/seal.py): events deleted at the end of a
# chain are detectable by `verify_audit` once a seal covers them.
PROCEDO_AUDIT_SEAL_INTERVAL = env_int("PROCEDO_AUDIT_SEAL_INTERVAL", 15)
if not 1 <= PROCEDO_AUDIT_SEAL_INTERVAL <= 24 * 60:
    raise ImproperlyConfigured("PROCEDO_AUDIT_SEAL_INTERVAL must be between 1 and 1440 minutes")
# Hash chains per tenant (audit/services.py): concurrent transactions of one tenant append to
# different chains instead of queueing on one head row. Changing it later keeps old chains valid.
PROCEDO_AUDIT_CHAIN_SHARDS = env_int("PROCEDO_AUDIT_CHAIN_SHARDS", 16)
if not 1 <= PROCEDO_AUDIT_CHAIN_SHARDS <= 256:
    raise ImproperlyConfigured("PROCEDO_AUDIT_CHAIN_SHARDS must be between 1 and 256")
# After a seal key changes: PEM files of the earlier seal certificates, whose seals stay valid.
PROCEDO_AUDIT_SEAL_RETIRED_CERTS = env_list("PROCEDO_AUDIT_SEAL_RETIRED_CERTS", [])
for _path in PROCEDO_AUDIT_SEAL_RETIRED_CERTS:
    if not Path(_path).is_file():
        raise ImproperlyConfigured(f"PROCEDO_AUDIT_SEAL_RETIRED_CERTS: no such file {_path}")
CELERY_BEAT_SCHEDULE["audit-seal-chains"] = {
    "task": "audit.tasks.seal_audit_chains_task", "schedule": PROCEDO_AUDIT_SEAL_INTERVAL * 60.0,
}
# Hard limits of one DOCX template rendering, enforced on the child process that renders it
# (documents/sandbox.py): wall clock (then killed), CPU seconds (RLIMIT_CPU), address space
# in MB (RLIMIT_AS).
PROCEDO_TEMPLATE_RENDER_SECONDS = env_int("PROCEDO_TEMPLATE_RENDER_SECONDS", 30)
PROCEDO_TEMPLATE_RENDER_CPU_SECONDS = env_int("PROCEDO_TEMPLATE_RENDER_CPU_SECONDS", 20)
PROCEDO_TEMPLATE_RENDER_MEMORY_MB = env_int("PROCEDO_TEMPLATE_RENDER_MEMORY_MB", 768)
# Deepest JSON nesting accepted in a request body or a JSON form field (refused with 400 beyond).
PROCEDO_JSON_MAX_DEPTH = env_int("PROCEDO_JSON_MAX_DEPTH", 64)
# Online notice board: days after its end date that a publication stays in the public archive (a
# tenant may set its own), and how often the job that signs the publication reports runs (s).
PROCEDO_NOTICEBOARD_ARCHIVE_DAYS = env_int("PROCEDO_NOTICEBOARD_ARCHIVE_DAYS", 365)
if not 0 <= PROCEDO_NOTICEBOARD_ARCHIVE_DAYS <= 3650:
    raise ImproperlyConfigured("PROCEDO_NOTICEBOARD_ARCHIVE_DAYS must be between 0 and 3650")
# Citizen area: drafts kept this many days after their last change (at least a year), and the beat
# jobs that retry protocol registrations, issue certificates paid but not collected and send the
# public-milestone messages (App IO, email).
PROCEDO_PORTAL_DRAFT_DAYS = env_int("PROCEDO_PORTAL_DRAFT_DAYS", 400)
if PROCEDO_PORTAL_DRAFT_DAYS < 366:
    raise ImproperlyConfigured("PROCEDO_PORTAL_DRAFT_DAYS must be at least 366 (drafts are kept a year)")
# How long an Idempotency-Key of the API answers with its first response (accounts/idempotency.py).
PROCEDO_IDEMPOTENCY_TTL_HOURS = env_int("PROCEDO_IDEMPOTENCY_TTL_HOURS", 24)
CELERY_BEAT_SCHEDULE["accounts-prune-idempotency-records"] = {
    "task": "accounts.tasks.prune_idempotency_records_task", "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["portal-housekeeping"] = {"task": "portal.tasks.portal_housekeeping_task", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["noticeboard-close-ended"] = {
    "task": "noticeboard.tasks.close_ended_publications_task", "schedule": 15 * 60.0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "spiff": {"level": "WARNING"}},
}


# --- Documents (documents/conf.py reads these) -----------------------------------------------------
PROCEDO_DOCUMENTS_VAR_DIR = Path(env_str("PROCEDO_DOCUMENTS_VAR_DIR", str(VAR_DIR / "documents")))
PROCEDO_DOCUMENTS_ROOT = env_str("PROCEDO_DOCUMENTS_ROOT", "")  # blobs; empty = MEDIA_ROOT/documents
PROCEDO_DOCUMENTS_CONVERTERS = env_int("PROCEDO_DOCUMENTS_CONVERTERS", os.cpu_count() or 1)
PROCEDO_DOCUMENTS_CONVERT_TIMEOUT = env_int("PROCEDO_DOCUMENTS_CONVERT_TIMEOUT", 60)
PROCEDO_CONVERTERS_PER_WORKER = env_int("PROCEDO_CONVERTERS_PER_WORKER", 1)  # warm LibreOffice per Celery child
PROCEDO_PUBLIC_BASE_URL = env_str("PROCEDO_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
PROCEDO_DOCUMENTS_TSA_URL = env_str("PROCEDO_DOCUMENTS_TSA_URL", "")
PROCEDO_DOCUMENTS_MAX_UPLOAD = env_int("PROCEDO_DOCUMENTS_MAX_UPLOAD", 20 * 1024 * 1024)
# Signer per role, JSON: {"default": {"kind": "pkcs12", "path": "/etc/procedo/signer.p12", "passphrase": "..."}}.
# Unset = the demo signer made by `manage.py documents_setup` (refused in production).
PROCEDO_DOCUMENTS_SIGNERS = env_json("PROCEDO_DOCUMENTS_SIGNERS", None)

# --- Connectors (connectors/base/config.py reads these) --------------------------------------------
# Per platform: PROCEDO_<PLATFORM>_BASE_URL (points every tenant elsewhere), _API_KEY, _TIMEOUT (read
# seconds, checked when used). Kept as the raw text of the environment.
PROCEDO_CONNECTOR_PLATFORMS = ("anpr", "ansc", "pdnd", "pagopa", "appio", "send", "protocollo", "parer")
for _platform in PROCEDO_CONNECTOR_PLATFORMS:
    for _suffix in ("BASE_URL", "API_KEY", "TIMEOUT"):
        _name = f"PROCEDO_{_platform.upper()}_{_suffix}"
        globals()[_name] = env_str(_name, "").strip()
PROCEDO_PDND_TOKEN_URL = env_str("PROCEDO_PDND_TOKEN_URL", "").strip()
PROCEDO_SIMULATOR_HOST = env_str("PROCEDO_SIMULATOR_HOST", "127.0.0.1").strip()
PROCEDO_SEND_SIM_SPEED = env_float("PROCEDO_SEND_SIM_SPEED", 60.0)
PROCEDO_APPIO_SIM_EVERYONE_ON_IO = env_bool("PROCEDO_APPIO_SIM_EVERYONE_ON_IO", True)
# App IO simulator: seconds after which the citizen "reads" an ADVANCED message (the demo sees a 10-bis
# notice delivered); 0 = only when told through /__sim__/messages/read (tests).
PROCEDO_APPIO_SIM_READ_AFTER = env_float("PROCEDO_APPIO_SIM_READ_AFTER", 0.0 if PROCEDO_ENV == "test" else 120.0)
# The register's ANPR alignment check (registry/alignment.py): ANPR lookups per second, at most.
PROCEDO_ANPR_ALIGN_RATE = env_float("PROCEDO_ANPR_ALIGN_RATE", 5.0)

# --- Engine and clock ------------------------------------------------------------------------------
# Plug-in operation modules outside the shipped apps (comma-separated dotted paths).
PROCEDO_EXTRA_OPERATION_MODULES = env_list("PROCEDO_EXTRA_OPERATION_MODULES", [])
# The demo may run "in the future" (common/clock.py); refused in production.
PROCEDO_CLOCK_OFFSET_SECONDS = env_float("PROCEDO_CLOCK_OFFSET_SECONDS", 0.0)

# --- Fail closed -------------------------------------------------------------------------------------
_problems = secrets_keys_problems(PROCEDO_SECRETS_KEYS)
if PROCEDO_FAIL_CLOSED:
    _problems = production_problems(
        secret_key=SECRET_KEY, secrets_keys=PROCEDO_SECRETS_KEYS, allowed_hosts_set=env_str("ALLOWED_HOSTS", "") != "",
        signers=PROCEDO_DOCUMENTS_SIGNERS, demo_pki_dir=PROCEDO_DOCUMENTS_VAR_DIR / "pki",
    )
    if PROCEDO_CLOCK_OFFSET_SECONDS:
        _problems.append("PROCEDO_CLOCK_OFFSET_SECONDS moves the clock: demo only")
if _problems:
    raise ImproperlyConfigured(
        f"Procedo refuses to start (PROCEDO_ENV={PROCEDO_ENV}): {'; '.join(_problems)}. Set them in the "
        "environment; the demo runs with PROCEDO_ENV=demo (`make run`)."
    )
