"""Django settings. Every value comes from the environment, with safe local defaults.

See the configuration table in README.md.
"""

import base64
import hashlib
import ipaddress
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from fabric_portal.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    is_fernet_key,
    read_secret_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("FABRIC_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Secrets (issue 14) ------------------------------------------------------------------------
# SECRET_KEY and FIELD_ENCRYPTION_KEY (the Fernet key device credentials and webhook secrets
# are encrypted with) come from the environment, or from VAR_DIR/secret_key and
# VAR_DIR/field_encryption_key (what `make run` generates, mode 0600). Off DEBUG, the product
# refuses to start without them; under DEBUG it falls back to public development values.
_INSECURE_DEV_KEY = "insecure-local-development-key-change-me"
SECRET_KEY = env_str("SECRET_KEY") or read_secret_file(VAR_DIR / "secret_key")
FIELD_ENCRYPTION_KEY = env_str("FIELD_ENCRYPTION_KEY") or read_secret_file(
    VAR_DIR / "field_encryption_key"
)
if DEBUG:
    SECRET_KEY = SECRET_KEY or _INSECURE_DEV_KEY
    FIELD_ENCRYPTION_KEY = (
        FIELD_ENCRYPTION_KEY
        or base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    )
else:
    if not SECRET_KEY or SECRET_KEY == _INSECURE_DEV_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set (off DEBUG the development key is refused): make one with "
            'python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    if not is_fernet_key(FIELD_ENCRYPTION_KEY):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be set to a Fernet key (off DEBUG): make one with "
            'python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"'
        )
# Secure cookies by default off DEBUG; `make run` (plain http on 127.0.0.1) turns them off.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# --- end of secrets ----------------------------------------------------------------------------

# The change log (apps.changes, django-auditlog): who changed what, secrets masked.
AUDITLOG_LOGENTRY_MODEL = "changes.ObjectChange"
# auditlog's own LogEntry is swapped out for ObjectChange: its migrations would still make
# an unused table (that blocks flushing the test database); apps.changes owns the table.
MIGRATION_MODULES = {"auditlog": None}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.tenancy",
    "apps.fabric",
    "apps.ipam",
    "apps.compute",
    "apps.jobs",
    "apps.billing",
    "apps.portal",
    "auditlog",
    "apps.changes",
]
# The network-namespace lab's app (lab/seeding: `manage.py seed_lab`), only where the lab is
# in use: `make demo` and the test command set FABRIC_LAB=1.
FABRIC_LAB = env_bool("FABRIC_LAB", False)
if FABRIC_LAB:
    INSTALLED_APPS.append("lab.seeding")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.changes.middleware.ChangeLogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "fabric_portal.urls"
WSGI_APPLICATION = "fabric_portal.wsgi.application"
ASGI_APPLICATION = "fabric_portal.asgi.application"

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
                "apps.portal.context_processors.header",
            ],
        },
    },
]
# Device configs (bird/, junos/) are rendered by workers.render with Jinja2 from here.
DEVICE_TEMPLATES_DIR = BASE_DIR / "templates"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'fabric.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (development, tests) serve straight from the app directories.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "portal:login"

# Security (see `manage.py check --deploy`); secure defaults turn on outside DEBUG.
# SESSION_COOKIE_SECURE and CSRF_COOKIE_SECURE: see "Secrets" above.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so an anonymous request answers 401 with `WWW-Authenticate: Bearer`.
        "apps.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "apps.api.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "apps.api.pagination.Pagination",
    "EXCEPTION_HANDLER": "apps.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Fabric Portal API",
    "DESCRIPTION": (
        "Tenants, plans, clusters and their devices, networks and addresses, VMs, jobs and "
        "usage of an IP-fabric cloud. Authenticate with `Authorization: Bearer <API key>` "
        "(or a portal session). Every 4xx answer has the body "
        '`{"error": {"status", "code", "message", "fields"}}`. Writes that start work '
        "answer 202 with the object and its `job`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.api.schema.blank_or_pattern_any_of",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "NodeHypervisorEnum": "apps.fabric.models.Node.Hypervisor",
        "ImageHypervisorEnum": "apps.compute.models.GuestImage.Hypervisor",
        "VmStateEnum": "apps.compute.models.VirtualMachine.State",
        "PlanKindEnum": "apps.compute.models.Plan.Kind",
        "ClusterStateEnum": "apps.fabric.models.Cluster.State",
        "NodeStateEnum": "apps.fabric.models.Node.State",
        "RouteReflectorStateEnum": "apps.fabric.models.RouteReflector.State",
        "BorderGatewayStateEnum": "apps.fabric.models.BorderGateway.State",
        "IpAddressStatusEnum": "apps.ipam.models.IPAddress.Status",
        "JobStateEnum": "apps.jobs.models.Job.State",
        "JobKindEnum": "apps.jobs.registry.choices",
        "JobStepStateEnum": "apps.jobs.models.JobStep.State",
        "RoleEnum": "apps.tenancy.models.Role",
        "ApiKeyRoleEnum": "apps.tenancy.models.ApiKey.API_ROLE_CHOICES",
        "WebhookDeliveryStateEnum": "apps.billing.models.WebhookDelivery.State",
    },
}

# Celery: the broker is Redis; Job rows (apps.jobs) are the record of every run.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Beat's entries are tasks of fabric_portal/beat.py (they reach several apps).
CELERY_IMPORTS = ["fabric_portal.beat"]
CELERY_BEAT_SCHEDULE = {
    "reconcile": {
        "task": "fabric.reconcile_schedule",
        "schedule": float(env_str("FABRIC_RECONCILE_SECONDS", "300")),
    },
    # BGP session states for the topology: one `birdc show protocols all` per RR and node;
    # a pass not started within its interval is dropped (the next one replaces it).
    "bgp-sessions": {
        "task": "fabric.bgp_sessions_collect",
        "schedule": float(env_str("FABRIC_SESSIONS_SECONDS", "30")),
        "options": {"expires": float(env_str("FABRIC_SESSIONS_SECONDS", "30"))},
    },
    "requeue-stale-jobs": {"task": "jobs.requeue_stale", "schedule": 60.0},
    # running jobs whose worker stopped beating: lost attempt recorded, locks released, queued
    "resume-orphaned-jobs": {
        "task": "jobs.resume_orphans",
        "schedule": float(env_str("FABRIC_JOB_HEARTBEAT_SECONDS", "5")),
        "options": {"expires": float(env_str("FABRIC_JOB_HEARTBEAT_SECONDS", "5"))},
    },
    "purge-idempotency-keys": {"task": "compute.purge_idempotency_keys", "schedule": 3600.0},
}
# How long an order's Idempotency-Key is remembered (a retry within it gets the same VM).
FABRIC_IDEMPOTENCY_KEY_HOURS = float(env_str("FABRIC_IDEMPOTENCY_KEY_HOURS", "24"))

# Network automation.
# strict: every device's host key is pinned in its record and checked (nodes, RRs and the
# border gateway); tofu: a device without one is trusted on first use (its key is stored
# and shown in its history); insecure: never checked (throwaway labs only).
FABRIC_SSH_HOST_KEY_POLICY = env_str("FABRIC_SSH_HOST_KEY_POLICY", "strict")
if FABRIC_SSH_HOST_KEY_POLICY not in ("strict", "tofu", "insecure"):
    raise ImproperlyConfigured("FABRIC_SSH_HOST_KEY_POLICY must be strict, tofu or insecure.")
# Where a node's or RR's BIRD config and socket may live: the product writes there as root.
FABRIC_BIRD_PATH_PREFIXES = env_list("FABRIC_BIRD_PATH_PREFIXES", ["/etc/bird/", "/run/bird/"])
FABRIC_SSH_CONNECT_TIMEOUT = float(env_str("FABRIC_SSH_CONNECT_TIMEOUT", "10"))
FABRIC_TASK_MAX_RETRIES = env_int("FABRIC_TASK_MAX_RETRIES", 5)
FABRIC_RETRY_BASE_SECONDS = float(env_str("FABRIC_RETRY_BASE_SECONDS", "5"))
FABRIC_VERIFY_TIMEOUT = float(env_str("FABRIC_VERIFY_TIMEOUT", "60"))
# The BGP session collection: how long one device's `birdc` may take, how many at once.
FABRIC_SESSIONS_COMMAND_TIMEOUT = float(env_str("FABRIC_SESSIONS_COMMAND_TIMEOUT", "10"))
FABRIC_SESSIONS_PARALLEL = env_int("FABRIC_SESSIONS_PARALLEL", 8)
# How often an open cluster page redraws its topology from the stored states.
FABRIC_TOPOLOGY_REFRESH_SECONDS = env_int("FABRIC_TOPOLOGY_REFRESH_SECONDS", 10)
FABRIC_CPU_OVERCOMMIT = float(env_str("FABRIC_CPU_OVERCOMMIT", "4"))
# One writer per device: how long a lock lives (a killed worker's lock expires after
# this) and how long a job waits for a busy device before retrying later.
FABRIC_DEVICE_LOCK_SECONDS = env_int("FABRIC_DEVICE_LOCK_SECONDS", 600)
FABRIC_DEVICE_LOCK_WAIT_SECONDS = env_int("FABRIC_DEVICE_LOCK_WAIT_SECONDS", 240)
# The Celery queue jobs are sent to (workers consume it with `-Q`).
FABRIC_TASK_QUEUE = env_str("FABRIC_TASK_QUEUE", "celery")
# Jobs still queued after this long are queued again (a broker that lost its messages).
FABRIC_REQUEUE_AFTER_SECONDS = env_int("FABRIC_REQUEUE_AFTER_SECONDS", 600)
# A running job's worker renews its heartbeat every FABRIC_JOB_HEARTBEAT_SECONDS; a job
# whose heartbeat is older than FABRIC_JOB_ORPHAN_SECONDS lost its worker and is resumed by
# another (its device locks released at once). The broker's visibility timeout
# (CELERY_VISIBILITY_TIMEOUT) stays the last resort.
FABRIC_JOB_HEARTBEAT_SECONDS = float(env_str("FABRIC_JOB_HEARTBEAT_SECONDS", "5"))
FABRIC_JOB_ORPHAN_SECONDS = float(env_str("FABRIC_JOB_ORPHAN_SECONDS", "30"))
if FABRIC_JOB_ORPHAN_SECONDS <= 2 * FABRIC_JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "FABRIC_JOB_ORPHAN_SECONDS must exceed twice FABRIC_JOB_HEARTBEAT_SECONDS."
    )
# libvirt domain type: "kvm" on real hosts, "qemu" (software emulation) without VT-x/AMD-V.
FABRIC_LIBVIRT_DOMAIN_TYPE = env_str("FABRIC_LIBVIRT_DOMAIN_TYPE", "kvm")
# Prefixes guests may never reach, besides what the database and the nodes tell (every
# node, RR and border-gateway address, each node's connected non-guest prefixes): e.g. a
# routed management network. Comma-separated IPv4/IPv6 prefixes.
FABRIC_PROTECTED_PREFIXES = env_list("FABRIC_PROTECTED_PREFIXES", [])
for _prefix in FABRIC_PROTECTED_PREFIXES:
    try:
        ipaddress.ip_network(_prefix, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"FABRIC_PROTECTED_PREFIXES: {_exc}") from None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # SSH libraries log every connection and command at INFO: keep worker logs readable.
    "loggers": {
        name: {"level": env_str("SSH_LOG_LEVEL", "WARNING")}
        for name in ("asyncssh", "paramiko", "netmiko")
    },
}

# --- Abuse limits: API throttles, login lockout, webhook targets ------------------------------
# Django's cache is Redis (the broker's server unless FABRIC_CACHE_URL says otherwise), so
# that the throttle counters are shared by every gunicorn worker.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("FABRIC_CACHE_URL", CELERY_BROKER_URL),
        "KEY_PREFIX": "fabric-cache",
    }
}
# Requests per API key (or per session user) and per anonymous client address:
# "N/s", "N/min", "N/hour" or "N/day"; empty for no limit. Answers 429 with Retry-After.
FABRIC_API_THROTTLE_RATES = {
    "anon": env_str("FABRIC_API_THROTTLE_ANON", "60/min"),
    "authenticated": env_str("FABRIC_API_THROTTLE_AUTHENTICATED", "1200/min"),
}
# Reverse proxies in front of the app (their X-Forwarded-For gives the client's address).
FABRIC_NUM_PROXIES = env_int("FABRIC_NUM_PROXIES", 0)
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.api.throttling.AnonRateThrottle",
        "apps.api.throttling.PrincipalRateThrottle",
    ],
    # 0: REMOTE_ADDR only (None would make DRF trust any X-Forwarded-For a client sends).
    "NUM_PROXIES": FABRIC_NUM_PROXIES,
    # JSON nested beyond a limit is a 400 parse_error (not a RecursionError).
    "DEFAULT_PARSER_CLASSES": [
        "apps.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}

# Login lockout (django-axes) on the portal's and the admin's login: after
# FABRIC_LOGIN_FAILURE_LIMIT wrong passwords for one account (from any address), or from one
# address (for any account), logins are refused with a 429 page for FABRIC_LOGIN_COOLOFF_MINUTES.
# Attempts are counted in the database (shared by every worker); `manage.py axes_reset`
# or the admin's "Access attempts" unlock early.
INSTALLED_APPS = [*INSTALLED_APPS, "axes"]
MIDDLEWARE = [*MIDDLEWARE, "axes.middleware.AxesMiddleware"]  # last, as axes requires
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("FABRIC_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("FABRIC_LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "portal/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# The same client address as the API throttles (FABRIC_NUM_PROXIES; without django-ipware
# installed, axes' own AXES_IPWARE_* settings would be ignored and a proxy's address used).
AXES_CLIENT_IP_CALLABLE = "apps.api.throttling.client_address"
# axes logs every login at INFO; lockouts (WARNING) are what matters.
LOGGING = {**LOGGING, "loggers": {**LOGGING["loggers"], "axes": {"level": "WARNING"}}}
# Webhook targets: public addresses only; these networks (CIDRs, comma-separated) are let in
# as well, e.g. "10.20.0.0/16" for a billing system inside the provider's network.
FABRIC_WEBHOOK_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(network, strict=False))
    for network in env_list("FABRIC_WEBHOOK_ALLOWED_NETWORKS", [])
]
