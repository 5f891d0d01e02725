"""Django settings for the care co-ordination app.

Configuration comes from the environment, through ``wraparound.config`` (every variable, its
default and meaning: docs/configuration.md), so the same code runs the demo (SQLite under
var/, plain HTTP on 127.0.0.1) and production (PostgreSQL via ``DATABASE_URL``, HTTPS, secret
key from the environment). ``WRAPAROUND_ENV=production`` turns on the HTTPS-only settings,
refuses to start with ``WRAPAROUND_DEBUG`` set or with the built-in
development secret key. (The pseudonym key is not read here: the app never pseudonymises;
the warehouse's writers refuse the built-in one in production when they need it.)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dj_database_url

from wraparound import config

WEB_DIR = Path(__file__).resolve().parent
REPO_ROOT = WEB_DIR.parents[2]
_CONFIG = config.current()
VAR_DIR = _CONFIG.var
NODE_MODULES = _CONFIG.node_modules
PRODUCTION = _CONFIG.production

# Refused in production when it is the development key (ConfigurationError: Django stops).
SECRET_KEY = _CONFIG.django_secret_key()
# The key of the audit trail's hash chain (records/chain.py). Keep it when rotating the
# secret key (set WRAPAROUND_AUDIT_KEY), or `wraparound audit verify` fails on older rows.
AUDIT_CHAIN_KEY = _CONFIG.audit_key if _CONFIG.audit_key is not None else SECRET_KEY

# Never on in production, whatever the environment says: a debug page shows settings and data.
DEBUG = _CONFIG.django_debug
# Links sent outside the app are built on it (config.public_url): refused when malformed, and
# in production unless https, so a misconfigured deployment stops here, not at the first SMS.
PUBLIC_BASE_URL = _CONFIG.public_url("/")
ALLOWED_HOSTS = list(_CONFIG.allowed_hosts)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "wraparound.apps.records",
    "wraparound.apps.registers",
    "wraparound.apps.care",
    "wraparound.apps.scorecard",
    "wraparound.apps.access",
    "wraparound.apps.messaging",
    "wraparound.apps.referrals",
    "wraparound.apps.triage",
    "wraparound.apps.outreach",
    "wraparound.apps.feedback",
    "wraparound.apps.letters",
    "wraparound.apps.portal",
    "wraparound.apps.commissioning",
    "wraparound.apps.evaluation",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "wraparound.web.headers.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wraparound.web.headers.LoginRequiredMiddleware",
    "wraparound.web.bad_request.BadInputMiddleware",
]

ROOT_URLCONF = "wraparound.web.urls"
WSGI_APPLICATION = "wraparound.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [WEB_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        _CONFIG.database_url or f"sqlite:///{_CONFIG.sqlite_path}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets readers carry on while a refresh writes; a busy timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        # recursive_triggers: a REPLACE's implicit delete fires the audit's delete trigger.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA recursive_triggers=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "records.User"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock-out by django-axes (records/auth.py): after AXES_FAILURE_LIMIT wrong passwords for a
# username the account is locked for AXES_COOLOFF_TIME, whatever the address, and even the
# right password is refused. Each attempt is checked and counted under a per-username lock
# (records/auth.py), so parallel guesses cannot all pass the check before one is counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# The login form, not axes' middleware, answers a refusal: one message for a wrong password,
# an unknown username and a locked account.
# W006: accounts lock by username on purpose; an address is shared by a whole practice.
SILENCED_SYSTEM_CHECKS = ["axes.W002", "axes.W006"]

# Sessions end with the browser and after 30 minutes idle, as on a shared clinical PC.
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = True
# Database sessions that skip the write while the expiry moved on under a minute ago
# (web/sessions.py): idle sign-out after 29 to 30 minutes, one write a minute, not a request.
SESSION_ENGINE = "wraparound.web.sessions"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere: every script and stylesheet is a static file.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [
    WEB_DIR / "static",
    ("nhsuk", NODE_MODULES / "nhsuk-frontend" / "dist" / "nhsuk"),
    ("htmx", NODE_MODULES / "htmx.org" / "dist"),
]
# Served by WhiteNoise from the finders, so no collectstatic step is needed to run the app.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}

# Where `wraparound app refresh` reads from unless told otherwise.
WAREHOUSE_DIR = _CONFIG.warehouse_dir
