"""Settings, all from the environment.

The embedded default (no variables set) is a single-machine setup: SQLite and the in-memory
channel layer, with every file under ./var. ``DATABASE_URL`` and ``REDIS_URL`` switch to the
scale-out setup (PostgreSQL, Redis channel layer). ``DJANGO_ENV=production`` refuses to start
without a real SECRET_KEY and ALLOWED_HOSTS and turns on the secure-transport settings.
"""

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from viewerproject.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

ENVIRONMENT = env_str("DJANGO_ENV", "development")
if ENVIRONMENT not in {"development", "production", "test"}:
    raise ImproperlyConfigured(f"DJANGO_ENV={ENVIRONMENT!r}: use development, production or test")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production")

SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if PRODUCTION:
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs SECRET_KEY (at least 50 characters)"
        )
    if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ENV=production needs an explicit ALLOWED_HOSTS list")
else:
    if not SECRET_KEY:
        # Development only: a key kept in ./var so sessions survive restarts, never shipped.
        key_file = VAR_DIR / "secret_key"
        if key_file.exists():
            SECRET_KEY = key_file.read_text().strip()
        else:
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            SECRET_KEY = secrets.token_urlsafe(64)
            key_file.write_text(SECRET_KEY)
            key_file.chmod(0o600)
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "studies",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Launched (EMR link) sessions reach only the routes of studies.launch.scope.ROUTES.
    "studies.launch.scope.LaunchScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "viewerproject.urls"
ASGI_APPLICATION = "viewerproject.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            # A kept connection is tested before a request reuses it, so a database restart
            # or a dropped connection costs one reconnect, not one failed request per process.
            conn_health_checks=True,
        )
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "OPTIONS": {
                # Writers take the lock when the transaction starts, so concurrent ingests
                # queue up instead of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                # FULL: a commit is on disk before it returns, so a C-STORE success (sent
                # after the commit) survives a power cut; NORMAL in WAL mode could lose the
                # last acknowledged rows (sqlite.org/pragma.html#pragma_synchronous). ~0.4 ms
                # per commit here.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
            },
            # Kept open between requests: opening SQLite and setting its pragmas on every
            # request was a measurable share of a small request's time.
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": True,
            # A file (not :memory:) so threads and the live server see the same data.
            "TEST": {"NAME": str(VAR_DIR / "test-db.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    from redis.exceptions import ConnectionError as RedisConnectionError

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # Longer than the layer's blocking receive (BZPOPMIN, 5 s): redis-py 8
                        # defaults to a 5 s read timeout, which closes every idle viewer socket
                        # with 1011 (channels_redis issue 422). Still bounded, so a hung Redis
                        # is noticed.
                        "socket_timeout": 15,
                        "socket_connect_timeout": 5,
                        # After a Redis restart the pooled connections are dead; try once
                        # more on a fresh one instead of failing the first command on each.
                        "retry_on_error": [RedisConnectionError],
                    }
                ],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "frontend:study-list"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if env_bool("FAST_PASSWORD_HASHER", ENVIRONMENT == "test"):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Transport security (production) --------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- i18n / static --------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "collected-static"
# The ASGI app serves /static/ itself (from the app folders, no collectstatic needed, no
# hashed names since ES modules import each other by relative URL). Turn it off where the
# reverse proxy serves STATIC_ROOT after `collectstatic`.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# --- Archive --------------------------------------------------------------------------------
# Where DICOM bytes live; only studies.storage decides the paths below these roots.
DICOM_STORE_DIR = Path(env_str("DICOM_STORE_DIR", str(VAR_DIR / "store"))).resolve()
QUARANTINE_DIR = Path(env_str("QUARANTINE_DIR", str(VAR_DIR / "quarantine"))).resolve()
# DICOM_STORAGE=s3 keeps the DICOM files in an S3-compatible bucket instead of DICOM_STORE_DIR
# (studies.storage_s3, through django-storages' S3 backend), so several servers share one
# archive. Same keys (SHA-256 of the SOP Instance UID, under DICOM_S3_PREFIX); the renderer
# reads local copies from a read-through cache in DICOM_S3_CACHE_DIR, kept under
# DICOM_S3_CACHE_BYTES by evicting the least recently used. The quarantine stays in
# QUARANTINE_DIR: it must take a file when the bucket cannot.
DICOM_STORAGE = env_str("DICOM_STORAGE", "filesystem").strip().lower()
if DICOM_STORAGE not in {"filesystem", "s3"}:
    raise ImproperlyConfigured(f"DICOM_STORAGE={DICOM_STORAGE!r}: use filesystem or s3")
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
# Unset for AWS itself; the URL of MinIO, Ceph RGW, Garage... otherwise.
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
# Unset: boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, an instance role...).
AWS_S3_ACCESS_KEY_ID = env_str("AWS_S3_ACCESS_KEY_ID") or None
AWS_S3_SECRET_ACCESS_KEY = env_str("AWS_S3_SECRET_ACCESS_KEY") or None
# "path" for servers without virtual-host bucket names (most MinIO setups); unset: automatic.
AWS_S3_ADDRESSING_STYLE = env_str("AWS_S3_ADDRESSING_STYLE") or None
DICOM_S3_PREFIX = env_str("DICOM_S3_PREFIX", "dicom").strip("/")
DICOM_S3_CACHE_DIR = Path(env_str("DICOM_S3_CACHE_DIR", str(VAR_DIR / "s3-cache"))).resolve()
DICOM_S3_CACHE_BYTES = env_int("DICOM_S3_CACHE_BYTES", 10 * 1024**3, minimum=1024**2)
# Per connect and per read; with DICOM_S3_MAX_ATTEMPTS, how long an ingest waits for an
# unreachable bucket before it answers storage_error (and quarantines the file).
DICOM_S3_TIMEOUT_SECONDS = env_int("DICOM_S3_TIMEOUT_SECONDS", 10, minimum=1)
DICOM_S3_MAX_ATTEMPTS = env_int("DICOM_S3_MAX_ATTEMPTS", 3, minimum=1)
if DICOM_STORAGE == "s3" and not AWS_STORAGE_BUCKET_NAME:
    raise ImproperlyConfigured("DICOM_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
# Caps that keep a hostile or broken file from exhausting memory or disk.
INGEST_MAX_FILE_BYTES = env_int("INGEST_MAX_FILE_BYTES", 2 * 1024**3, minimum=1024)
INGEST_MAX_IMAGE_BYTES = env_int("INGEST_MAX_IMAGE_BYTES", 4 * 1024**3, minimum=1024)
INGEST_MAX_FRAMES = env_int("INGEST_MAX_FRAMES", 10_000, minimum=1)
INGEST_MAX_INFLATED_BYTES = env_int("INGEST_MAX_INFLATED_BYTES", 1024**3, minimum=1024)
# Processes the DICOM listener and the retrieve worker each ingest received instances in
# (studies.ingest_pool); 0 ingests in the receiving process itself. Worth it only with idle
# cores: on a busy machine each instance's two hand-offs between processes wait for the
# scheduler, and the retrieve was slower than with 0.
INGEST_PROCESSES = env_int("INGEST_PROCESSES", 0, minimum=0)
ZIP_MAX_MEMBERS = env_int("ZIP_MAX_MEMBERS", 100_000, minimum=1)
ZIP_MAX_TOTAL_BYTES = env_int("ZIP_MAX_TOTAL_BYTES", 64 * 1024**3, minimum=1024)
# Django buffers request bodies up to this size; STOW-RS and uploads stream above it.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 64 * 1024**2, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 16 * 1024**2, minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 5000, minimum=1)
STOW_MAX_REQUEST_BYTES = env_int("STOW_MAX_REQUEST_BYTES", 4 * 1024**3, minimum=1024)

# --- Imaging (studies.imaging via studies.rendering) ---------------------------------------
# Decoded frames and pyramid levels are cached per process, bounded in bytes.
IMAGING_CACHE_BYTES = env_int("IMAGING_CACHE_BYTES", 512 * 1024**2, minimum=1024**2)
IMAGING_MAX_FRAME_BYTES = env_int("IMAGING_MAX_FRAME_BYTES", 512 * 1024**2, minimum=1024)
IMAGING_MAX_OUTPUT_PIXELS = env_int("IMAGING_MAX_OUTPUT_PIXELS", 8192 * 8192, minimum=1024)
IMAGING_TILE_SIZE = env_int("IMAGING_TILE_SIZE", 256, minimum=256)
# Threads that decode and render off the event loop (numpy and the codecs release the GIL).
IMAGING_WORKERS = env_int("IMAGING_WORKERS", 4, minimum=1)
# Worker processes for compressed-frame decoding: the JPEG 2000 / JPEG-LS codecs hold the GIL
# for up to a second on large images, which would stall every socket of the event loop.
IMAGING_DECODE_PROCESSES = env_int("IMAGING_DECODE_PROCESSES", 2, minimum=0)
# Whole-frame previews with the file's own rendering (studies.streaming.previews), kept on disk
# so a study's first picture needs no decode; a cache, bounded in bytes (~10 KB per frame).
VIEWER_PREVIEW_DISK_BYTES = env_int("VIEWER_PREVIEW_DISK_BYTES", 2 * 1024**3, minimum=1024**2)

STUDY_LIST_PAGE_SIZE = env_int("STUDY_LIST_PAGE_SIZE", 50, minimum=1)
# DICOMweb reads make one audit event per user, study and kind in this window, not one per
# frame (studies.audit.dicomweb); 0 records every read.
AUDIT_DICOMWEB_WINDOW_SECONDS = env_int("AUDIT_DICOMWEB_WINDOW_SECONDS", 300, minimum=0)
QIDO_MAX_LIMIT = env_int("QIDO_MAX_LIMIT", 1000, minimum=1)

PYDICOM_LOG_LEVEL = env_str("PYDICOM_LOG_LEVEL", "ERROR")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"pynetdicom": {"level": "WARNING"}},
}

# --- DICOM network --------------------------------------------------------------------------
# The listener (manage.py dicom_listener) and the SCU side (queries, retrieve worker).
# PS3.8 9.3.1: an AE title is 1-16 characters of the default repertoire, no backslash; leading
# and trailing spaces are not significant.
DICOM_AE_TITLE = env_str("DICOM_AE_TITLE", "DICOMVIEWER").strip()
if not 1 <= len(DICOM_AE_TITLE) <= 16 or "\\" in DICOM_AE_TITLE or not DICOM_AE_TITLE.isascii():
    raise ImproperlyConfigured(
        f"DICOM_AE_TITLE={DICOM_AE_TITLE!r}: 1-16 ASCII characters without a backslash"
    )
DICOM_PORT = env_int("DICOM_PORT", 11112, minimum=1)
if DICOM_PORT > 65535:
    raise ImproperlyConfigured(f"DICOM_PORT={DICOM_PORT} is not a TCP port")
# Loopback by default: opening the listener to the network is a deliberate act.
DICOM_BIND = env_str("DICOM_BIND", "127.0.0.1")
# Associations served at once; more are rejected as "local limit exceeded" (PS3.8 9.3.4).
DICOM_MAX_ASSOCIATIONS = env_int("DICOM_MAX_ASSOCIATIONS", 16, minimum=1)
# Largest PDU we accept (PS3.8 9.3.1 Maximum Length); big PDUs cost fewer round trips.
DICOM_MAX_PDU_BYTES = env_int("DICOM_MAX_PDU_BYTES", 4 * 1024**2, minimum=4096)
# Largest data set one DIMSE message may carry; a bigger one aborts its association mid-transfer.
DICOM_MAX_DATASET_BYTES = env_int("DICOM_MAX_DATASET_BYTES", INGEST_MAX_FILE_BYTES, minimum=1024)
# Seconds to wait: for a TCP connection, for association set-up/release, for a DIMSE
# response, and for any network activity on an open association before giving up.
DICOM_CONNECT_TIMEOUT = env_int("DICOM_CONNECT_TIMEOUT", 10, minimum=1)
DICOM_ACSE_TIMEOUT = env_int("DICOM_ACSE_TIMEOUT", 30, minimum=1)
DICOM_DIMSE_TIMEOUT = env_int("DICOM_DIMSE_TIMEOUT", 120, minimum=1)
DICOM_NETWORK_TIMEOUT = env_int("DICOM_NETWORK_TIMEOUT", 120, minimum=1)
# C-FIND answers kept per query we send; the rest are cancelled (PS3.4 C.4.1.2.3 C-CANCEL).
PACS_FIND_MAX_RESULTS = env_int("PACS_FIND_MAX_RESULTS", 500, minimum=1)
# Matches our C-FIND SCP answers; a broader query is refused (A700) rather than truncated.
DICOM_FIND_MAX_MATCHES = env_int("DICOM_FIND_MAX_MATCHES", 1000, minimum=1)
# Retrieve jobs: attempts before a job fails, backoff between them (doubling from the base
# up to the cap), and the lease a running worker renews; a job whose lease lapsed (worker
# killed) is taken over by another worker.
RETRIEVE_MAX_ATTEMPTS = env_int("RETRIEVE_MAX_ATTEMPTS", 5, minimum=1)
RETRIEVE_BACKOFF_SECONDS = env_int("RETRIEVE_BACKOFF_SECONDS", 30, minimum=0)
RETRIEVE_BACKOFF_MAX_SECONDS = env_int("RETRIEVE_BACKOFF_MAX_SECONDS", 1800, minimum=0)
RETRIEVE_LEASE_SECONDS = env_int("RETRIEVE_LEASE_SECONDS", 60, minimum=5)
RETRIEVE_WORKER_THREADS = env_int("RETRIEVE_WORKER_THREADS", 2, minimum=1)
# Requests of one retrieve sent at once, each on its own association (studies.pacs.jobs): a
# PACS sends each request's instances one after another, so two let our receiving side work
# on one instance while the next is on the wire or being synced to disk.
RETRIEVE_PARALLEL_REQUESTS = env_int("RETRIEVE_PARALLEL_REQUESTS", 2, minimum=1)
# How often an idle retrieve worker looks for due jobs (one indexed SELECT per poll).
RETRIEVE_POLL_MS = env_int("RETRIEVE_POLL_MS", 200, minimum=10)

# --- Security -------------------------------------------------------------------------------
# Owned by the security work (issue 8): roles, login throttling, inactivity logoff, CSP.
INSTALLED_APPS += ["axes", "csp", "viewerproject.apps.SecurityConfig"]
# CSP before anything that can answer early, so every response carries the header; axes last,
# as its documentation asks, so it sees the outcome of authentication.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1,
    "viewerproject.session_idle.SlidingSessionMiddleware",
)
MIDDLEWARE.append("axes.middleware.AxesMiddleware")

# Login throttling (django-axes): a user name tried from one address is locked for a while
# after a few failures. The Basic-auth path of DICOMweb goes through authenticate() too, so
# password guessing there counts the same.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Behind the TLS proxy the client address is in X-Forwarded-For; axes reads REMOTE_ADDR
# unless told otherwise, which is the proxy itself in production.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if PRODUCTION else ["REMOTE_ADDR"]
)

# Automatic logoff: the session lasts SESSION_COOKIE_AGE seconds after the last request
# (sliding, re-saved at most every SESSION_TOUCH_SECONDS: viewerproject.session_idle), and
# the viewer socket is closed when it runs out (viewerproject.websocket_session).
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60, minimum=60)
SESSION_TOUCH_SECONDS = min(env_int("SESSION_TOUCH_SECONDS", 60, minimum=1), SESSION_COOKIE_AGE)
# How often an open socket looks at its session (and slides it if the viewer was used).
SESSION_SOCKET_CHECK_SECONDS = env_int("SESSION_SOCKET_CHECK_SECONDS", 30, minimum=1)

# Content Security Policy (django-csp 4): scripts only from our own origin, no inline script
# or handler anywhere (the admin included). Styles likewise; the viewer sets custom
# properties through the CSSOM, which CSP does not restrict. Thumbnails are blob: URLs; the
# socket is same-origin ('self' covers ws:/wss: of this host in CSP Level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# HSTS preload (security.W021) is a browser-list commitment for the whole domain that takes
# months to undo, so it stays the operator's explicit choice (SECURE_HSTS_PRELOAD=true);
# this one check is silenced and no other.
SILENCED_SYSTEM_CHECKS = [] if not PRODUCTION or SECURE_HSTS_PRELOAD else ["security.W021"]

# DICOM TLS (studies.pacs.tls): a second listener on the registered port 2762, TLS 1.2+,
# client certificates verified against DICOM_TLS_CA_FILE. Off unless a certificate is set.
DICOM_TLS_PORT = env_int("DICOM_TLS_PORT", 2762, minimum=1)
DICOM_TLS_CERT_FILE = env_str("DICOM_TLS_CERT_FILE")
DICOM_TLS_KEY_FILE = env_str("DICOM_TLS_KEY_FILE")
DICOM_TLS_CA_FILE = env_str("DICOM_TLS_CA_FILE")
