"""Sign-in, lock-out, security headers and the append-only audit trail."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction

from wraparound.apps.demo import DEMO_PASSWORD
from wraparound.apps.records.auth import REFUSED_MESSAGE
from wraparound.apps.records.models import AuditEvent, Patient, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def test_passwords_are_hashed_with_argon2():
    assert User.objects.get(username="gp").password.startswith("argon2")


def test_anonymous_requests_go_to_sign_in(client):
    response = client.get("/register/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_lockout_after_five_failures_refuses_even_the_right_password(client):
    for _ in range(5):
        client.post("/login/", {"username": "social", "password": "wrong-password-123"})
    response = client.post("/login/", {"username": "social", "password": DEMO_PASSWORD})
    assert response.status_code == 200 and REFUSED_MESSAGE in response.content.decode()
    assert "_auth_user_id" not in client.session
    actions = list(AuditEvent.objects.filter(username="social").values_list("action", flat=True))
    assert actions.count("login_failed") == 5 and actions.count("login_locked") == 1
    assert AuditEvent.objects.filter(username="social", what__endswith="account locked").exists()


def test_security_headers_and_cookies(client, login):
    login("gp")
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"
    session = client.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Strict"


def test_audit_rows_cannot_be_changed_or_deleted():
    event = AuditEvent.objects.create(username="x", action="read", what="t", outcome="allowed")
    with pytest.raises(PermissionDenied):
        event.save()
    with pytest.raises(PermissionDenied):
        event.delete()
    with pytest.raises(PermissionDenied):
        AuditEvent.objects.filter(pk=event.pk).update(what="changed")
    with pytest.raises(PermissionDenied):
        AuditEvent.objects.filter(pk=event.pk).delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE records_auditevent SET what = 'changed'",
        "DELETE FROM records_auditevent",
    ],
)
def test_audit_table_refuses_raw_sql_too(sql):
    AuditEvent.objects.create(username="x", action="read", what="t", outcome="allowed")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=abc", "since must be a date written YYYY-MM-DD"),
        ("until=2026-13-45", "until must be a date written YYYY-MM-DD"),
        ("since=20260101", "since must be a date written YYYY-MM-DD"),
        ("outcome=maybe", "outcome must be one of allowed, denied"),
    ],
)
def test_a_malformed_audit_search_is_a_400_with_the_reason(client, login, query, message):
    login("auditor")
    before = AuditEvent.objects.count()
    response = client.get(f"/audit/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert AuditEvent.objects.count() == before  # no search was run, so none is audited


def test_every_audit_search_is_audited_with_what_was_asked(client, login):
    login("auditor")
    patient = AuditEvent.objects.exclude(patient=None).values_list("patient", flat=True).first()
    nhs = Patient.objects.get(pk=patient).nhs_number if patient else "9990000018"
    response = client.get("/audit/", {"patient": nhs, "since": "2026-01-01", "action": "read"})
    assert response.status_code == 200
    row = AuditEvent.objects.order_by("-id").first()
    assert row.action == "audit_search" and row.username == "auditor"
    assert f"patient={nhs}" in row.what and "since=2026-01-01" in row.what
    assert row.patient_id == patient


def test_signing_out_twice_never_fails(client, login):
    login("gp")
    for _ in range(2):
        response = client.post("/logout/")
        assert response.status_code == 302 and response.url.startswith("/login/")
    assert client.get("/logout/").status_code in (302, 405)  # signed out: to sign-in
