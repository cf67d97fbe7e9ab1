"""Settings, all from the environment, with embedded defaults that need no server.

Defaults: SQLite under var/, an embedded filesystem Celery broker under var/,
the simulated cluster, DEBUG on with a generated development key. Production
sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, and usually DATABASE_URL (PostgreSQL)
and CELERY_BROKER_URL (Redis or RabbitMQ).
"""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AUTOMIGRATE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use 1/0, true/false, yes/no or on/off")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r}: must be a number") from exc


DEBUG = env_bool("DEBUG", True)


def _development_secret_key() -> str:
    """A random key kept in var/ so sessions survive restarts in development."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off")
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "automigrate",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "automigrate.middleware.DisplayTimeZoneMiddleware",
    "automigrate.middleware.FriendlyNotFoundMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "automigrate.urls"
WSGI_APPLICATION = "automigrate.wsgi.application"

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
            ],
        },
    },
]

# runserver answers each request in a new thread, and each thread opens its own
# connection: kept open (CONN_MAX_AGE > 0) they pile up, one per past request,
# until the server's max_connections. So persistent connections are for the
# long-lived processes (gunicorn workers, Celery), health-checked before reuse.
RUNNING_DEVSERVER = len(sys.argv) > 1 and sys.argv[1] == "runserver"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'automigrate.sqlite3'}",
        conn_max_age=0 if RUNNING_DEVSERVER else int(env_number("DATABASE_CONN_MAX_AGE", 60)),
        conn_health_checks=True,
    )
}
# No query may hold a worker forever (a lock wait on the migration lock's row, a window
# mean over a runaway table): PostgreSQL cancels any statement running longer than this.
# It is also the bound on the drivers and sources whose "outside" is our own database
# (the simulator driver, the database source), which run without a thread of their own.
# 0 turns it off (e.g. for a `migrate` that builds an index on a huge sample table).
DATABASE_STATEMENT_TIMEOUT_SECONDS = env_number("DATABASE_STATEMENT_TIMEOUT_SECONDS", 30)
if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = (
        f"{_options.get('options', '')} -c statement_timeout={int(DATABASE_STATEMENT_TIMEOUT_SECONDS * 1000)}"
    ).strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of
    # failing, and take the write lock up front so transactions don't deadlock.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Admin and {{ value }} render times as the dashboard does: 2026-12-01 19:26 UTC (automigrate.clock).
FORMAT_MODULE_PATH = ["automigrate.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Plotly.js comes from the pinned plotly package itself, served by us: the
# admin network may be offline, so no CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("plotly", Path(plotly.__file__).parent / "package_data"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Served by WhiteNoise straight from the finders (no collectstatic step to forget).
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Security: on by default in production, each switchable for a TLS proxy.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(env_number("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST framework
REST_FRAMEWORK = {
    # JSON nested past a few levels is a 400, not a RecursionError (automigrate.api.parsers).
    "DEFAULT_PARSER_CLASSES": [
        "automigrate.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["automigrate.permissions.ReadAuthenticatedWriteOperator"],
    # A bad ?limit= or ?offset= is a 400 naming it, not silently the first page.
    "DEFAULT_PAGINATION_CLASS": "automigrate.api.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "automigrate.api.filters.StrictSearchFilter",  # NUL in ?search= is a 400, not a PostgreSQL error
        "automigrate.api.filters.StableOrderingFilter",  # ends on the pk, so pages never overlap
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Services' ValidationError -> 400, refused deletes -> 409, in one place.
    "EXCEPTION_HANDLER": "automigrate.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "automigrate API",
    "DESCRIPTION": "Rules, hosts, guests, events and migrations of the automatic VM migrator.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and Swagger UI need a login, like every other page.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Celery: an embedded filesystem broker by default, Redis/RabbitMQ by URL.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Three queues, so one stuck kind of work cannot starve the others: sampling (simulator
# tick, metric sampling, inventory sync), evaluation (rules, pruning) and watching
# (the migration watcher). `make run`'s worker consumes all three (automigrate/Procfile);
# production runs one worker per queue (README).
CELERY_QUEUES_ALL = ("sampling", "evaluation", "watching")
CELERY_TASK_DEFAULT_QUEUE = "evaluation"
CELERY_TASK_ROUTES = {
    "automigrate.tasks.simulator_tick": {"queue": "sampling"},
    "automigrate.tasks.sync_inventory": {"queue": "sampling"},
    "automigrate.tasks.sample_metrics": {"queue": "sampling"},
    "automigrate.tasks.evaluate_rule": {"queue": "evaluation"},
    "automigrate.tasks.prune_samples": {"queue": "evaluation"},
    "automigrate.tasks.roll_up_samples": {"queue": "evaluation"},
    "automigrate.tasks.watch_migrations": {"queue": "watching"},
    # Backtests are CPU work like evaluations; a long one holds one evaluation process (README).
    "automigrate.tasks.run_backtest": {"queue": "evaluation"},
    # Webhooks wait on other people's servers (each call bounded): never in the evaluation queue.
    "automigrate.tasks.deliver_webhook": {"queue": "sampling"},
    "automigrate.tasks.check_notifications": {"queue": "sampling"},
}
# A worker process takes one task at a time: a slow task never holds others reserved.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# --- The product's own knobs. Every one can be set from the environment.
AUTOMIGRATE = {
    # Where metrics come from and who migrates: the simulator by default.
    "METRIC_SOURCE": os.environ.get("AUTOMIGRATE_METRIC_SOURCE", "simulator"),
    # A platform is an inventory and a driver as one (automigrate/platforms/);
    # AUTOMIGRATE_DRIVER, when set, overrides only the driver.
    "PLATFORM": os.environ.get("AUTOMIGRATE_PLATFORM", "simulator"),
    "DRIVER": os.environ.get("AUTOMIGRATE_DRIVER", ""),
    # Bound on one whole inventory read of the platform, and how often beat syncs it.
    "INVENTORY_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_INVENTORY_TIMEOUT_SECONDS", 20),
    "INVENTORY_SYNC_SECONDS": env_number("AUTOMIGRATE_INVENTORY_SYNC_SECONDS", 60),
    # Proxmox VE (AUTOMIGRATE_PLATFORM=proxmox): an API token, TLS verified by default
    # (VERIFY_TLS: 1, 0 or the path of a CA bundle).
    "PROXMOX_URL": os.environ.get("AUTOMIGRATE_PROXMOX_URL", ""),
    "PROXMOX_TOKEN_ID": os.environ.get("AUTOMIGRATE_PROXMOX_TOKEN_ID", ""),
    "PROXMOX_TOKEN_SECRET": os.environ.get("AUTOMIGRATE_PROXMOX_TOKEN_SECRET", ""),
    "PROXMOX_VERIFY_TLS": os.environ.get("AUTOMIGRATE_PROXMOX_VERIFY_TLS", "1"),
    "PROXMOX_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_PROXMOX_TIMEOUT_SECONDS", 10),
    # OpenStack (AUTOMIGRATE_PLATFORM=openstack): credentials the OpenStack way, read by
    # openstacksdk itself (OS_CLOUD + clouds.yaml, or the OS_* variables); a bound on every
    # request. SAME_ZONE: targets stay in the source host's zone (a "zone:" host label).
    "OPENSTACK_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_OPENSTACK_TIMEOUT_SECONDS", 10),
    "SAME_ZONE": env_bool("AUTOMIGRATE_SAME_ZONE", True),
    "PROXMOX_WITH_LOCAL_DISKS": env_bool("AUTOMIGRATE_PROXMOX_WITH_LOCAL_DISKS", False),
    # libvirt + QEMU/KVM (AUTOMIGRATE_PLATFORM=libvirt; see README "libvirt + QEMU/KVM hosts").
    "LIBVIRT_HOSTS": os.environ.get("AUTOMIGRATE_LIBVIRT_HOSTS", ""),
    "LIBVIRT_MIGRATION_HOST": os.environ.get("AUTOMIGRATE_LIBVIRT_MIGRATION_HOST", ""),
    "LIBVIRT_CONNECT_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_LIBVIRT_CONNECT_TIMEOUT_SECONDS", 5),
    "LIBVIRT_CALL_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_LIBVIRT_CALL_TIMEOUT_SECONDS", 10),
    "LIBVIRT_START_CONFIRM_SECONDS": env_number("AUTOMIGRATE_LIBVIRT_START_CONFIRM_SECONDS", 10),
    "LIBVIRT_START_GRACE_SECONDS": env_number("AUTOMIGRATE_LIBVIRT_START_GRACE_SECONDS", 15),
    "LIBVIRT_AUTO_CONVERGE": env_bool("AUTOMIGRATE_LIBVIRT_AUTO_CONVERGE", True),
    "LIBVIRT_BANDWIDTH_MIB_S": env_number("AUTOMIGRATE_LIBVIRT_BANDWIDTH_MIB_S", 0),
    "LIBVIRT_TLS": env_bool("AUTOMIGRATE_LIBVIRT_TLS", False),
    "LIBVIRT_COPY_STORAGE": env_bool("AUTOMIGRATE_LIBVIRT_COPY_STORAGE", False),
    "LIBVIRT_HOST_CPU": os.environ.get("AUTOMIGRATE_LIBVIRT_HOST_CPU", "host"),
    # When a migrate call returns, send the watcher task at once instead of waiting for beat's next run.
    "LIBVIRT_NOTIFY_WATCHER": env_bool("AUTOMIGRATE_LIBVIRT_NOTIFY_WATCHER", True),
    # Engine tuning (automigrate.engine.Tuning).
    "COOLDOWN_MINUTES": env_number("AUTOMIGRATE_COOLDOWN_MINUTES", 30),
    # A guest never returns to the host it left within this many minutes.
    "BOUNCE_BACK_MINUTES": env_number("AUTOMIGRATE_BOUNCE_BACK_MINUTES", 60),
    # CPU rules don't move a guest that would lower its host by less than this.
    "MIN_RELIEF_PERCENT": env_number("AUTOMIGRATE_MIN_RELIEF_PERCENT", 1.0),
    "HYSTERESIS_FRACTION": env_number("AUTOMIGRATE_HYSTERESIS_FRACTION", 0.15),
    # CPU rules: targets must end this many points under the threshold (issue 14, measured in BENCHMARKS.md).
    "TARGET_MARGIN_PERCENT": env_number("AUTOMIGRATE_TARGET_MARGIN_PERCENT", 0.0),
    # CPU rules: moves off a host left firing are taken back unless they bring this share of its need.
    "PARTIAL_RELIEF_FRACTION": env_number("AUTOMIGRATE_PARTIAL_RELIEF_FRACTION", 0.5),
    "MEM_FLOOR_FRACTION": env_number("AUTOMIGRATE_MEM_FLOOR_FRACTION", 0.10),
    "CPU_CEILING_PERCENT": env_number("AUTOMIGRATE_CPU_CEILING_PERCENT", 80),
    "MAX_MOVES_PER_HOST": int(env_number("AUTOMIGRATE_MAX_MOVES_PER_HOST", 5)),
    "MAX_MOVES_PER_RUN": int(env_number("AUTOMIGRATE_MAX_MOVES_PER_RUN", 20)),
    # Forecasts of the next window (README "Forecasts"): on by default, as the trace replays
    # measured (BENCHMARKS.md, "Forecasts (issue 14)"). Z: spreads added before a forecast may
    # hold a firing host back; TARGET_Z: spreads added to a target's forecast.
    "FORECAST": env_bool("AUTOMIGRATE_FORECAST", True),
    "FORECAST_HISTORY_WINDOWS": int(env_number("AUTOMIGRATE_FORECAST_HISTORY_WINDOWS", 6)),
    "FORECAST_Z": env_number("AUTOMIGRATE_FORECAST_Z", 1.0),
    "FORECAST_TARGET_Z": env_number("AUTOMIGRATE_FORECAST_TARGET_Z", 1.0),
    # A "fired but did nothing" decision (find_result_fail, recommend, skip)
    # is written again only after this many minutes, so the log is not flooded.
    "DECISION_REPEAT_MINUTES": env_number("AUTOMIGRATE_DECISION_REPEAT_MINUTES", 60),
    # Migration windows and blackouts are read in this zone (e.g. Europe/Paris).
    "CLUSTER_TIME_ZONE": os.environ.get("AUTOMIGRATE_CLUSTER_TIME_ZONE", TIME_ZONE),
    # Evacuation and repair judge hosts and guests on means over this window.
    "PLACEMENT_WINDOW_SECONDS": env_number("AUTOMIGRATE_PLACEMENT_WINDOW_SECONDS", 300),
    # Execution safety.
    "MAX_IN_FLIGHT": int(env_number("AUTOMIGRATE_MAX_IN_FLIGHT", 4)),
    "MAX_IN_FLIGHT_PER_HOST": int(env_number("AUTOMIGRATE_MAX_IN_FLIGHT_PER_HOST", 2)),
    "LOCK_LEASE_SECONDS": env_number("AUTOMIGRATE_LOCK_LEASE_SECONDS", 900),
    "MIGRATION_TIMEOUT_BASE_SECONDS": env_number("AUTOMIGRATE_MIGRATION_TIMEOUT_BASE_SECONDS", 120),
    "MIGRATION_TIMEOUT_SECONDS_PER_GIB": env_number("AUTOMIGRATE_MIGRATION_TIMEOUT_SECONDS_PER_GIB", 60),
    "WATCH_INTERVAL_SECONDS": env_number("AUTOMIGRATE_WATCH_INTERVAL_SECONDS", 5),
    # Bounds on each driver call, enforced around every driver (automigrate/drivers/bounded.py);
    # past it, the call counts as failed. A start is longer: it may have to copy a disk's metadata.
    "DRIVER_PRECHECK_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_DRIVER_PRECHECK_TIMEOUT_SECONDS", 5),
    "DRIVER_START_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_DRIVER_START_TIMEOUT_SECONDS", 30),
    "DRIVER_POLL_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_DRIVER_POLL_TIMEOUT_SECONDS", 5),
    "DRIVER_CANCEL_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_DRIVER_CANCEL_TIMEOUT_SECONDS", 10),
    # Bound on each metric-source call (automigrate/sources/bounded.py): past it, the hosts are stale.
    "SOURCE_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_SOURCE_TIMEOUT_SECONDS", 10),
    # The overview shows a banner while an outside call timed out within this many minutes.
    "TIMEOUT_BANNER_MINUTES": env_number("AUTOMIGRATE_TIMEOUT_BANNER_MINUTES", 10),
    # Celery soft time limits per kind of task (the hard limit kills the worker process
    # TASK_HARD_LIMIT_GRACE_SECONDS later). Each is above the sum of the bounded calls it makes.
    "SAMPLING_TASK_TIME_LIMIT_SECONDS": env_number("AUTOMIGRATE_SAMPLING_TASK_TIME_LIMIT_SECONDS", 60),
    "EVALUATION_TASK_TIME_LIMIT_SECONDS": env_number("AUTOMIGRATE_EVALUATION_TASK_TIME_LIMIT_SECONDS", 180),
    "WATCH_TASK_TIME_LIMIT_SECONDS": env_number("AUTOMIGRATE_WATCH_TASK_TIME_LIMIT_SECONDS", 120),
    # A backtest of 7 days of a 200-host / 4,000-guest cluster takes minutes (BENCHMARKS.md).
    "BACKTEST_TASK_TIME_LIMIT_SECONDS": env_number("AUTOMIGRATE_BACKTEST_TASK_TIME_LIMIT_SECONDS", 1800),
    "TASK_HARD_LIMIT_GRACE_SECONDS": env_number("AUTOMIGRATE_TASK_HARD_LIMIT_GRACE_SECONDS", 15),
    # Metrics.
    # Sample storage (automigrate.services.storage). History (5-minute roll-ups): 8 days on
    # PostgreSQL; 12 hours on the embedded SQLite default, whose single writer cannot afford
    # days of a large cluster's samples (README "Scale").
    "SAMPLE_RETENTION_DAYS": env_number(
        "AUTOMIGRATE_SAMPLE_RETENTION_DAYS", 0.5 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 8
    ),
    # 1-minute roll-ups, at most SAMPLE_RETENTION_DAYS.
    "ROLLUP_1M_RETENTION_DAYS": env_number("AUTOMIGRATE_ROLLUP_1M_RETENTION_DAYS", 2),
    # Raw samples: the longest window anything averages over (rule periods, placement) plus this.
    "RAW_SAMPLE_MARGIN_MINUTES": env_number("AUTOMIGRATE_RAW_SAMPLE_MARGIN_MINUTES", 30),
    # PostgreSQL: the width of a raw sample partition (roll-ups: a day). Dropped whole when past retention.
    "SAMPLE_PARTITION_HOURS": env_number("AUTOMIGRATE_SAMPLE_PARTITION_HOURS", 24),
    # A minute is rolled up once it is this old, so late samples (telegraf's flush jitter) are in it.
    "ROLLUP_DELAY_SECONDS": env_number("AUTOMIGRATE_ROLLUP_DELAY_SECONDS", 60),
    # One roll-up run reads at most this many minutes of samples per statement, and stops
    # starting new ones after ROLLUP_TIME_BUDGET_SECONDS (catching up after downtime takes several runs).
    "ROLLUP_MAX_MINUTES_PER_RUN": env_number("AUTOMIGRATE_ROLLUP_MAX_MINUTES_PER_RUN", 60),
    "ROLLUP_TIME_BUDGET_SECONDS": env_number("AUTOMIGRATE_ROLLUP_TIME_BUDGET_SECONDS", 30),
    # History (services.retention): kept long; 0 keeps everything.
    "EVENT_RETENTION_DAYS": env_number("AUTOMIGRATE_EVENT_RETENTION_DAYS", 400),
    "MIGRATION_RETENTION_DAYS": env_number("AUTOMIGRATE_MIGRATION_RETENTION_DAYS", 400),
    "SAMPLE_INTERVAL_SECONDS": env_number("AUTOMIGRATE_SAMPLE_INTERVAL_SECONDS", 10),
    # Simulated cluster.
    "SIM_BANDWIDTH_MB_PER_S": env_number("AUTOMIGRATE_SIM_BANDWIDTH_MB_PER_S", 400),
    "SIM_FAILURE_PROBABILITY": env_number("AUTOMIGRATE_SIM_FAILURE_PROBABILITY", 0.05),
    # Which tags name a host and a guest, first present wins: for /write and for the
    # external metric sources alike (automigrate.sources.tags reads them).
    "INGEST_HOST_TAGS": env_list("AUTOMIGRATE_INGEST_HOST_TAGS", "host_id,host"),
    "INGEST_GUEST_TAGS": env_list("AUTOMIGRATE_INGEST_GUEST_TAGS", "vm_id"),
    # External metric stores (AUTOMIGRATE_METRIC_SOURCE=influxdb|victoriametrics|prometheus).
    "METRIC_URL": os.environ.get("AUTOMIGRATE_METRIC_URL", ""),
    "METRIC_DATABASE": os.environ.get("AUTOMIGRATE_METRIC_DATABASE", "telegraf"),
    "METRIC_USERNAME": os.environ.get("AUTOMIGRATE_METRIC_USERNAME", ""),
    "METRIC_PASSWORD": os.environ.get("AUTOMIGRATE_METRIC_PASSWORD", ""),
    "METRIC_TOKEN": os.environ.get("AUTOMIGRATE_METRIC_TOKEN", ""),
    "METRIC_VERIFY_TLS": env_bool("AUTOMIGRATE_METRIC_VERIFY_TLS", True),
    "METRIC_TIMEOUT_SECONDS": env_number("AUTOMIGRATE_METRIC_TIMEOUT_SECONDS", 5),
    # Series names; empty = telegraf's (InfluxDB "measurement.field", Prometheus/VictoriaMetrics a metric name).
    "METRIC_HOST_CPU_SERIES": os.environ.get("AUTOMIGRATE_METRIC_HOST_CPU_SERIES", ""),
    "METRIC_HOST_CPU_TAGS": os.environ.get("AUTOMIGRATE_METRIC_HOST_CPU_TAGS", "cpu=cpu-total"),
    "METRIC_HOST_MEM_SERIES": os.environ.get("AUTOMIGRATE_METRIC_HOST_MEM_SERIES", ""),
    "METRIC_GUEST_CPU_SERIES": os.environ.get("AUTOMIGRATE_METRIC_GUEST_CPU_SERIES", ""),
    "INGEST_AUTO_REGISTER_HOSTS": env_bool("AUTOMIGRATE_INGEST_AUTO_REGISTER_HOSTS", False),
    # A sample stamped further ahead of the server's clock than this is refused (400).
    "INGEST_MAX_FUTURE_SECONDS": env_number("AUTOMIGRATE_INGEST_MAX_FUTURE_SECONDS", 300),
    # Auto-registration caps: beyond them the whole request is refused and no host created.
    "INGEST_MAX_NEW_HOSTS_PER_REQUEST": int(env_number("AUTOMIGRATE_INGEST_MAX_NEW_HOSTS_PER_REQUEST", 100)),
    "INGEST_MAX_NEW_HOSTS_PER_HOUR": int(env_number("AUTOMIGRATE_INGEST_MAX_NEW_HOSTS_PER_HOUR", 1000)),
    # Cloudpods (AUTOMIGRATE_PLATFORM=cloudpods): Keystone v3 credentials and how to live-migrate.
    "CLOUDPODS": {
        "AUTH_URL": os.environ.get("AUTOMIGRATE_CLOUDPODS_AUTH_URL", ""),
        "USERNAME": os.environ.get("AUTOMIGRATE_CLOUDPODS_USERNAME", ""),
        "PASSWORD": os.environ.get("AUTOMIGRATE_CLOUDPODS_PASSWORD", ""),
        "PROJECT": os.environ.get("AUTOMIGRATE_CLOUDPODS_PROJECT", "system"),
        "DOMAIN": os.environ.get("AUTOMIGRATE_CLOUDPODS_DOMAIN", "Default"),
        "REGION": os.environ.get("AUTOMIGRATE_CLOUDPODS_REGION", ""),
        "VERIFY_TLS": env_bool("AUTOMIGRATE_CLOUDPODS_VERIFY_TLS", True),
        "TIMEOUT_SECONDS": env_number("AUTOMIGRATE_CLOUDPODS_TIMEOUT_SECONDS", 10),
        # As the original monitor sends them.
        "SKIP_CPU_CHECK": env_bool("AUTOMIGRATE_CLOUDPODS_SKIP_CPU_CHECK", True),
        "SKIP_KERNEL_CHECK": env_bool("AUTOMIGRATE_CLOUDPODS_SKIP_KERNEL_CHECK", True),
        "MAX_BANDWIDTH_MB": int(env_number("AUTOMIGRATE_CLOUDPODS_MAX_BANDWIDTH_MB", 0)) or None,
        # After a timeout's cancel, how long the watcher waits for the server to settle.
        "CANCEL_SETTLE_SECONDS": env_number("AUTOMIGRATE_CLOUDPODS_CANCEL_SETTLE_SECONDS", 30),
    },
    # Notifications (automigrate.services.notify): webhook retries, and e-mail to staff users.
    "WEBHOOK_MAX_ATTEMPTS": int(env_number("AUTOMIGRATE_WEBHOOK_MAX_ATTEMPTS", 6)),
    "WEBHOOK_RETRY_BASE_SECONDS": env_number("AUTOMIGRATE_WEBHOOK_RETRY_BASE_SECONDS", 30),
    "EMAIL_STAFF": env_bool("AUTOMIGRATE_EMAIL_STAFF", False),
    "EMAIL_ACTIONS": env_list("AUTOMIGRATE_EMAIL_ACTIONS", "migrate_fail,migrate_error"),
    # /metrics for Prometheus: a bearer token, and/or client addresses allowed without one.
    "METRICS_TOKEN": os.environ.get("AUTOMIGRATE_METRICS_TOKEN", ""),
    "METRICS_ALLOW": env_list("AUTOMIGRATE_METRICS_ALLOW", "127.0.0.1,::1"),
}

# E-mail (notifications to staff): Django's own settings from the environment.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env_number("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "automigrate@localhost")

# Every line goes through a formatter that masks passwords in URLs and
# secret query parameters (/write?p=...): automigrate.redact.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "automigrate.redact.RedactingFormatter",
                  "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "server": {"()": "automigrate.redact.RedactingServerFormatter",
                   "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # runserver's access log, in place of Django's own handler of the same name.
        "django.server": {"class": "logging.StreamHandler", "formatter": "server"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's default "django" handlers (a plain console one under DEBUG) would print
        # each line, tracebacks included, a second time and unmasked: ours only, via root.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # `make run` (automigrate.runner): request lines only for errors, not every live refresh.
        "django.server": {
            "handlers": ["django.server"], "propagate": False,
            "level": "WARNING" if env_bool("AUTOMIGRATE_QUIET_REQUESTS", False) else "INFO",
        },
        # The embedded filesystem broker has no host name; kombu warns about that at every start.
        "kombu.connection": {"level": "ERROR" if CELERY_BROKER_URL.startswith("filesystem://") else "WARNING"},
    },
}

# --- Locked doors: lock-out after failed logins, Content-Security-Policy,
# secrets kept out of error pages, JSON errors and bounded bodies on /api/.
INSTALLED_APPS += ["axes", "csp"]
MIDDLEWARE = [
    MIDDLEWARE[0],  # SecurityMiddleware: its headers on every response, the JSON errors' too
    # /api/, /write, /ping: every error as JSON, also the ones Django would answer with HTML.
    "automigrate.api.errors.JsonErrorsMiddleware",
    *MIDDLEWARE[1:],
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]
# Axes first: it refuses a locked-out client before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(env_number("AUTOMIGRATE_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=env_number("AUTOMIGRATE_LOGIN_COOLOFF_MINUTES", 15))
# Per username and address: an attacker cannot lock the admin out from elsewhere,
# and one office behind a NAT does not lock out each other's accounts.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "automigrate.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# Log who was locked out and from where (passwords are never logged), without
# a start-up banner on every manage.py command.
AXES_SENSITIVE_PARAMETERS: list[str] = []
AXES_VERBOSE = False
# The address is REMOTE_ADDR (axes without django-ipware): X-Forwarded-For is
# the client's to forge. Behind a proxy every client shares the proxy's address,
# so the lock-out is then per username.

# Script, style, images, fonts, connections: our own origin only, nothing
# inline. The pages set widths through CSSOM (static/dashboard/live.js), not
# style attributes; Swagger UI's page style is a file (templates/drf_spectacular/).
# Plotly.js adds an *empty* <style> element and fills it through CSSOM
# (insertRule, which CSP does not govern): the hash of the empty string allows
# exactly that element and no inline style with any content.
EMPTY_INLINE_STYLE = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
# plotly.min.js (of the pinned plotly) also adds MapLibre's fixed style sheet
# as it loads; we draw no maps, but the browser would log each refusal. Its
# hash allows that one text only (the browser test fails if a new Plotly changes it).
PLOTLY_MAPLIBRE_STYLE = "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", EMPTY_INLINE_STYLE, PLOTLY_MAPLIBRE_STYLE, "'report-sample'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Bodies: Django's limit for forms, and ours for the API's JSON (the /write
# endpoint keeps its own, larger one for telegraf batches).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env_number("AUTOMIGRATE_MAX_BODY_BYTES", 1024 * 1024))
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# The debug page and error e-mails: settings, environment, query strings and
# frame variables with passwords (also those inside URLs) masked.
DEFAULT_EXCEPTION_REPORTER = "automigrate.redact.SafeReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "automigrate.redact.SafeReporterFilter"
