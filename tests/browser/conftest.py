"""The browser tests' world: a stratified 3,000-patient locality loaded by the real
``wraparound app demo`` into its own SQLite file, served by ``wraparound app serve``
(gunicorn, WhiteNoise serving node_modules) on a free port of 127.0.0.1, and driven by
Debian's headless chromium through Playwright.

A separate server process and database, rather than pytest-django's ``live_server``, because
a live server needs transactional tests that empty the test database after each test, which
would wipe the session world the app tests on the same xdist worker rely on, and because it
exercises the production server exactly as ``make demo`` runs it.

Chromium must be present: a missing browser fails these tests, never skips them
(``make test`` installs Debian's ``chromium`` when it is absent). Playwright never downloads
a browser here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from built_once import migrated_app_db

CHROMIUM = os.environ.get("WRAPAROUND_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WRAPAROUND = str(Path(sys.executable).with_name("wraparound"))
STARTUP_SECONDS = 60


class Site:
    """The running app: where it listens, its warehouse, and how to run the CLI against it."""

    def __init__(self, url: str, warehouse: Path, env: dict[str, str]):
        self.url = url
        self.warehouse = warehouse
        self.env = env

    def cli(self, *args: str) -> str:
        """Run ``wraparound ARGS`` against this site's database and warehouse."""
        proc = subprocess.run(
            [WRAPAROUND, *args], env=self.env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"wraparound {' '.join(args)} failed:\n{proc.stderr}"
        return proc.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the app server exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the app server did not answer in {STARTUP_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def site(stratified_warehouse, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    warehouse = root / "warehouse"
    shutil.copytree(stratified_warehouse, warehouse)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        WRAPAROUND_DB=str(root / "app.sqlite3"),
        WRAPAROUND_VAR=str(root / "var"),
        DJANGO_SETTINGS_MODULE="wraparound.web.settings",
    )
    site = Site("", warehouse, env)
    # The schema is a copy of the run's migrated file: ``app demo`` then migrates nothing.
    migrated_app_db(tmp_path_factory, root / "app.sqlite3", env)
    # As ``make demo`` builds it, once for every module: the demo, then the indicators (which
    # count the demo's casework, exported as app events) and the local QOF, then one
    # ``app refresh`` loads both runs. The scorecard and commissioning modules each ran
    # their own command and refresh before.
    site.cli("app", "demo", "--warehouse", str(warehouse))
    port = _free_port()
    log = root / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                WRAPAROUND,
                "app",
                "serve",
                "--warehouse",
                str(warehouse),
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    site.url = f"http://127.0.0.1:{port}"
    try:
        # The server starts while these run: they read and write the warehouse only, not the
        # app's database; the refresh after them loads the app as it does with the site up.
        site.cli("indicators", "--warehouse", str(warehouse))
        site.cli("local-qof", "--warehouse", str(warehouse))
        _wait_until_up(site.url, server, log)
        site.cli("app", "refresh", "--warehouse", str(warehouse))
        yield site
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser():
    """Per module, not per session: Playwright's sync API runs an event loop in the worker's
    main thread while it is open, and Django then refuses every database call of any test
    that follows on that worker ("cannot call this from an async context"). Starting
    Chromium costs about a second a module."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"no chromium at {CHROMIUM}: install Debian's package (apt-get install -y "
            "--no-install-recommends chromium fonts-liberation; make test does this)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
