"""The app's test world: a small stratified locality loaded into the test database once per
session, with the demo users and casework, so every test starts from the same realistic state
(each test's own changes are rolled back)."""

from __future__ import annotations

import shutil

import pytest
from django.conf import settings

from wraparound.analytics.stratify import run as stratify
from wraparound.apps.demo import DEMO_PASSWORD, create_demo_casework, create_demo_users
from wraparound.apps.refresh import refresh


@pytest.fixture(scope="session")
def app_warehouse(small_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("app") / "warehouse"
    shutil.copytree(small_warehouse, out)
    stratify(out)
    return out


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, app_warehouse):
    settings.WAREHOUSE_DIR = str(app_warehouse)
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
