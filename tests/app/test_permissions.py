"""The permission matrix: every role against every patient-facing view, for a patient each
direct-care role has a relationship with, one only the practice has, and a stranger.
Allowed means not refused (a view may still 404, e.g. no care plan yet); refused means 403
and a ``denied`` audit row naming the user and patient."""

from __future__ import annotations

import pytest
from django.urls import reverse
from worlds import patients

from wraparound.apps.records.demo import DEMO_USERS
from wraparound.apps.records.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

ROLES = [u[0] for u in DEMO_USERS]
DIRECT_CARE = {
    "gp",
    "practice",
    "coordinator",
    "nurse",
    "social",
    "pharmacist",
    "mentalhealth",
    "linkworker",
    "hub",
}
EXPECTED = {
    "related": DIRECT_CARE,
    "practice_only": {"gp", "practice"},
    "stranger": set(),
}
VIEWS = [
    "patient",
    "patient_timeline",
    "case_manage",
    "care_plan",
    "care_plan_edit",
    "care_plan_print",
    "care_plan_fhir",
    "mdt_add",
    "mdt_outcome",
]


def url(view: str, patient, item) -> str:
    if view == "mdt_outcome":
        return reverse(view, args=[patient.pk, item.pk])
    return reverse(view, args=[patient.pk])


@pytest.mark.parametrize("who", ["related", "practice_only", "stranger"])
@pytest.mark.parametrize("username", ROLES)
def test_matrix(client, login, username, who):
    world = patients()
    patient = world[who]
    login(username)
    for view in VIEWS:
        before = AuditEvent.objects.filter(patient=patient).count()
        response = client.get(url(view, patient, world["agenda_item"]))
        rows = AuditEvent.objects.filter(patient=patient).order_by("-id")
        assert rows.count() == before + 1, f"{view} left no audit row"
        if username in EXPECTED[who]:
            assert response.status_code != 403, f"{username} refused {view} for {who}"
            assert rows[0].outcome == "allowed" and rows[0].basis
        else:
            assert response.status_code == 403, f"{username} allowed {view} for {who}"
            assert rows[0].outcome == "denied" and rows[0].username == username


@pytest.mark.parametrize("username", ["commissioner", "admin", "auditor"])
def test_non_clinical_roles_cannot_break_glass(client, login, username):
    stranger = patients()["stranger"]
    login(username)
    response = client.post(
        reverse("break_glass", args=[stranger.pk]),
        {"reason": "Patient collapsed in reception, need history"},
    )
    assert response.status_code == 403
    assert client.get(reverse("patient", args=[stranger.pk])).status_code == 403
    assert AuditEvent.objects.filter(
        patient=stranger, username=username, what="break glass", outcome="denied"
    ).exists()


def test_break_glass_needs_a_reason_and_is_audited_with_it(client, login):
    stranger = patients()["stranger"]
    login("hub")
    assert (
        client.post(reverse("break_glass", args=[stranger.pk]), {"reason": "no"}).status_code == 400
    )
    assert client.get(reverse("patient", args=[stranger.pk])).status_code == 403
    reason = "Seen at hub out of hours, chest pain, needs medication history"
    client.post(reverse("break_glass", args=[stranger.pk]), {"reason": reason})
    assert client.get(reverse("patient", args=[stranger.pk])).status_code == 200
    last = AuditEvent.objects.filter(patient=stranger).order_by("-id").first()
    assert (last.basis, last.reason, last.outcome) == ("break_glass", reason, "allowed")


def test_commissioner_sees_pseudonyms_only(client, login):
    related = patients()["related"]
    login("commissioner")
    html = client.get(reverse("worklist")).content.decode()
    assert related.pseudonym in html
    assert related.nhs_number_display() not in html and related.family_name.upper() not in html
    assert reverse("patient", args=[related.pk]) not in html
