"""Every patient-record URL leaves exactly one audit row per request, naming the patient.
The walk reads the URL map itself, so a new patient URL is covered (or fails) automatically."""

from __future__ import annotations

import pytest
from django.urls import get_resolver, reverse
from worlds import patients

from wraparound.apps.records.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def patient_urls():
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern).startswith("patients/<int:pk>"):
            yield pattern


def test_every_patient_url_goes_through_the_gate():
    patterns = list(patient_urls())
    assert len(patterns) >= 10
    for pattern in patterns:
        assert getattr(pattern.callback, "patient_view", False), pattern.name


@pytest.mark.parametrize("username", ["coordinator", "commissioner"])
def test_walk(client, login, username):
    world = patients()
    patient = world["related"]
    login(username)
    for pattern in patient_urls():
        args = (
            [patient.pk, world["agenda_item"].pk]
            if "item_id" in str(pattern.pattern)
            else [patient.pk]
        )
        target = reverse(pattern.name, args=args)
        for method in ("get", "post"):
            before = AuditEvent.objects.filter(patient=patient).count()
            getattr(client, method)(
                target,
                {"reason": "walking every URL for the audit test"}
                if pattern.name == "break_glass"
                else {},
            )
            after = AuditEvent.objects.filter(patient=patient).count()
            assert after == before + 1, f"{method.upper()} {target} left {after - before} rows"
