"""Settings for the SCRM project, read from environment variables.

With nothing set, the project runs embedded: a SQLite file under ``var/`` and Celery on kombu's
filesystem transport, so ``make run`` needs no service. Production sets ``DATABASE_URL`` and
``REDIS_URL`` (see README.md and docs/configuration.md).
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A local .env (written by `make`) is read if present; real environment variables win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The key `make` would never write: production must bring its own.
INSECURE_DEFAULT_SECRET_KEY = "insecure-dev-key-change-me"

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
if not DEBUG and SECRET_KEY in ("", INSECURE_DEFAULT_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off; refusing to start with the default key."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin with a site that refuses locked-out sign-ins (scrm.lockout).
    "scrm.admin_site.ScrmAdminConfig",
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
    "scrm",
    "members",
    "groups",
    "referrals",
    "campaigns",
    "workspace",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "scrm.urls"
WSGI_APPLICATION = "scrm.wsgi.application"
ASGI_APPLICATION = "scrm.asgi.application"

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

# --- Database -------------------------------------------------------------------------------

DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url("DATABASE_URL", default=DEFAULT_SQLITE_URL)}
_db = DATABASES["default"]
IS_SQLITE = _db["ENGINE"] == "django.db.backends.sqlite3"
if IS_SQLITE:
    VAR_DIR.mkdir(exist_ok=True)
    # Web, worker and beat share one file: WAL lets readers run beside the writer, and
    # IMMEDIATE transactions make writers queue on the busy timeout instead of failing.
    _db["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a Celery worker started by a test sees the test database.
    # TEST_DB_NAME lets two test runs in one checkout keep apart.
    _db["TEST"] = {"NAME": env("TEST_DB_NAME", default=str(VAR_DIR / "test_db.sqlite3"))}
else:
    # Persistent connections: 2-7x more requests/s than reconnecting per request (FACTS.md).
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=300)
    _db["CONN_HEALTH_CHECKS"] = True
    # psycopg prepares a statement after it has run this many times on a connection. Django's
    # cursors bind parameters on the client and never prepare; only the member API's own
    # constant statements run on a preparing cursor (members/api/member_rows.py, planning
    # saved on every page). DB_PREPARE_THRESHOLD=0 turns it off, e.g. behind a PgBouncer
    # older than 1.21 in transaction mode.
    _prepare_threshold = env.int("DB_PREPARE_THRESHOLD", default=5)
    if _prepare_threshold > 0:
        _db.setdefault("OPTIONS", {})["prepare_threshold"] = _prepare_threshold

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="scrm"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Staff sign-in failure counts (scrm.lockout) must hold across web processes: Redis, or else a
# file cache whose counters are locked across processes.
CACHES["lockout"] = (
    {**CACHES["default"], "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="scrm") + ":lockout"}
    if REDIS_URL
    else {
        "BACKEND": "scrm.cache.LockingFileBasedCache",
        "LOCATION": str(VAR_DIR / "cache" / "lockout"),
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
)
# Per-channel send rates (campaigns.ratelimit) are counted where every worker sees them: Redis,
# or else a file cache locked across the processes of this machine.
CACHES["ratelimit"] = (
    {**CACHES["default"], "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="scrm") + ":ratelimit"}
    if REDIS_URL
    else {
        "BACKEND": "scrm.cache.LockingFileBasedCache",
        "LOCATION": str(VAR_DIR / "cache" / "ratelimit"),
        "OPTIONS": {"MAX_ENTRIES": 1_000},
    }
)

# --- Auth -----------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Django's backend, refusing sign-ins after repeated failures (scrm.lockout): a username from
# one address, an address for every username, and a username from anywhere (a higher count).
AUTHENTICATION_BACKENDS = ["scrm.lockout.LockoutModelBackend"]
SCRM_LOGIN_FAILURE_LIMIT = env.int("SCRM_LOGIN_FAILURE_LIMIT", default=5)
SCRM_LOGIN_FAILURE_WINDOW = env.int("SCRM_LOGIN_FAILURE_WINDOW", default=15 * 60)
SCRM_LOGIN_LOCKOUT_SECONDS = env.int("SCRM_LOGIN_LOCKOUT_SECONDS", default=15 * 60)
SCRM_LOGIN_IP_FAILURE_LIMIT = env.int("SCRM_LOGIN_IP_FAILURE_LIMIT", default=20)
SCRM_LOGIN_IP_FAILURE_WINDOW = env.int("SCRM_LOGIN_IP_FAILURE_WINDOW", default=15 * 60)
SCRM_LOGIN_IP_LOCKOUT_SECONDS = env.int("SCRM_LOGIN_IP_LOCKOUT_SECONDS", default=15 * 60)
SCRM_LOGIN_USERNAME_FAILURE_LIMIT = env.int("SCRM_LOGIN_USERNAME_FAILURE_LIMIT", default=50)
SCRM_LOGIN_LOCKOUT_CACHE = "lockout"
# Reverse proxies in front of web that append the client's address to X-Forwarded-For: the
# sign-in lockout counts per address the outermost of them saw. Production sits behind a TLS
# proxy (SECURE_PROXY_SSL_HEADER below); with 0, REMOTE_ADDR is the client.
SCRM_TRUSTED_PROXIES = env.int("SCRM_TRUSTED_PROXIES", default=0 if DEBUG else 1)

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = env("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploaded import files (members.ImportJob). Never served by URL: they hold personal data. Web
# and worker must share this folder (a volume in compose).
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# An upload is deleted when its import finishes; its problems file (which quotes the bad rows)
# and the problems kept on the job row are deleted this many days after (members.services.
# import_jobs.import_files_cleanup, nightly).
SCRM_IMPORT_FILE_RETENTION_DAYS = env.int("SCRM_IMPORT_FILE_RETENTION_DAYS", default=7)

# --- REST API -------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scrm.api.authentication.ApiKeyAuthentication",
        "members.api.auth.MemberTokenAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The API speaks JSON only (docs/api.md): form-encoded bodies have their own readings of
    # a missing boolean (false) or an empty date (none) that a JSON client never means.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "scrm.api.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "scrm.api.schema.ScrmAutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
    # Throttles (scrm.api.throttles) take the client's address as the lockout does: the
    # X-Forwarded-For entry of the outermost trusted proxy, never what the client wrote.
    "NUM_PROXIES": SCRM_TRUSTED_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SCRM API",
    "DESCRIPTION": "Members, tags, orders and benefits for mini-programs and shop backends.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI and ReDoc from our own static files (drf-spectacular-sidecar), never a CDN:
    # CDNs are often blocked in mainland China, and many installs have no outbound network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" with different choices; name each enum after its class.
    "ENUM_NAME_OVERRIDES": {
        "MemberStatusEnum": "members.choices.MemberStatus",
        "OrderStatusEnum": "members.choices.OrderStatus",
        "CouponStatusEnum": "members.choices.CouponStatus",
        "ConsentStatusEnum": "members.choices.ConsentStatus",
        "GuideTaskStatusEnum": "campaigns.models.GuideTaskStatus",
        "ReferralStatusEnum": "referrals.choices.ReferralStatus",
        "RewardStatusEnum": "referrals.choices.RewardStatus",
        "GroupStatusEnum": "groups.choices.GroupStatus",
        "GroupPurposeEnum": "groups.choices.GroupPurpose",
    },
}

# --- Celery ---------------------------------------------------------------------------------

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    # kombu's filesystem transport: real worker and beat processes, no broker to install.
    CELERY_BROKER_URL = "filesystem://localhost//"
    _queue_dir = Path(env("CELERY_FS_DIR", default=str(VAR_DIR / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
        # The transport looks for new messages on a timer: a fifth of a second keeps a welcome
        # message (the priority queue) and a run of small tasks quick on a laptop.
        "polling_interval": 0.2,
    }

CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="scrm")
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_ALWAYS_EAGER = False
# Django's LOGGING already prints task logs; Celery's own handler would print them twice.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic jobs that every install has; operators can edit their timing in the admin.
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "scrm.tasks.heartbeat", "schedule": 60.0},
    "events-redispatch-stale": {"task": "members.events_redispatch_stale", "schedule": 300.0},
    "import-jobs-redispatch-stale": {
        "task": "members.import_jobs_redispatch_stale",
        "schedule": 300.0,
    },
    # Problem files and the bad rows of old imports hold phones and names: deleted after
    # SCRM_IMPORT_FILE_RETENTION_DAYS.
    "import-files-cleanup": {
        "task": "members.import_files_cleanup",
        "schedule": crontab(hour=2, minute=50),
    },
    "points-expire-due": {
        "task": "members.points_expire_due",
        "schedule": crontab(hour=2, minute=10),
    },
    "coupons-expire-due": {
        "task": "members.coupons_expire_due",
        "schedule": crontab(hour=2, minute=20),
    },
    "campaigns-tick": {"task": "campaigns.tick", "schedule": 60.0},
    "member-metrics-refresh": {
        "task": "members.member_metrics_refresh",
        "schedule": crontab(hour=3, minute=30),
    },
    # After the metrics refresh: fit the value models on the day's history, score everyone.
    "member-value-refresh": {
        "task": "members.member_value_refresh",
        "schedule": crontab(hour=4, minute=0),
    },
    # Rule tags follow their members through the day (purchases, consent, profile changes);
    # once an hour keeps them fresh at the cost of one set-based pass per rule tag.
    "rule-tags-refresh": {
        "task": "members.rule_tags_refresh",
        "schedule": crontab(minute=25),
    },
    "guide-tasks-expire": {
        "task": "campaigns.guide_tasks_expire",
        "schedule": crontab(minute=40),
    },
    "referrals-expire-due": {
        "task": "referrals.referrals_expire_due",
        "schedule": crontab(hour=2, minute=40),
    },
    # Flash-sale groups: members told before the end, groups dissolved on time (docs/groups.md).
    "groups-flash-notify-due": {"task": "groups.flash_groups_notify_due", "schedule": 60.0},
    "groups-flash-dissolve-due": {"task": "groups.flash_groups_dissolve_due", "schedule": 60.0},
    "groups-broadcasts-dispatch": {"task": "groups.broadcasts_dispatch", "schedule": 30.0},
    "groups-layering-redispatch-stale": {
        "task": "groups.layering_runs_redispatch_stale",
        "schedule": 300.0,
    },
}

# --- Security (production) ------------------------------------------------------------------

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# --- SCRM business settings -----------------------------------------------------------------

SCRM_DEFAULT_PHONE_REGION = env("SCRM_DEFAULT_PHONE_REGION", default="CN")
SCRM_POINTS_PER_YUAN = env.float("SCRM_POINTS_PER_YUAN", default=1.0)
SCRM_POINTS_VALID_DAYS = env.int("SCRM_POINTS_VALID_DAYS", default=365)
# Member metrics (docs/metrics.md): RFM over this many days of paid orders, and the lifecycle
# thresholds in local days (keys left out take the defaults in members.services.metrics).
SCRM_RFM_WINDOW_DAYS = env.int("SCRM_RFM_WINDOW_DAYS", default=365)
SCRM_LIFECYCLE = {
    "new_days": 30,
    "won_back_days": 30,
    "at_risk_after": 90,
    "dormant_after": 180,
    "churned_after": 365,
}
# Predictive member value (docs/value.md): the fit's window of first purchases and sample
# size, the minimum history before BG/NBD and Gamma-Gamma replace the fallbacks, the CLV
# horizon and yearly discount rate, and the purchase gap assumed when nothing else is known.
SCRM_VALUE_CALIBRATION_DAYS = env.int("SCRM_VALUE_CALIBRATION_DAYS", default=730)
SCRM_VALUE_FIT_MAX_MEMBERS = env.int("SCRM_VALUE_FIT_MAX_MEMBERS", default=100_000)
SCRM_VALUE_MIN_REPEAT_BUYERS = env.int("SCRM_VALUE_MIN_REPEAT_BUYERS", default=100)
SCRM_VALUE_CLV_HORIZON_DAYS = env.int("SCRM_VALUE_CLV_HORIZON_DAYS", default=365)
SCRM_VALUE_DISCOUNT_RATE = env.float("SCRM_VALUE_DISCOUNT_RATE", default=0.10)
SCRM_VALUE_DEFAULT_INTERVAL_DAYS = env.int("SCRM_VALUE_DEFAULT_INTERVAL_DAYS", default=90)
SCRM_EXTRA_SOURCE_CHANNELS: list[tuple[str, str]] = []
SCRM_MEMBER_TOKEN_MAX_AGE = env.int("SCRM_MEMBER_TOKEN_MAX_AGE", default=30 * 24 * 3600)
SCRM_WECHAT_APP_ID = env("SCRM_WECHAT_APP_ID", default="")
SCRM_WECHAT_APP_SECRET = env("SCRM_WECHAT_APP_SECRET", default="")
# In DEBUG without a real app id, logins use the dev client: code "dev-<x>" signs in a test
# member. Production always talks to WeChat, so a forgotten app id fails closed.
SCRM_WECHAT_CLIENT = env(
    "SCRM_WECHAT_CLIENT",
    default="members.wechat.DevMiniProgramClient"
    if DEBUG and not SCRM_WECHAT_APP_ID
    else "members.wechat.MiniProgramClient",
)

# Referrals (docs/referrals.md). The link a referral QR code carries, with {code} in it: an H5
# page or a mini-program "普通链接二维码" rule that opens the mini-program with the code.
SCRM_REFERRAL_LINK_TEMPLATE = env(
    "SCRM_REFERRAL_LINK_TEMPLATE", default="https://example.com/r/{code}"
)
SCRM_REFERRAL_CODE_LENGTH = env.int("SCRM_REFERRAL_CODE_LENGTH", default=6)
# Only new customers can be referred: no order ever, and joined at most this long ago.
SCRM_REFERRAL_NEW_MEMBER_HOURS = env.int("SCRM_REFERRAL_NEW_MEMBER_HOURS", default=72)
# First-order window for referrals made while no programme is active (no rewards then).
SCRM_REFERRAL_QUALIFY_DAYS = env.int("SCRM_REFERRAL_QUALIFY_DAYS", default=30)
SCRM_REFERRAL_MAX_DEPTH = env.int("SCRM_REFERRAL_MAX_DEPTH", default=100)
# More sign-ups than this from one code within the minutes below flags them all for review.
SCRM_REFERRAL_BURST_LIMIT = env.int("SCRM_REFERRAL_BURST_LIMIT", default=10)
SCRM_REFERRAL_BURST_MINUTES = env.int("SCRM_REFERRAL_BURST_MINUTES", default=60)
# Referral rate and k-factor count members with a paid order within this many days as active.
SCRM_REFERRAL_ACTIVE_DAYS = env.int("SCRM_REFERRAL_ACTIVE_DAYS", default=365)
# A font with CJK glyphs for Chinese poster titles ("" tries the usual Noto/WenQuanYi paths).
SCRM_REFERRAL_POSTER_FONT = env("SCRM_REFERRAL_POSTER_FONT", default="")

# Community groups (docs/groups.md). Seats of a new group (WeCom customer groups hold 500), the
# link a join code's QR carries (with {code} in it), the length of new codes, and how many
# hours before a flash group's end its members are told (0: not told beforehand).
SCRM_GROUP_DEFAULT_CAPACITY = env.int("SCRM_GROUP_DEFAULT_CAPACITY", default=500)
SCRM_GROUP_JOIN_LINK_TEMPLATE = env(
    "SCRM_GROUP_JOIN_LINK_TEMPLATE", default="https://example.com/g/{code}"
)
SCRM_GROUP_CODE_LENGTH = env.int("SCRM_GROUP_CODE_LENGTH", default=6)
SCRM_GROUP_DISSOLVE_NOTICE_HOURS = env.int("SCRM_GROUP_DISSOLVE_NOTICE_HOURS", default=24)

# Segment rule trees (docs/segments.md): refused beyond these sizes, with the limit stated.
SCRM_SEGMENT_MAX_DEPTH = env.int("SCRM_SEGMENT_MAX_DEPTH", default=6)
SCRM_SEGMENT_MAX_CONDITIONS = env.int("SCRM_SEGMENT_MAX_CONDITIONS", default=50)

# --- Campaign engine (docs/campaigns.md) ------------------------------------------------------

# Marketing waits outside these local hours (deferred, never dropped); "" switches it off.
SCRM_QUIET_HOURS = env.list("SCRM_QUIET_HOURS", default=["21:00", "09:00"])
# One contact budget across channels, and per channel: [[sends, days], ...] over rolling windows.
# WeCom allows a customer 4 mass messages a month from one enterprise (FACTS.md).
SCRM_FREQUENCY_CAPS = {
    "all": [[1, 1], [3, 7]],
    "channels": {"wecom": [[4, 30]], "sms": [[4, 30]], "email": [[2, 7]]},
}
# Repurchase campaigns also reach members whose due day passed up to this many days ago
# (once per purchase cycle), so a missed day or a moved prediction loses nobody.
SCRM_REPURCHASE_CATCH_UP_DAYS = env.int("SCRM_REPURCHASE_CATCH_UP_DAYS", default=14)
# Welcome messages and other event-triggered first steps go out through this queue, which a
# worker of its own consumes, so they never wait behind a mass campaign.
SCRM_PRIORITY_QUEUE = env("SCRM_PRIORITY_QUEUE", default="scrm.priority")
# Brand-wide holdout: this share of members never gets marketing, to measure its total uplift.
SCRM_GLOBAL_HOLDOUT_PERCENT = env.float("SCRM_GLOBAL_HOLDOUT_PERCENT", default=0)
SCRM_DISPATCH_BATCH = env.int("SCRM_DISPATCH_BATCH", default=500)
SCRM_DISPATCH_PARALLEL = env.int("SCRM_DISPATCH_PARALLEL", default=2)
SCRM_DISPATCH_MAX_ATTEMPTS = env.int("SCRM_DISPATCH_MAX_ATTEMPTS", default=5)
# A claim older than this belongs to a worker that died: the sweep hands it back.
SCRM_DISPATCH_CLAIM_TIMEOUT = env.int("SCRM_DISPATCH_CLAIM_TIMEOUT", default=120)
# Seconds a fan-out or sending task works before it queues its successor: well inside the
# broker's visibility timeout and Celery's time limits.
SCRM_TASK_BUDGET_SECONDS = env.float("SCRM_TASK_BUDGET_SECONDS", default=50.0)
SCRM_WEBHOOK_URL = env("SCRM_WEBHOOK_URL", default="")
SCRM_WEBHOOK_SECRET = env("SCRM_WEBHOOK_SECRET", default="")
SCRM_WEBHOOK_TIMEOUT = env.float("SCRM_WEBHOOK_TIMEOUT", default=5.0)

# --- Delivery channels (docs/channels.md) ----------------------------------------------------

# Sends per second per channel, shared by all workers (docs/channels.md); a channel left out is
# not limited. From the environment as "sms=50;email=20".
SCRM_CHANNEL_RATES = env.dict(
    "SCRM_CHANNEL_RATES",
    cast={"value": int},
    default={"sms": 50, "miniprogram": 100, "wecom": 100, "wecom_group": 10, "email": 20},
)
SCRM_CHANNEL_RATE_CACHE = "ratelimit"
# Provider calls: a timeout per request (a timeout is retried later with backoff), and how
# many requests one worker has in flight for per-message APIs (SMS, mini-program).
SCRM_CHANNEL_HTTP_TIMEOUT = env.float("SCRM_CHANNEL_HTTP_TIMEOUT", default=5.0)
SCRM_CHANNEL_HTTP_CONCURRENCY = env.int("SCRM_CHANNEL_HTTP_CONCURRENCY", default=8)
# WeCom (customer contact): with both set, 1:1 guide tasks and group broadcasts are created in
# WeCom; without them, guides send 1:1 messages from their workspace task list.
SCRM_WECOM_CORP_ID = env("SCRM_WECOM_CORP_ID", default="")
SCRM_WECOM_SECRET = env("SCRM_WECOM_SECRET", default="")
SCRM_WECOM_API_BASE = env("SCRM_WECOM_API_BASE", default="https://qyapi.weixin.qq.com")
# A guide task nobody sent within this many hours expires.
SCRM_GUIDE_TASK_TTL_HOURS = env.int("SCRM_GUIDE_TASK_TTL_HOURS", default=72)
# Mini-program subscription messages use SCRM_WECHAT_APP_ID / SCRM_WECHAT_APP_SECRET (above);
# which version of the mini-program a message opens: formal, trial or developer.
SCRM_WECHAT_API_BASE = env("SCRM_WECHAT_API_BASE", default="https://api.weixin.qq.com")
SCRM_MINIPROGRAM_STATE = env("SCRM_MINIPROGRAM_STATE", default="formal")
# SMS through Aliyun SendSms: the channel is usable when the key pair and the approved
# signature (the brand name carriers show in 【】) are set.
SCRM_SMS_ACCESS_KEY_ID = env("SCRM_SMS_ACCESS_KEY_ID", default="")
SCRM_SMS_ACCESS_KEY_SECRET = env("SCRM_SMS_ACCESS_KEY_SECRET", default="")
SCRM_SMS_SIGN_NAME = env("SCRM_SMS_SIGN_NAME", default="")
SCRM_SMS_REGION = env("SCRM_SMS_REGION", default="cn-hangzhou")
SCRM_SMS_ENDPOINT = env("SCRM_SMS_ENDPOINT", default="https://dysmsapi.aliyuncs.com/")
# Every marketing SMS template must carry this, and a reply of one of these words (case and
# punctuation ignored; the Chinese ones anywhere in the reply) withdraws the member's SMS
# consent. The reply callback is /api/v1/sms/replies/<SCRM_SMS_INBOUND_TOKEN>/.
SCRM_SMS_OPT_OUT_TEXT = env("SCRM_SMS_OPT_OUT_TEXT", default="拒收请回复R")
SCRM_SMS_OPT_OUT_WORDS = env.list(
    "SCRM_SMS_OPT_OUT_WORDS", default=["TD", "T", "R", "N", "退订", "拒收", "取消订阅"]
)
SCRM_SMS_INBOUND_TOKEN = env("SCRM_SMS_INBOUND_TOKEN", default="")
# Email: Django's email backend from EMAIL_URL (smtp+tls://user:password@host:587, or the
# console in the embedded default); the channel is usable once SCRM_EMAIL_FROM is set.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
SCRM_EMAIL_FROM = env("SCRM_EMAIL_FROM", default="")
# Sent as the List-Unsubscribe header of campaign emails, e.g. "<mailto:unsubscribe@brand.cn>".
SCRM_EMAIL_LIST_UNSUBSCRIBE = env("SCRM_EMAIL_LIST_UNSUBSCRIBE", default="")
