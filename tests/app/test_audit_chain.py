"""The audit trail is a hash chain whose times the database sets, and every tampering path
found by the probe is refused or detected: REPLACE and upserts, back-dated times, raw
UPDATE and DELETE, and (after dropping the triggers) edits, deletions and forged rows, which
``wraparound audit verify`` reports. Runs on SQLite and, under scripts/with-postgres.sh, on
PostgreSQL (each test's changes, trigger drops included, are rolled back)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from typer.testing import CliRunner

from wraparound.apps.records import audit, chain
from wraparound.apps.records.models import AuditEvent
from wraparound.cli import app

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

COLUMNS = "at, username, role, action, what, basis, outcome, reason, method, path, prev_hash, hash"


def head() -> AuditEvent:
    return AuditEvent.objects.order_by("-id").first()


def append(n: int = 3) -> list[AuditEvent]:
    return [
        AuditEvent.objects.create(username="t", action="read", what=f"row {i}", outcome="allowed")
        for i in range(n)
    ]


def raw(sql: str, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def raw_insert(*, at, prev_hash, row_id=None, conflict: str = ""):
    """A hand-written INSERT that is otherwise valid (continues the chain, a 64-char hash)."""
    verb = "INSERT"
    columns = COLUMNS if row_id is None else "id, " + COLUMNS
    values = [at, "mallory", "", "read", "forged", "", "allowed", "", "GET", "/", prev_hash]
    values.append("f" * 64)
    if row_id is not None:
        values.insert(0, row_id)
    if conflict.startswith("OR") or conflict == "REPLACE":
        verb = "REPLACE" if conflict == "REPLACE" else f"INSERT {conflict}"
        conflict = ""
    marks = ", ".join(["%s"] * len(values))
    raw(f"{verb} INTO records_auditevent ({columns}) VALUES ({marks}) {conflict}", values)


def db_now():
    with connection.cursor() as cursor:
        cursor.execute(chain.CLOCK_SQL[connection.vendor])
        value = cursor.fetchone()[0]
    return value


def run_verify():
    return CliRunner().invoke(app, ["audit", "verify"])


def test_rows_are_chained_and_verify_passes():
    rows = append()
    for earlier, later in itertools.pairwise(rows):
        assert later.prev_hash == earlier.hash and len(later.hash) == 64
    assert chain.verify().ok
    result = run_verify()
    assert result.exit_code == 0, result.output
    assert "audit trail intact" in result.output


def test_the_database_sets_the_time_not_the_app():
    long_ago = timezone.now() - dt.timedelta(days=400)
    event = AuditEvent(username="t", action="read", what="back-dated", outcome="allowed")
    event.at = long_ago
    event.save()
    stored = AuditEvent.objects.get(pk=event.pk).at
    assert abs(stored - timezone.now()) < dt.timedelta(minutes=1)
    assert chain.verify().ok


@pytest.mark.parametrize("days", [-400, -1, 1])
def test_a_raw_insert_with_a_time_not_the_databases_is_refused(days):
    append(1)
    at = timezone.now() + dt.timedelta(days=days)
    if connection.vendor == "sqlite":
        at = at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with pytest.raises(DatabaseError, match="set by the database"):
        raw_insert(at=at, prev_hash=head().hash)


def test_a_raw_insert_with_the_databases_time_is_accepted_only_if_it_continues_the_chain():
    append(1)
    with pytest.raises(DatabaseError, match="continue the chain"):
        raw_insert(at=db_now(), prev_hash="0" * 64)


@pytest.mark.parametrize("conflict", ["REPLACE", "OR REPLACE", "upsert", "OR IGNORE"])
def test_replace_and_upserts_cannot_rewrite_a_row(conflict):
    if connection.vendor == "postgresql" and conflict != "upsert":
        pytest.skip("REPLACE and INSERT OR ... are SQLite syntax")
    target = append(2)[0]
    before = AuditEvent.objects.filter(pk=target.pk).values().get()
    upsert = "ON CONFLICT (id) DO UPDATE SET what = 'rewritten'"
    clause = upsert if conflict == "upsert" else conflict
    with pytest.raises(DatabaseError, match="append-only"):
        raw_insert(at=db_now(), prev_hash=head().hash, row_id=target.pk, conflict=clause)
    assert AuditEvent.objects.filter(pk=target.pk).values().get() == before
    assert chain.verify().ok


def test_an_explicit_id_before_the_last_row_is_refused():
    first, *_ = append(3)
    with pytest.raises(DatabaseError, match="append-only"):
        raw_insert(at=db_now(), prev_hash=head().hash, row_id=first.pk - 1 if first.pk > 1 else 0)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE records_auditevent SET at = at - interval '1 day'",
        "UPDATE records_auditevent SET what = 'changed'",
        "DELETE FROM records_auditevent",
    ],
)
def test_update_and_delete_are_refused(sql):
    append(1)
    if connection.vendor == "sqlite":
        sql = sql.replace("at - interval '1 day'", "datetime(at, '-1 day')")
    with pytest.raises(DatabaseError, match="append-only"):
        raw(sql)


def drop_triggers():
    if connection.vendor == "sqlite":
        for name in ("audit_no_update", "audit_no_delete", "audit_insert_checks"):
            raw(f"DROP TRIGGER {name}")
    else:
        raw("DROP TRIGGER audit_append_only ON records_auditevent")
        raw("DROP TRIGGER audit_insert_checks ON records_auditevent")


def test_dropping_the_triggers_then_editing_a_row_is_detected():
    rows = append(4)
    drop_triggers()
    raw("UPDATE records_auditevent SET what = 'nothing to see' WHERE id = %s", [rows[1].pk])
    verdict = chain.verify()
    assert verdict.broken_id == rows[1].pk and "hash" in verdict.problem
    result = run_verify()
    assert result.exit_code == 1
    assert f"broken at row {rows[1].pk}" in result.output


def test_dropping_the_triggers_then_back_dating_a_row_is_detected():
    rows = append(3)
    drop_triggers()
    sqlite = connection.vendor == "sqlite"
    shift = "datetime(at, '-30 days')" if sqlite else "at - interval '30 days'"
    raw(f"UPDATE records_auditevent SET at = {shift} WHERE id = %s", [rows[0].pk])
    assert chain.verify().broken_id == rows[0].pk
    assert run_verify().exit_code == 1


def test_dropping_the_triggers_then_deleting_a_row_is_detected():
    rows = append(4)
    drop_triggers()
    raw("DELETE FROM records_auditevent WHERE id = %s", [rows[1].pk])
    verdict = chain.verify()
    assert verdict.broken_id == rows[2].pk and "row before" in verdict.problem


def test_dropping_the_triggers_then_rehashing_an_edit_without_the_key_is_detected():
    """Recomputing the edited row's hash needs the chain key; a plain SHA-256 does not fit."""
    import hashlib

    rows = append(3)
    drop_triggers()
    forged = hashlib.sha256(b"nothing to see").hexdigest()
    raw(
        "UPDATE records_auditevent SET what = 'nothing to see', hash = %s WHERE id = %s",
        [forged, rows[0].pk],
    )
    assert chain.verify().broken_id == rows[0].pk


def test_a_forged_row_slipped_in_with_the_triggers_dropped_is_detected():
    append(2)
    drop_triggers()
    raw_insert(at=db_now(), prev_hash=head().hash)
    verdict = chain.verify()
    assert verdict.broken_id == head().pk and "hash" in verdict.problem


def test_audit_record_chains_the_row_it_writes(rf):
    from wraparound.apps.records.models import User

    request = rf.get("/audit/?since=2026-01-01")
    request.user = User.objects.get(username="auditor")
    previous = head()
    event = audit.record(request, action="audit_search", what="audit search")
    assert event.prev_hash == (previous.hash if previous else "") and len(event.hash) == 64
    assert chain.verify().ok
