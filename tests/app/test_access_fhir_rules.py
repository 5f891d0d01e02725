"""The FHIR booking API applies the page's booking rules (issue 13): a high-needs patient
(the stream rule, ``data/access/appointment_length.toml``) booked into one ordinary slot is
refused with a 422 business-rule OperationOutcome that names the two adjacent slots to book,
and nothing is written; naming both books one appointment holding both. A slot still under
embargo is refused the same way."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone
from fhirclient.models.operationoutcome import OperationOutcome
from worlds import fresh_patient, hub_open_day, hub_session

from wraparound.apps.access import tokens
from wraparound.apps.access.fhir_resources import BOOKING_ORGANIZATION, NHS_NUMBER, ODS_CODE
from wraparound.apps.access.generate import generate_slots
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Appointment, AppointmentVersion, Slot
from wraparound.apps.records.models import AuditEvent, User
from wraparound.apps.registers.models import RegisterEntry, RegisterRun

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


@pytest.fixture
def world():
    hub_user = User.objects.get(username="hub")
    hub = create_hub(hub_user.service)
    day = hub_open_day(hub, 3, "10:00", "14:30")
    for start, release in (("10:00", 24 * 14), ("14:00", 1)):  # the second still embargoed
        end = dt.time.fromisoformat(start).replace(minute=30).isoformat("minutes")
        hub_session(hub, day, start, end, clinician=hub_user, release_to_practices_hours=release)
    generate_slots(hub, day, weeks=1)
    practice = User.objects.get(username="gp").scope_org
    _, token = tokens.issue(practice, "practice system")
    patient = fresh_patient(at_gp_practice=True)
    RegisterEntry.objects.create(
        run=RegisterRun.objects.get(current=True),
        patient=patient,
        practice=patient.practice,
        neighbourhood=patient.neighbourhood,
        score=0.9,
        risk_band="high",
        percentile=99.0,
        stream="high_needs",
    )
    return {
        "practice": practice,
        "patient": patient,
        "slots": list(Slot.objects.filter(hub=hub).order_by("start")),
        "auth": {"Authorization": f"Bearer {token}"},
    }


def post(client, world, slots):
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "extension": [
            {
                "url": BOOKING_ORGANIZATION,
                "valueReference": {
                    "identifier": {"system": ODS_CODE, "value": world["practice"].pk}
                },
            }
        ],
        "description": "Review of falls",
        "slot": [{"reference": f"Slot/{s.pk}"} for s in slots],
        "participant": [
            {
                "actor": {
                    "identifier": {"system": NHS_NUMBER, "value": world["patient"].nhs_number}
                },
                "status": "accepted",
            }
        ],
    }
    return client.post(
        "/fhir/Appointment",
        json.dumps(body),
        content_type="application/fhir+json",
        headers=world["auth"],
    )


def test_one_slot_for_a_high_needs_patient_is_refused_with_an_outcome(client, world):
    first, second = world["slots"][:2]
    response = post(client, world, [first])
    assert response.status_code == 422
    outcome = response.json()
    OperationOutcome(outcome, strict=True)  # a valid FHIR R4 OperationOutcome
    issue = outcome["issue"][0]
    assert issue["code"] == "business-rule"
    assert "high needs stream needs a long slot or 2 adjacent slots" in issue["diagnostics"]
    assert f"Slot/{first.pk} and Slot/{second.pk}" in issue["diagnostics"]
    # nothing written; the refusal audited
    assert not Appointment.objects.filter(patient=world["patient"]).exists()
    assert not AppointmentVersion.objects.filter(appointment__patient=world["patient"]).exists()
    assert Slot.objects.get(pk=first.pk).status == "free"
    assert AuditEvent.objects.filter(
        username="api-token:practice system", outcome="denied", what__contains="high needs"
    ).exists()
    # the two slots named, as the page would book them: one appointment holding both
    booked = post(client, world, [first, second])
    assert booked.status_code == 201
    appt = Appointment.objects.get(patient=world["patient"])
    assert sorted(appt.holds.values_list("slot_id", flat=True)) == [first.pk, second.pk]


def test_an_embargoed_slot_is_refused_over_fhir_as_on_the_page(client, world):
    embargoed = [s for s in world["slots"] if timezone.localtime(s.start).hour == 14]
    response = post(client, world, embargoed[:2])
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["code"] == "business-rule"
    assert "not released to practices until" in issue["diagnostics"]
    assert not Appointment.objects.filter(patient=world["patient"]).exists()
