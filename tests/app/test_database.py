"""The app suite runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` names one
(``make test`` does both, with scripts/with-postgres.sh). These tests make sure the run is
really on the database it claims, and check what only PostgreSQL can do."""

from __future__ import annotations

import os

import pytest
from django.db import DatabaseError, connection, transaction

from wraparound.apps.records.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_the_suite_runs_on_the_database_it_was_given():
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"
    assert connection.vendor == expected


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="TRUNCATE triggers exist only on PostgreSQL",
)
def test_postgres_refuses_truncating_the_audit():
    AuditEvent.objects.create(username="x", action="read", what="t", outcome="allowed")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE records_auditevent")
