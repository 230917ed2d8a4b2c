"""Settings for the chat server.

Every value an operator may change comes from the environment; the defaults
work on a developer machine (MariaDB ``chat`` on 127.0.0.1:3306 as root,
Redis on 127.0.0.1:6379). README.md lists every variable.
"""

import socket
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .common.client_ip import parse_networks
from .env import env_bool, env_int, env_list, env_str, parse_rate, sentinel_layer_hosts

BASE_DIR = Path(__file__).resolve().parent.parent

# ``dev`` (the default) or ``production``. Production refuses to start without
# a real secret key and never runs with DEBUG on unless told explicitly.
CHAT_ENV = env_str("CHAT_ENV", "dev")
IS_PRODUCTION = CHAT_ENV == "production"

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if IS_PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when CHAT_ENV=production")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105 - dev only, refused above

# Off unless asked for, in development too: `make run` is what load tests and
# client suites measure, and DEBUG puts a query log on every database call.
DEBUG = env_bool("DJANGO_DEBUG", False)
# daphne serves /static/ itself (development); production lets the reverse
# proxy serve STATIC_ROOT after collectstatic.
CHAT_SERVE_STATIC = env_bool("CHAT_SERVE_STATIC", not IS_PRODUCTION)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if IS_PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- HTTP edge: TLS, proxies, body size (README.md documents each) ----------
# Production assumes a TLS-terminating reverse proxy in front of daphne; each
# secure default can be switched off on its own.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", IS_PRODUCTION)
# Load balancers probe over plain HTTP: the health check is never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", IS_PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", IS_PRODUCTION)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", IS_PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", IS_PRODUCTION)
# Under /api/ a CSRF failure is a JSON ``forbidden`` (PROTOCOL.md), never HTML.
CSRF_FAILURE_VIEW = "chat_project.pages.csrf_failure"
# Peers (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are
# believed (chat_project/common/client_ip.py). Nobody in production unless listed;
# the local machine in development.
CHAT_TRUSTED_PROXIES = env_list("CHAT_TRUSTED_PROXIES", [] if IS_PRODUCTION else ["127.0.0.1/8", "::1"])
try:
    parse_networks(CHAT_TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(f"CHAT_TRUSTED_PROXIES: {exc}") from None
# Largest request body (bytes) before daphne hands it to Django; larger ones
# are refused with 413 unread (chat_project/body_limit.py). The largest valid
# request, a 4000-code-point message, is under 50 KB even with every code
# point JSON-escaped (12 bytes for an escaped surrogate pair).
CHAT_MAX_BODY_BYTES = env_int("CHAT_MAX_BODY_BYTES", 256 * 1024)
# Bigger limits for some path prefixes (longest prefix wins), e.g. uploads.
CHAT_MAX_BODY_BYTES_BY_PATH: dict[str, int] = {}
# Django's own check on request.body agrees with the middleware, never stricter.
DATA_UPLOAD_MAX_MEMORY_SIZE = max([CHAT_MAX_BODY_BYTES, *CHAT_MAX_BODY_BYTES_BY_PATH.values()])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "profiles",
    "conversations",
    "messaging",
    "unread",
    "webpush",
]

MIDDLEWARE = [
    # Outermost: the last to see a response (chat_project/middleware.py).
    "chat_project.middleware.ReleaseRenderedData",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chat_project.urls"
# PROTOCOL.md: paths work with and without a trailing slash; the URL patterns
# accept both, so no redirect is ever needed (a redirect would drop a POST body).
APPEND_SLASH = False

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

ASGI_APPLICATION = "chat_project.asgi.application"
WSGI_APPLICATION = None

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        # Django's MySQL backend; request threads hand their connection on (chat_project/dbpool/base.py).
        "ENGINE": "chat_project.dbpool",
        "NAME": env_str("CHAT_DB_NAME", "chat"),
        "USER": env_str("CHAT_DB_USER", "root"),
        "PASSWORD": env_str("CHAT_DB_PASSWORD", ""),
        "HOST": env_str("CHAT_DB_HOST", "127.0.0.1"),
        "PORT": env_str("CHAT_DB_PORT", "3306"),
        # Persistent connections, checked before reuse: a new MariaDB connection
        # per request or task cost 7-10 % of daphne's time (DESIGN.md).
        "CONN_MAX_AGE": env_int("CHAT_DB_CONN_MAX_AGE", 300),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            "charset": "utf8mb4",
            # lock_wait_timeout bounds a wait on a table lock (LOCK TABLES, DDL) as
            # innodb_lock_wait_timeout bounds a row lock: a send never hangs on one.
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES', innodb_lock_wait_timeout=5, lock_wait_timeout=5",
        },
        "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "profiles.User"

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
# The JavaScript SDK's modules (sdk/js/src) as /static/sdk/, for the UI and other pages to import.
STATICFILES_DIRS = [BASE_DIR / "static", ("sdk", BASE_DIR / "sdk" / "js" / "src")]
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Media: uploaded avatars (profiles/avatars.py; README.md documents each) --
# Files go through Django's storage API: STORAGES["avatars"] when an operator
# adds one (any storage backend), else the default storage, the local
# MEDIA_ROOT. With CHAT_SERVE_STATIC daphne serves MEDIA_URL/avatars/… itself
# (development); in production the reverse proxy serves MEDIA_ROOT at MEDIA_URL.
MEDIA_ROOT = Path(env_str("CHAT_MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = env_str("CHAT_MEDIA_URL", "/media/").rstrip("/") + "/"
# Largest avatar file accepted, and largest image (width x height, read from
# its header before any pixel is decoded: decompression bombs).
CHAT_AVATAR_MAX_BYTES = env_int("CHAT_AVATAR_MAX_BYTES", 2 * 1024 * 1024)
CHAT_AVATAR_MAX_PIXELS = env_int("CHAT_AVATAR_MAX_PIXELS", 20_000_000)
# Stored avatars fit in this square (pixels).
CHAT_AVATAR_SIZE = env_int("CHAT_AVATAR_SIZE", 256)
CHAT_AVATAR_RATE = parse_rate("CHAT_AVATAR_RATE", env_str("CHAT_AVATAR_RATE", "10/h"))
# The upload's body may hold the file plus its multipart framing.
CHAT_MAX_BODY_BYTES_BY_PATH["/api/v1/me/avatar"] = max(CHAT_MAX_BODY_BYTES, CHAT_AVATAR_MAX_BYTES + 64 * 1024)
# Attachments (messaging/attachments.py, PROTOCOL.md 1.2): stored through
# STORAGES["attachments"] when an operator adds one (e.g. S3, see README), else
# the default storage under MEDIA_ROOT/attachments/ (never served by MEDIA_URL:
# every download goes through the access check of GET attachments/{id}).
CHAT_ATTACHMENT_MAX_BYTES = env_int("CHAT_ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024)
# Largest image (width x height, from its header: decompression bombs are
# refused unread). Decoding takes about 4 bytes a pixel, twice (the copy that
# drops the metadata): 25 megapixels is about 200 MB at the peak of one upload.
CHAT_ATTACHMENT_MAX_PIXELS = env_int("CHAT_ATTACHMENT_MAX_PIXELS", 25_000_000)
CHAT_ATTACHMENT_RATE = parse_rate("CHAT_ATTACHMENT_RATE", env_str("CHAT_ATTACHMENT_RATE", "60/h"))
# Uploads never attached to a message are deleted after this long (the sweeper below).
CHAT_ATTACHMENT_UNATTACHED_TTL_SECONDS = env_int("CHAT_ATTACHMENT_UNATTACHED_TTL_SECONDS", 24 * 3600)
CHAT_ATTACHMENT_SWEEP_INTERVAL_SECONDS = env_int("CHAT_ATTACHMENT_SWEEP_INTERVAL_SECONDS", 600)
CHAT_MAX_BODY_BYTES_BY_PATH["/api/v1/attachments"] = max(CHAT_MAX_BODY_BYTES, CHAT_ATTACHMENT_MAX_BYTES + 64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max([CHAT_MAX_BODY_BYTES, *CHAT_MAX_BODY_BYTES_BY_PATH.values()])
# Bodies and uploaded files over this go to temporary files on disk (Django's
# request body spool and TemporaryFileUploadHandler), never whole in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("CHAT_FILE_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
# --- end of media -------------------------------------------------------------

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- Redis -----------------------------------------------------------------
# Data structures (conversation lists, unread, offline, profiles, online) and
# the Django cache. Set CHAT_REDIS_CLUSTER=on to talk to a Redis Cluster: every
# key is hash-tagged so one operation stays within one slot.
CHAT_REDIS_URL = env_str("CHAT_REDIS_URL", "redis://127.0.0.1:6379/0")
CHAT_REDIS_CLUSTER = env_bool("CHAT_REDIS_CLUSTER", False)
# Prefix of every data key, so several deployments (or the test suite) can
# share one Redis.
CHAT_REDIS_PREFIX = env_str("CHAT_REDIS_PREFIX", "chat")

CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CHAT_REDIS_URL,
        "KEY_PREFIX": CHAT_REDIS_PREFIX + ":cache",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
if CHAT_REDIS_CLUSTER:
    # django-redis has no cluster client: Django's RedisCache with a RedisCluster
    # client (chat_project/common/cluster_cache.py); LOCATION lists the startup nodes.
    CACHES["default"] = {
        "BACKEND": "chat_project.common.cluster_cache.ClusterRedisCache",
        "LOCATION": CHAT_REDIS_URL,
        "KEY_PREFIX": CHAT_REDIS_PREFIX + ":cache",
    }
# This host's name in the cluster (drain_sockets reaches the daphnes of one host).
CHAT_NODE_NAME = env_str("CHAT_NODE_NAME", "") or socket.gethostname()
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Channels --------------------------------------------------------------
CHAT_CHANNEL_LAYER_URL = env_str("CHAT_CHANNEL_LAYER_URL", "redis://127.0.0.1:6379/2")
# ``core``: channels-redis's list-based layer (a queue per process in Redis,
# with capacity and expiry; 4 round trips per event received). ``pubsub``:
# PUBLISH/SUBSCRIBE (1 round trip per group_send, events pushed to the
# process; nothing queued in Redis, so nothing waits out a restart).
CHAT_CHANNEL_LAYER_BACKEND = env_str("CHAT_CHANNEL_LAYER_BACKEND", "pubsub")
# Several Redis masters, each failed over by Sentinel: the layer shards channels
# and groups over them (channels-redis hashes each name onto one host of the
# list, so every node must list the same masters in the same order).
CHAT_CHANNEL_LAYER_SENTINELS = env_list("CHAT_CHANNEL_LAYER_SENTINELS", [])
CHAT_CHANNEL_LAYER_MASTERS = env_list("CHAT_CHANNEL_LAYER_MASTERS", [])
# redis-py's default socket timeouts break idle blocking receives
# (channels_redis issue 422); None means wait as long as needed.
_LAYER_TIMEOUTS = {"socket_timeout": None, "socket_connect_timeout": 5}
_LAYER_HOSTS: list[dict[str, Any]] = [{"address": CHAT_CHANNEL_LAYER_URL, **_LAYER_TIMEOUTS}]
if CHAT_CHANNEL_LAYER_SENTINELS or CHAT_CHANNEL_LAYER_MASTERS:
    if not (CHAT_CHANNEL_LAYER_SENTINELS and CHAT_CHANNEL_LAYER_MASTERS):
        raise ImproperlyConfigured("CHAT_CHANNEL_LAYER_SENTINELS and CHAT_CHANNEL_LAYER_MASTERS go together")
    _LAYER_HOSTS = sentinel_layer_hosts(
        "CHAT_CHANNEL_LAYER_SENTINELS", CHAT_CHANNEL_LAYER_SENTINELS, CHAT_CHANNEL_LAYER_MASTERS, **_LAYER_TIMEOUTS
    )
_LAYER_CONFIG: dict = {
    "hosts": _LAYER_HOSTS,
    # Prefix of the layer's keys: a second instance (or a test run)
    # sharing this Redis sets its own.
    "prefix": env_str("CHAT_CHANNEL_PREFIX", "asgi"),
}
if CHAT_CHANNEL_LAYER_BACKEND == "pubsub":
    # channels-redis's RedisPubSubChannelLayer, each socket's inbox lighter (common/pubsub_layer.py).
    _LAYER_BACKEND = "chat_project.common.pubsub_layer.SlimPubSubChannelLayer"
elif CHAT_CHANNEL_LAYER_BACKEND == "core":
    _LAYER_BACKEND = "channels_redis.core.RedisChannelLayer"
    # The default capacity (100) silently drops group_send frames under
    # load; see docs/architecture.md. Dropped pushes are detected (numbered)
    # and clients close the gap with sync.
    _LAYER_CONFIG.update(capacity=env_int("CHAT_CHANNEL_CAPACITY", 10000), expiry=60)
else:
    raise ImproperlyConfigured(f"CHAT_CHANNEL_LAYER_BACKEND must be core or pubsub, got {CHAT_CHANNEL_LAYER_BACKEND!r}")
CHANNEL_LAYERS = {"default": {"BACKEND": _LAYER_BACKEND, "CONFIG": _LAYER_CONFIG}}

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# At-least-once: a task is acknowledged only once it finished, and a worker
# that dies mid-task hands it back to the broker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "realtime"
CELERY_TASK_ROUTES = {
    "messaging.tasks.fan_out_batch": {"queue": "realtime"},
    "messaging.tasks.fan_out_message": {"queue": "realtime"},
    "messaging.tasks.sweep_unfinished_fan_out": {"queue": "delayed"},
    "messaging.tasks.sweep_attachments": {"queue": "delayed"},
    "conversations.tasks.rebuild_list_state": {"queue": "delayed"},
    # Its own queue and worker: a slow push service never holds a realtime worker (webpush/tasks.py).
    "webpush.tasks.deliver": {"queue": "webpush"},
}
# Redelivery of an unacknowledged task happens after this many seconds; keep
# every countdown well below it (DESIGN.md).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    # Prefix of every broker key (queues included): a second instance (or a
    # test run) sharing this Redis database sets its own.
    "global_keyprefix": env_str("CELERY_BROKER_PREFIX", ""),
}
_BROKER_SCHEME = CELERY_BROKER_URL.split("://", 1)[0]
if _BROKER_SCHEME in ("redis", "rediss"):
    # Kombu's Redis transport with one client per channel, not one per command (common/kombu_redis.py).
    CELERY_BROKER_TRANSPORT = "chat_project.common.kombu_redis:Transport"
elif _BROKER_SCHEME in ("amqp", "amqps", "pyamqp"):
    # RabbitMQ (a failover list: amqp://…/vhost;amqp://…/vhost): quorum queues,
    # replicated by Raft. They take no global QoS (Celery's
    # worker_detect_quorum_queues, on by default, switches it off) and no ETA
    # held in a worker: a countdown goes through Celery's native delayed
    # delivery (TTL'd quorum queues, RabbitMQ >= 3.10), which needs the queues
    # behind a topic exchange, not a direct one (docs/architecture.md).
    from kombu import Exchange, Queue

    _CHAT_EXCHANGE = Exchange("chat", type="topic")
    CELERY_TASK_QUEUES = [
        Queue(name, _CHAT_EXCHANGE, routing_key=name, queue_arguments={"x-queue-type": "quorum"})
        for name in ("realtime", "delayed", "retry", "webpush")
    ]
    CELERY_TASK_DEFAULT_EXCHANGE = "chat"
    CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
    CELERY_TASK_DEFAULT_ROUTING_KEY = "realtime"
    CELERY_TASK_DEFAULT_QUEUE_TYPE = "quorum"
    # Celery's default, spelled out: it sees the quorum queues and turns global QoS off.
    CELERY_WORKER_DETECT_QUORUM_QUEUES = True
    # Publisher confirms: a send returns once the quorum has the task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery beat runs with the delayed worker on every node; a lease in Redis lets
# exactly one of them fire the schedule (chat_project/beat.py).
CELERY_BEAT_SCHEDULER = "chat_project.beat:LeasedScheduler"
# How long the beat lease lives unless its holder renews it (each tick, at
# least every third of it): a stopped node's beat is replaced within this.
CHAT_BEAT_LEASE_SECONDS = env_int("CHAT_BEAT_LEASE_SECONDS", 15)
CELERY_BEAT_SCHEDULE = {
    "sweep-unfinished-fan-out": {
        "task": "messaging.tasks.sweep_unfinished_fan_out",
        "schedule": float(env_int("CHAT_SWEEP_INTERVAL_SECONDS", 5)),
        "options": {"queue": "delayed"},
    },
    "sweep-attachments": {
        "task": "messaging.tasks.sweep_attachments",
        "schedule": float(CHAT_ATTACHMENT_SWEEP_INTERVAL_SECONDS),
        "options": {"queue": "delayed"},
    },
}

# --- REST API --------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes a missing credential
        # a 401, as PROTOCOL.md requires.
        "profiles.auth.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # DRF's JSON, encoded by orjson (chat_project/common/json_renderer.py).
    "DEFAULT_RENDERER_CLASSES": ["chat_project.common.json_renderer.FastJSONRenderer"],
    "EXCEPTION_HANDLER": "chat_project.common.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # ?format= is an ordinary (ignored) query parameter, never a renderer switch or a 404.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chat server API",
    # Swagger UI renders this Markdown above the operations: the REST summary,
    # then the WebSocket, which OpenAPI cannot describe (docs/websocket.md).
    "DESCRIPTION": (
        "One-to-one chat: REST under `/api/v1/` (below) and one WebSocket at `/ws/chat/` (after this "
        "paragraph). Authenticate with `Authorization: Token <key>` from `auth/token` or `auth/register`. "
        'Every error is `{"code", "detail", "errors"?}`; each operation lists the ones it can answer. '
        "Ids are integers below 2^53. The whole contract in prose: `docs/api.md` in the repository.\n\n"
        + (BASE_DIR / "docs" / "websocket.md").read_text(encoding="utf-8")
    ),
    # The contract's version, as docs/api.md states it (tests/test_schema.py checks both agree).
    "VERSION": "1.2",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "chat_project.common.schema.strip_trailing_slashes",
    ],
    # Swagger UI served from this server (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Product limits (README.md documents each) -------------------------------
# ``off`` switches every rate limit off at once: for load tests and benchmarks
# that drive thousands of users from one address. Production never sets it.
CHAT_RATE_LIMITS = env_bool("CHAT_RATE_LIMITS", True)
# Messages one user may send, over REST and WebSocket together.
CHAT_SEND_RATE = parse_rate("CHAT_SEND_RATE", env_str("CHAT_SEND_RATE", "30/10s"))
# Login attempts (auth/token, the login page) and registrations per client address.
CHAT_LOGIN_RATE = parse_rate("CHAT_LOGIN_RATE", env_str("CHAT_LOGIN_RATE", "20/min"))
CHAT_REGISTER_RATE = parse_rate("CHAT_REGISTER_RATE", env_str("CHAT_REGISTER_RATE", "10/h"))
# How long after sending a message its sender may recall it.
CHAT_RECALL_WINDOW_SECONDS = env_int("CHAT_RECALL_WINDOW_SECONDS", 120)
# How long after sending a message its sender may edit it (PROTOCOL.md 1.2: 48 hours).
CHAT_EDIT_WINDOW_SECONDS = env_int("CHAT_EDIT_WINDOW_SECONDS", 172800)
# Edits per user (PATCH messages/{msg_id}).
CHAT_EDIT_RATE = parse_rate("CHAT_EDIT_RATE", env_str("CHAT_EDIT_RATE", "30/min"))
# Reactions set or removed per user (PUT/DELETE messages/{msg_id}/reaction).
CHAT_REACTION_RATE = parse_rate("CHAT_REACTION_RATE", env_str("CHAT_REACTION_RATE", "60/min"))
# Blocks and unblocks per user (PUT/DELETE users/{user_id}/block).
CHAT_BLOCK_RATE = parse_rate("CHAT_BLOCK_RATE", env_str("CHAT_BLOCK_RATE", "30/min"))
# Searches per user (GET search).
CHAT_SEARCH_RATE = parse_rate("CHAT_SEARCH_RATE", env_str("CHAT_SEARCH_RATE", "30/min"))
# Conversation settings changes per user (PATCH conversations/{id}).
CHAT_CONVERSATION_SETTINGS_RATE = parse_rate(
    "CHAT_CONVERSATION_SETTINGS_RATE", env_str("CHAT_CONVERSATION_SETTINGS_RATE", "60/min")
)

# --- Web Push (PROTOCOL.md 1.2; webpush/, README "Web Push") -----------------
# The VAPID ``sub`` claim (RFC 8292): how a push service reaches the operator,
# mailto: or https:. The key pair itself is made on first use and kept in the
# database (t_webpush_vapid_key), shared by every node.
CHAT_WEBPUSH_SUBJECT = env_str("CHAT_WEBPUSH_SUBJECT", "mailto:webpush@example.invalid")
# off: pushes carry only the ids, no nickname and no preview of the content.
CHAT_WEBPUSH_PREVIEW = env_bool("CHAT_WEBPUSH_PREVIEW", True)
# Lets subscriptions name a push service on 127.0.0.1/::1 (tests, local
# development). Every other loopback, private or link-local host stays refused.
CHAT_WEBPUSH_ALLOW_LOOPBACK = env_bool("CHAT_WEBPUSH_ALLOW_LOOPBACK", False)
# The test suite's guard: no name resolved outside (only *.test and localhost,
# which tests resolve themselves) and nothing POSTed anywhere but loopback.
CHAT_WEBPUSH_LOCAL_ONLY = env_bool("CHAT_WEBPUSH_LOCAL_ONLY", False)
# Subscriptions kept per user (the oldest go), and how often a user may change them.
CHAT_WEBPUSH_MAX_SUBSCRIPTIONS = env_int("CHAT_WEBPUSH_MAX_SUBSCRIPTIONS", 10)
CHAT_WEBPUSH_SUBSCRIBE_RATE = parse_rate("CHAT_WEBPUSH_SUBSCRIBE_RATE", env_str("CHAT_WEBPUSH_SUBSCRIBE_RATE", "30/h"))
# Pushes per recipient (every subscription of one message counts once); over it, left out.
CHAT_WEBPUSH_RATE = parse_rate("CHAT_WEBPUSH_RATE", env_str("CHAT_WEBPUSH_RATE", "20/min"))
# How long a push service keeps an undelivered message, and how long the worker waits for one.
CHAT_WEBPUSH_TTL_SECONDS = env_int("CHAT_WEBPUSH_TTL_SECONDS", 24 * 3600)
CHAT_WEBPUSH_CONNECT_TIMEOUT_SECONDS = env_int("CHAT_WEBPUSH_CONNECT_TIMEOUT_SECONDS", 3)
CHAT_WEBPUSH_TIMEOUT_SECONDS = env_int("CHAT_WEBPUSH_TIMEOUT_SECONDS", 5)
# Requests one deliver task has in flight at once.
CHAT_WEBPUSH_CONCURRENCY = env_int("CHAT_WEBPUSH_CONCURRENCY", 8)
# An accept that cannot commit within this many seconds of taking its message
# id is abandoned, never acked; sync cursors stay this far behind the clock.
CHAT_ACCEPT_DEADLINE_SECONDS = env_int("CHAT_ACCEPT_DEADLINE_SECONDS", 5)
# Largest WebSocket text frame accepted; a larger one gets validation_error
# and the socket stays open, up to daphne's own ceiling
# (--websocket-max-message-size/--websocket-max-frame-size, 8 MiB in the
# Procfile and the test servers), beyond which daphne closes it with 1009.
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 65536)
# Threads per daphne process that run WebSocket reads (sends go to the committer).
CHAT_SOCKET_DB_THREADS = env_int("CHAT_SOCKET_DB_THREADS", 2)
# Group commit (messaging/accept.py): the most sends one transaction takes, and
# how long an idle committer waits for company before it commits a lone send.
CHAT_SEND_BATCH_MAX = env_int("CHAT_SEND_BATCH_MAX", 200)
CHAT_SEND_BATCH_WAIT_MS = env_int("CHAT_SEND_BATCH_WAIT_MS", 1)
# Message ids whose fan-out waits to be enqueued (messaging/committer.py); beyond, the sweeper re-drives them.
CHAT_FAN_OUT_ENQUEUE_MAX = env_int("CHAT_FAN_OUT_ENQUEUE_MAX", 20000)
# Overload (messaging/admission.py, docs/benchmarks.md "Overload"): a send is
# refused at once with ``unavailable`` (retry_after 1) when the committer's
# queue holds CHAT_ACCEPT_QUEUE_MAX sends or its oldest has waited
# CHAT_ACCEPT_QUEUE_MAX_MS, when the realtime workers start batches accepted
# more than CHAT_FAN_OUT_LAG_MAX_MS ago (0: never), or when the realtime
# queue (Redis broker) holds more than CHAT_FAN_OUT_QUEUE_MAX tasks. Each
# process reads the last two every CHAT_ADMISSION_POLL_MS.
CHAT_ACCEPT_QUEUE_MAX = env_int("CHAT_ACCEPT_QUEUE_MAX", 2000)
CHAT_ACCEPT_QUEUE_MAX_MS = env_int("CHAT_ACCEPT_QUEUE_MAX_MS", 250)
CHAT_FAN_OUT_LAG_MAX_MS = env_int("CHAT_FAN_OUT_LAG_MAX_MS", 500)
CHAT_FAN_OUT_QUEUE_MAX = env_int("CHAT_FAN_OUT_QUEUE_MAX", 5000)
CHAT_ADMISSION_POLL_MS = env_int("CHAT_ADMISSION_POLL_MS", 100)
# Send frames are refused the same way once frames have waited in daphne's queue longer than
# CHAT_FRAME_WAIT_MAX_MS for CHAT_FRAME_WAIT_INTERVAL_MS without a break: a standing queue, not a burst;
# then each send frame that waited longer, until an interval passes without one. 30 ms, not
# 100: at three times capacity acks came 0.2 s sooner at the median, and a closed loop at
# capacity and 200 msgs/s were refused nothing (docs/benchmarks.md, "Overload").
CHAT_FRAME_WAIT_MAX_MS = env_int("CHAT_FRAME_WAIT_MAX_MS", 30)
CHAT_FRAME_WAIT_INTERVAL_MS = env_int("CHAT_FRAME_WAIT_INTERVAL_MS", 500)
# A new socket is closed with 1013 while the oldest socket its process is still opening
# has waited longer than this (chat_project/common/connect_gate.py); 0: never.
CHAT_CONNECT_WAIT_MAX_MS = env_int("CHAT_CONNECT_WAIT_MAX_MS", 3000)
# ... or while this many sockets are opening at once in the process; 0: no bound.
CHAT_CONNECT_OPENING_MAX = env_int("CHAT_CONNECT_OPENING_MAX", 1000)
# On such a refusal the process stops accepting connections until the gate would let one in,
# at most this long at a time (chat_project/accept_pause.py); 0: never.
CHAT_CONNECT_PAUSE_MAX_MS = env_int("CHAT_CONNECT_PAUSE_MAX_MS", 1000)
# A stopping daphne closes its sockets with 1012 and waits up to this long for their closing
# handshakes (and consumers' disconnects) before it cancels what is left (chat_project/daphne_close.py).
# Keep it well under the process manager's stop timeout (supervisord's stopwaitsecs, 10).
CHAT_SHUTDOWN_CLOSE_MS = env_int("CHAT_SHUTDOWN_CLOSE_MS", 2000)
# Sends of one socket waiting for their ack; one more is ``rate_limited``.
CHAT_SOCKET_SENDS_IN_FLIGHT = env_int("CHAT_SOCKET_SENDS_IN_FLIGHT", 100)
# A socket's presence lives this long without a heartbeat.
CHAT_ONLINE_TTL_SECONDS = env_int("CHAT_ONLINE_TTL_SECONDS", 60)
# How often each socket refreshes its presence and group membership and
# checks the users it watches; well within the TTL.
CHAT_HEARTBEAT_SECONDS = env_int("CHAT_HEARTBEAT_SECONDS", max(1, min(10, CHAT_ONLINE_TTL_SECONDS // 3)))
# daphne (after each heartbeat) and the Celery pool processes (after start-up) freeze
# their long-lived heap, so that CPython's collector walks only young objects
# (chat_project/common/frozen_heap.py).
CHAT_GC_FREEZE = env_bool("CHAT_GC_FREEZE", True)
# WebSocket frames other than send (typing, read, watch, ping, malformed ones)
# per user, all of the user's sockets together.
CHAT_FRAME_RATE = parse_rate("CHAT_FRAME_RATE", env_str("CHAT_FRAME_RATE", "60/10s"))
# Messages kept per conversation in Redis' recent window.
CHAT_RECENT_WINDOW = env_int("CHAT_RECENT_WINDOW", 200)
# A conversation's recent window expires this long after its last new message
# (refilled from the database on a miss): Redis holds the conversations in use.
CHAT_RECENT_TTL_SECONDS = env_int("CHAT_RECENT_TTL_SECONDS", 30 * 24 * 3600)
# A conversation list whose unread counters or read receipts are not in Redis
# (after a flush): a user with at most this many conversations gets them
# rebuilt at once; a larger one gets the page's from the database and the
# rest rebuilt by a task on the delayed queue (conversations/tasks.py).
CHAT_LIST_INLINE_REBUILD = env_int("CHAT_LIST_INLINE_REBUILD", 200)
# Fan-out not finished after this many seconds is re-driven by the sweeper.
CHAT_FAN_OUT_STALE_SECONDS = env_int("CHAT_FAN_OUT_STALE_SECONDS", 10)
# Most messages one GET offline returns; the rest follow after an ack.
CHAT_OFFLINE_PAGE = env_int("CHAT_OFFLINE_PAGE", 1000)
# A fixed message-id worker (0..63) instead of leasing one from Redis.
CHAT_ID_WORKER = env_int("CHAT_ID_WORKER", -1)

# Level of Celery's per-task lines (received, succeeded); INFO shows every task.
CHAT_TASK_LOG_LEVEL = env_str("CHAT_TASK_LOG_LEVEL", "WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("CHAT_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Celery's two lines per task ("Received task", "Task … succeeded"): at
        # chat rates every message is a task, and those lines cost the realtime
        # worker and supervisord, which reads them (docs/benchmarks.md). A failed
        # task still logs at ERROR, a retry through our own warning.
        **{name: {"level": CHAT_TASK_LOG_LEVEL} for name in ("celery.app.trace", "celery.worker.strategy")},
    },
}
