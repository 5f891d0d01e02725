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


POSTGRES_ONLY = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="database roles exist only on PostgreSQL",
)


@pytest.fixture
def restricted_role():
    """A second database role, set up as `wraparound audit restrict-role` sets up the app's,
    connected to the test database. The grants are made by a separate superuser connection
    (committed, so the role's own connection sees them) and removed afterwards."""
    import psycopg

    from wraparound.apps.records.db_roles import restrict_app_role

    params = connection.get_connection_params()
    admin = psycopg.connect(
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "dbname")},
        autocommit=True,
    )
    # Roles belong to the cluster, not the database: one per test database, so xdist workers
    # (each with its own test database) never drop a role another worker's database still uses.
    role = f"wraparound_app_{params['dbname']}"[:63]
    if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
        admin.execute(f"DROP OWNED BY {role}")  # left by an interrupted run
        admin.execute(f"DROP ROLE {role}")
    admin.execute(f"CREATE ROLE {role} LOGIN")
    with admin.cursor() as cursor:
        restrict_app_role(cursor, role)
    app = psycopg.connect(
        host=params.get("host"), port=params.get("port"), dbname=params["dbname"], user=role
    )
    try:
        yield app
    finally:
        app.close()
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
        admin.close()


@POSTGRES_ONLY
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE records_auditevent SET what = 'changed'",
        "DELETE FROM records_auditevent",
        "TRUNCATE records_auditevent",
        "DROP TRIGGER audit_insert_checks ON records_auditevent",
        "ALTER TABLE records_auditevent DISABLE TRIGGER ALL",
    ],
)
def test_the_app_role_cannot_change_the_audit_trail(restricted_role, sql):
    import psycopg

    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match=r"permission denied|must be owner"
    ):
        restricted_role.execute(sql)
    restricted_role.rollback()


@POSTGRES_ONLY
def test_the_app_role_can_append_to_the_audit_and_use_the_other_tables(restricted_role):
    """What it keeps: reading the audit, appending a chained row, writing the app's tables."""
    from wraparound.apps.records import chain

    cur = restricted_role.cursor()
    cur.execute("SELECT pg_advisory_xact_lock(%s)", [chain.ADVISORY_LOCK])
    cur.execute("SELECT clock_timestamp()")
    at = cur.fetchone()[0]
    cur.execute("SELECT hash FROM records_auditevent ORDER BY id DESC LIMIT 1")
    head = cur.fetchone()
    prev = head[0] if head else ""
    row = {name: "" for name in chain.CHAINED_FIELDS}
    row.update(at=at, user_id=None, patient_id=None, action="read", outcome="allowed")
    cur.execute(
        "INSERT INTO records_auditevent (at, username, role, action, what, basis, outcome, "
        "reason, method, path, prev_hash, hash) VALUES "
        "(%s, '', '', 'read', '', '', 'allowed', '', '', '', %s, %s) RETURNING id",
        [at, prev, chain.digest(row, prev)],
    )
    assert cur.fetchone()[0] > 0
    cur.execute("UPDATE records_organisation SET name = name WHERE false")  # privilege only
    restricted_role.rollback()
