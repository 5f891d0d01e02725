"""The app's test world: a small stratified locality loaded into the test database once per
session, with the demo users and casework, so every test starts from the same realistic state
(each test's own changes are rolled back)."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import contextmanager

import pytest
import quick_hasher
import static_index
from django.conf import settings
from django.db import connection
from django.test import override_settings

from wraparound.apps.demo import DEMO_PASSWORD, create_demo_casework, create_demo_users
from wraparound.apps.refresh import refresh

APP_GROUP = "app"

# WhiteNoise indexes the static files once per process, not once per test client (static_index.py).
static_index.install()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Each app test module is its own xdist group: the modules mark themselves
    ``xdist_group("app")`` so that a module's tests stay together on one worker (module
    fixtures, the permission matrix's size check, the fuzz report), and this spreads the
    modules over the workers (``--dist loadgroup``) instead of queueing the whole app suite
    on one. Each worker then loads the session world into its own test database."""
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        if marker is not None and marker.args[:1] == (APP_GROUP,):
            item.add_marker(pytest.mark.xdist_group(f"{APP_GROUP}-{item.path.stem}"))


@pytest.fixture(scope="session")
def app_warehouse(stratified_warehouse, tmp_path_factory):
    """This process's own copy of the stratified locality (tests/conftest.py)."""
    out = tmp_path_factory.mktemp("app") / "warehouse"
    shutil.copytree(stratified_warehouse, out)
    return out


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, app_warehouse):
    settings.WAREHOUSE_DIR = str(app_warehouse)
    # Argon2 at its lowest cost for this process's users and sign-ins (quick_hasher.py).
    override_settings(PASSWORD_HASHERS=quick_hasher.PASSWORD_HASHERS).enable()
    with django_db_blocker.unblock():
        refresh(app_warehouse)
        create_demo_users()
        create_demo_casework()


@pytest.fixture
def login(client):
    """Sign a demo user in through the real login form."""

    def sign_in(username: str):
        client.logout()
        response = client.post("/login/", {"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, f"{username} could not sign in"
        return client

    return sign_in


@pytest.fixture
def sqlite_variable_limit():
    """``with sqlite_variable_limit(n):`` lowers SQLite's limit on a statement's variables to
    ``n`` on the test's connection, and restores it after: what a region's lookups meet at
    full size, met by the test locality. Skips the test on other databases."""
    if connection.vendor != "sqlite":
        pytest.skip("the variable limit lowered here is SQLite's")

    @contextmanager
    def lowered(limit: int):
        connection.ensure_connection()
        raw = connection.connection
        before = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        try:
            yield
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)

    return lowered
