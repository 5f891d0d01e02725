"""Production settings, read in a fresh interpreter with ``WRAPAROUND_ENV=production`` (the
test process has its settings already): Secure cookies, HTTPS with HSTS, DEBUG refused when
asked for, the development secret key refused, Django's deployment check clean, and a real
request through the middleware answered with HSTS and a Secure cookie.

Here, not in tests/app: the probes run on a SQLite file of their own whatever the test
database is (``DATABASE_URL`` is dropped), so the app suite's PostgreSQL run would only
repeat them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({k: getattr(s, k) for k in (
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_HTTPONLY")}))
"""

REQUEST = """
import django
django.setup()
from django.test import Client
c = Client()
plain = c.get("/login/")
print("plain", plain.status_code, plain.get("Location", ""))
r = c.get("/login/", secure=True)
print("secure", r.status_code, r.get("Strict-Transport-Security", ""))
print("cookie", r.cookies["csrftoken"]["secure"], r.cookies["csrftoken"]["samesite"])
"""


def run(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WRAPAROUND_"))},
        "DJANGO_SETTINGS_MODULE": "wraparound.web.settings",
        "WRAPAROUND_ENV": "production",
        "DJANGO_SECRET_KEY": "a-production-secret-key-that-is-long-and-random-0123456789abcdef",
        "WRAPAROUND_DB": str(tmp_path / "app.sqlite3"),
        "WRAPAROUND_VAR": str(tmp_path),
        "WRAPAROUND_ALLOWED_HOSTS": "testserver",
        "WRAPAROUND_PUBLIC_BASE_URL": "https://wraparound.example.nhs.uk",
        **env,
    }
    environment.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_turns_on_the_https_only_settings(tmp_path):
    result = run(PROBE, tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "CSRF_COOKIE_HTTPONLY": True,
    }


def test_production_refuses_to_start_with_debug(tmp_path):
    result = run(PROBE, tmp_path, WRAPAROUND_DEBUG="1")
    assert result.returncode != 0
    assert "WRAPAROUND_DEBUG is refused in production" in result.stderr
    assert "DEBUG" not in result.stdout


@pytest.mark.parametrize("key", [None, "wraparound-development-key-not-for-real-patients"])
def test_production_refuses_to_start_without_a_secret_key(tmp_path, key):
    env = {"DJANGO_SECRET_KEY": key} if key else {}
    code = "import django; django.setup()"
    if key is None:
        code = "import os; os.environ.pop('DJANGO_SECRET_KEY', None); " + code
    result = run(code, tmp_path, **env)
    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.parametrize("base", ["", "http://wraparound.example.nhs.uk"])
def test_production_refuses_to_start_without_an_https_public_address(tmp_path, base):
    """Links sent to patients (a one-time FFT link by SMS) are built on it: the demo default
    (empty here) and plain HTTP are refused at start-up, not at the first message."""
    result = run("import django; django.setup()", tmp_path, WRAPAROUND_PUBLIC_BASE_URL=base)
    assert result.returncode != 0
    assert "WRAPAROUND_PUBLIC_BASE_URL must be an https address in production" in result.stderr


def test_a_production_request_gets_hsts_and_secure_cookies(tmp_path):
    result = run(REQUEST, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["plain"].startswith("301 https://")  # plain HTTP is sent to HTTPS
    status, hsts = lines["secure"].split(" ", 1)
    assert status == "200" and "max-age=31536000" in hsts and "includeSubDomains" in hsts
    assert lines["cookie"] == "True Strict"


def test_the_deployment_check_finds_nothing_but_the_preload_choice(tmp_path):
    """HSTS preload (security.W021) is left to whoever owns the domain: it is hard to undo."""
    code = (
        "import django, sys; django.setup(); from django.core.management import call_command; "
        "call_command('check', deploy=True)"
    )
    result = run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    found = set(re.findall(r"\(([\w.]+\.[EW]\d+)\)", result.stdout + result.stderr))
    assert found <= {"security.W021"}, found
