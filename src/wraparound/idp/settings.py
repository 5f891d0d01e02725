"""Django settings of the local OpenID Connect provider (a project of its own, not the app's).

The database is ``WRAPAROUND_IDP_DB`` (default ``WRAPAROUND_VAR/idp.sqlite3``); the ID-token
signing key is ``idp-signing-key.pem`` next to it, made on first start. The issuer is the
address the provider is reached at (``http://127.0.0.1:8001/o`` for the demo).
"""

from __future__ import annotations

from pathlib import Path

from wraparound import config
from wraparound.idp.keys import load_or_make_key

_CONFIG = config.current()
if _CONFIG.production:
    raise config.ConfigurationError(
        "the local OpenID Connect provider is for the demo and tests: production uses NHS login"
    )
DB_PATH = Path(_CONFIG.idp_db or _CONFIG.var / "idp.sqlite3")
DB_PATH.parent.mkdir(parents=True, exist_ok=True)
SIGNING_KEY = load_or_make_key(DB_PATH.with_name("idp-signing-key.pem"))

SECRET_KEY = "wraparound-local-idp-" + _CONFIG.django_secret_key()
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "wraparound.idp",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "wraparound.idp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DB_PATH,
        "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Demo accounts only: a fast hasher keeps the sign-in round trip short.
PASSWORD_HASHERS = ["wraparound.idp.hashers.DemoPBKDF2PasswordHasher"]
LOGIN_URL = "/login/"
# The provider's own session cookie, named apart from the app's (same host in the demo).
SESSION_COOKIE_NAME = "wraparound_idp_session"
CSRF_COOKIE_NAME = "wraparound_idp_csrf"
SESSION_COOKIE_AGE = 15 * 60
USE_TZ = True
TIME_ZONE = "Europe/London"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": SIGNING_KEY,
    "PKCE_REQUIRED": True,
    "OAUTH2_VALIDATOR_CLASS": "wraparound.idp.validator.NhsLoginValidator",
    "SCOPES": {
        "openid": "Sign you in",
        "profile": "Your name and date of birth",
        "email": "Your email address",
        "nhs_number": "Your NHS number and how well your identity was checked",
    },
    "DEFAULT_SCOPES": ["openid"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["private_key_jwt"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 600,
    "ID_TOKEN_EXPIRE_SECONDS": 600,
}
