"""The lock-out holds under parallel guessing against a real server: gunicorn with 4 processes x 4
threads (more concurrency than ``wraparound app serve``'s default) on its own database (a SQLite
file, or a fresh PostgreSQL database when ``DATABASE_URL`` names a server), with 16 threads
sending a wrong password for one account at the same moment. No more than the limit of passwords
is ever checked, every refusal reads the same whether the password was wrong, the account locked
or the username unknown, and the audit rows written by those parallel requests still form an
unbroken hash chain."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from built_once import migrated_app_db

WRAPAROUND = str(Path(sys.executable).with_name("wraparound"))
PASSWORD = "the-right-password-2026"
PARALLEL = 16
LIMIT = 5  # settings.AXES_FAILURE_LIMIT
# `wraparound app serve`'s server (apps/cli.py), without its warehouse: no data is needed.
WSGI = "wraparound.web.wsgi:application"
# More concurrency than `wraparound app serve` gives by default (sync workers, one per core
# and one more): races between the threads of one process and between processes are tried.
SERVE = ("--workers", "4", "--threads", "4", "--worker-class", "gthread")

SETUP = f"""
import django
django.setup()
from wraparound.apps.records.models import Organisation, User
org = Organisation.objects.create(org_id="PLIVE1", name="Live Surgery", kind="practice")
for name in ("target", "other"):
    user = User(username=name, role="gp", scope="practice", scope_org=org)
    user.set_password({PASSWORD!r})
    user.save()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Database:
    """A throwaway database for the server: SQLite file, or a new PostgreSQL database."""

    def __init__(self, tmp_path: Path):
        self.url = os.environ.get("DATABASE_URL", "")
        self.postgres = self.url.startswith("postgres")
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.env.update(
            DJANGO_SETTINGS_MODULE="wraparound.web.settings", WRAPAROUND_VAR=str(tmp_path)
        )
        if self.postgres:
            import psycopg

            self.name = f"wrap_live_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {self.name}")
            self.live_url = self.url.rsplit("/", 1)[0] + "/" + self.name
            self.env["DATABASE_URL"] = self.live_url
        else:
            self.path = tmp_path / "live.sqlite3"
            self.env["WRAPAROUND_DB"] = str(self.path)

    def migrate(self, tmp_path_factory) -> None:
        """The app's schema: a copy of the run's migrated SQLite file (``migrated_app_db``),
        or ``wraparound app migrate`` in its own process for a PostgreSQL database, which is
        migrated where it is."""
        if self.postgres:
            subprocess.run([WRAPAROUND, "app", "migrate"], env=self.env, check=True, timeout=300)
            return
        migrated_app_db(tmp_path_factory, self.path, self.env)

    def rows(self, sql: str, params=()):
        if self.postgres:
            import psycopg

            with psycopg.connect(self.live_url) as conn:
                return conn.execute(sql.replace("?", "%s"), params).fetchall()
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql, params).fetchall()

    def drop(self):
        if self.postgres:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


@pytest.fixture
def server(tmp_path, tmp_path_factory):
    db = Database(tmp_path)
    db.migrate(tmp_path_factory)
    subprocess.run([sys.executable, "-c", SETUP], env=db.env, check=True, timeout=120)
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", WSGI, *SERVE, "--bind", f"127.0.0.1:{port}"],
        env=db.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # a loaded machine starts 4 workers slowly
    while True:
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    try:
        yield url, db
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        db.drop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One client with its own cookies: fetches the form, then posts a sign-in."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), NoRedirect()
        )
        with self.opener.open(f"{url}/login/", timeout=30) as response:
            page = response.read().decode()
        self.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def sign_in(self, username: str, password: str) -> tuple[int, str]:
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": self.token}
        ).encode()
        try:
            with self.opener.open(f"{self.url}/login/", data=data, timeout=60) as response:
                return response.status, normalise(response.read().decode(), username)
        except urllib.error.HTTPError as error:
            return error.code, normalise(error.read().decode(), username)


def normalise(page: str, username: str) -> str:
    """The page less what differs by design: the masked CSRF token and the typed username."""
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "TOKEN", page)
    return page.replace(f'value="{username}"', 'value="USERNAME"')


def test_parallel_wrong_passwords_cannot_beat_the_lock(server):
    url, db = server
    browsers = [Browser(url) for _ in range(PARALLEL)]
    start = threading.Barrier(PARALLEL)
    answers: list[tuple[int, str]] = [None] * PARALLEL

    def guess(i: int):
        start.wait()
        answers[i] = browsers[i].sign_in("target", f"wrong-guess-{i:02d}-password")

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    checked = db.rows(
        "SELECT count(*) FROM records_auditevent WHERE username = ? AND what LIKE ?",
        ("target", "wrong password%"),
    )[0][0]
    locked = db.rows(
        "SELECT count(*) FROM records_auditevent WHERE username = ? AND action = ?",
        ("target", "login_locked"),
    )[0][0]
    print(f"\n{PARALLEL} parallel wrong passwords: {checked} checked, {locked} refused as locked")
    assert checked == LIMIT and locked == PARALLEL - LIMIT

    statuses = {status for status, _ in answers}
    assert statuses == {200}
    refusal = answers[0][1]
    assert "not recognised, or the account is locked" in refusal
    assert all(page == refusal for _, page in answers)

    # The right password is refused while locked, and reads like any other refusal.
    assert Browser(url).sign_in("target", PASSWORD) == (200, refusal)
    # So do an unknown username and a wrong password for an account that is not locked.
    assert Browser(url).sign_in("nobody-by-this-name", "whatever-password") == (200, refusal)
    assert Browser(url).sign_in("other", "not-the-password-at-all") == (200, refusal)
    # The lock is the account's, not the address's: the other account still signs in.
    assert Browser(url).sign_in("other", PASSWORD)[0] == 302

    verify = subprocess.run(
        [WRAPAROUND, "audit", "verify"], env=db.env, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stderr
    assert "audit trail intact" in verify.stdout
