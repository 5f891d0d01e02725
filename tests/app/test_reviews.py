"""Recording a review or assessment on the patient page: clinical roles with a relationship
may; a role without the permission, or a user without a relationship, is refused and nothing
is written; every request leaves exactly one audit row."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from worlds import patients

from wraparound.apps.care.models import ClinicalReview
from wraparound.apps.records.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def record(client, patient, **form):
    before = AuditEvent.objects.filter(patient=patient).count()
    response = client.post(reverse("reviews", args=[patient.pk]), form)
    rows = AuditEvent.objects.filter(patient=patient).order_by("-id")
    assert rows.count() == before + 1, "a review POST must leave exactly one audit row"
    return response, rows[0]


@pytest.mark.parametrize("username", ["gp", "practice", "nurse", "pharmacist"])
def test_clinical_role_with_a_relationship_records_a_review(client, login, username):
    patient = patients()["related"]
    login(username)
    page = client.get(reverse("patient", args=[patient.pk]))
    assert reverse("reviews", args=[patient.pk]).encode() in page.content
    response, audit = record(client, patient, kind="frailty_assessment", date=YESTERDAY)
    assert response.status_code == 302 and response["Location"] == reverse(
        "patient", args=[patient.pk]
    )
    review = ClinicalReview.objects.get(patient=patient)
    assert (review.kind, review.date.isoformat(), review.recorded_by.username) == (
        "frailty_assessment",
        YESTERDAY,
        username,
    )
    assert (audit.action, audit.outcome, audit.username, audit.what) == (
        "write",
        "allowed",
        username,
        "record a review",
    )
    assert audit.basis
    shown = client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert "Frailty assessment" in shown


@pytest.mark.parametrize("username", ["coordinator", "social", "linkworker", "hub"])
def test_a_role_without_the_permission_is_refused_and_nothing_is_written(client, login, username):
    patient = patients()["related"]  # every direct-care role has a relationship with them
    login(username)
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 200
    page = client.get(reverse("patient", args=[patient.pk])).content
    assert reverse("reviews", args=[patient.pk]).encode() not in page
    assert client.get(reverse("reviews", args=[patient.pk])).status_code == 403
    response, audit = record(client, patient, kind="ltc_review", date=YESTERDAY)
    assert response.status_code == 403 and b"Your role" in response.content
    assert not ClinicalReview.objects.filter(patient=patient).exists()
    assert (audit.action, audit.outcome, audit.username, audit.basis) == (
        "denied",
        "denied",
        username,
        "",
    )


@pytest.mark.parametrize("username", ["commissioner", "admin", "auditor"])
def test_non_clinical_roles_are_refused(client, login, username):
    patient = patients()["related"]
    login(username)
    response, audit = record(client, patient, kind="ltc_review", date=YESTERDAY)
    assert response.status_code == 403 and audit.outcome == "denied"
    assert not ClinicalReview.objects.filter(patient=patient).exists()


def test_no_relationship_is_refused_and_nothing_is_written(client, login):
    world = patients()
    login("gp")
    stranger = world["stranger"]
    response, audit = record(client, stranger, kind="annual_health_check", date=YESTERDAY)
    assert response.status_code == 403 and b"no legitimate relationship" in response.content
    assert not ClinicalReview.objects.filter(patient=stranger).exists()
    assert (audit.action, audit.outcome, audit.username) == ("denied", "denied", "gp")
    # The community nurse has no relationship with a practice-only patient.
    login("nurse")
    patient = world["practice_only"]
    response, audit = record(client, patient, kind="frailty_assessment", date=YESTERDAY)
    assert response.status_code == 403 and audit.outcome == "denied"
    assert not ClinicalReview.objects.filter(patient=patient).exists()


@pytest.mark.parametrize(
    "form, message",
    [
        ({"date": YESTERDAY}, b"Choose what was done"),
        ({"kind": "ltc_review_typo", "date": YESTERDAY}, b"Choose what was done"),
        ({"kind": "ltc_review", "date": "yesterday"}, b"YYYY-MM-DD"),
        (
            {"kind": "ltc_review", "date": (dt.date.today() + dt.timedelta(days=1)).isoformat()},
            b"cannot be in the future",
        ),
        ({"kind": "ltc_review", "date": "1899-01-01"}, b"before the patient was born"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_nothing_is_written(client, login, form, message):
    patient = patients()["related"]
    login("gp")
    response, audit = record(client, patient, **form)
    assert response.status_code == 400 and message in response.content
    assert b"There is a problem" in response.content
    assert not ClinicalReview.objects.filter(patient=patient).exists()
    assert audit.outcome == "allowed"  # the request was allowed; the form was not valid


def test_the_form_lists_what_was_recorded(client, login):
    patient = patients()["related"]
    login("practice")
    record(client, patient, kind="ltc_review", date="2026-01-15")
    record(client, patient, kind="annual_health_check", date="2026-02-01")
    page = client.get(reverse("reviews", args=[patient.pk])).content.decode()
    assert page.index("1 Feb 2026") < page.index("15 Jan 2026")  # newest first
    assert "Learning disability annual health check" in page
    for label in ("What was done", "Date it took place (YYYY-MM-DD)"):
        assert label in page
