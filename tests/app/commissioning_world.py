"""The commissioning tests' world: a real ``wraparound local-qof`` run over the app tests'
3,000-patient locality, loaded into the session's test database once (as ``app refresh``
does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wraparound.analytics.local_qof.run import latest, run
from wraparound.apps.commissioning.load import load_latest_local_qof


@pytest.fixture(scope="session")
def local_qof_dir(django_db_setup, django_db_blocker, app_warehouse) -> Path:
    """The published run directory; its tables are in the app database for every test."""
    if latest(app_warehouse) is None:
        run(app_warehouse)
    with django_db_blocker.unblock():
        load_latest_local_qof(app_warehouse)
    return latest(app_warehouse)
