"""Patients with known relationships to the demo users, for the permission and audit tests.

``related``: on the GP's practice register, named GP and co-ordinator set, the nurse on the
care team, on the demo MDT agenda (so every MDT member has a relationship) and booked to the
hub (a warehouse booking on the today for data, so in force). ``practice_only``:
registered with the GP's practice, on no register or caseload. ``stranger``: registered in
another neighbourhood's practice (made here: the small test locality has one practice), on
no register, caseload or agenda, booked nowhere.

``fresh_patient`` makes a patient with no relationship to anyone, at the GP's practice or at
a second practice of the demo neighbourhood (``neighbour_practice``), for tests that build
exactly one relationship and look at what it allows.
"""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from wraparound.apps.access.generate import generate_slots, opening_on
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import SessionTemplate, Slot
from wraparound.apps.care.models import AgendaItem, CareTeamMember, MdtMeeting
from wraparound.apps.records.clock import data_today
from wraparound.apps.records.models import Organisation, Patient, Referral, User
from wraparound.apps.registers.models import RegisterEntry


def _unrelated():
    return (
        Patient.objects.exclude(pk__in=RegisterEntry.objects.values("patient_id"))
        .exclude(pk__in=CareTeamMember.objects.values("patient_id"))
        .exclude(pk__in=Referral.objects.values("patient_id"))
        .exclude(pk__in=AgendaItem.objects.values("patient_id"))
        .exclude(practice=None)
        .order_by("pk")
    )


def _stranger() -> Patient:
    locality = Organisation.objects.get(kind="locality")
    elsewhere, _ = Organisation.objects.get_or_create(
        org_id="U99999",
        defaults={"name": "Elsewhere Neighbourhood", "kind": "neighbourhood", "parent": locality},
    )
    practice, _ = Organisation.objects.get_or_create(
        org_id="P99999",
        defaults={"name": "Elsewhere Surgery", "kind": "practice", "parent": elsewhere},
    )
    patient, _ = Patient.objects.get_or_create(
        pseudonym="stranger-pseudonym",
        defaults={
            "nhs_number": "9990000018",
            "given_name": "Ada",
            "family_name": "Stranger",
            "birth_date": dt.date(1940, 1, 1),
            "sex": "female",
            "practice": practice,
            "neighbourhood": elsewhere,
        },
    )
    return patient


def patients() -> dict[str, Patient]:
    gp = User.objects.get(username="gp")
    related = (
        CareTeamMember.objects.filter(user__username="nurse", active=True)
        .select_related("patient")
        .first()
        .patient
    )
    meeting = MdtMeeting.objects.get(team=User.objects.get(username="coordinator").scope_org)
    item, _ = AgendaItem.objects.get_or_create(
        meeting=meeting, patient=related, defaults={"reason": "raised"}
    )
    Referral.objects.get_or_create(
        source_id="test-booking",
        defaults={
            "patient": related,
            "service": User.objects.get(username="hub").service,
            "kind": "booking",
            # dated in the data, as a warehouse booking is: the today for data
            "on": data_today(),
        },
    )
    return {
        "related": related,
        "practice_only": _unrelated().filter(practice=gp.scope_org).first(),
        "stranger": _stranger(),
        "agenda_item": item,
    }


_numbers = itertools.count(1)


def neighbour_practice() -> Organisation:
    """A second practice in the demo neighbourhood (the small test locality has one): its
    patients are in the neighbourhood's MDT team but not the demo GP's practice."""
    neighbourhood = User.objects.get(username="coordinator").scope_org
    practice, _ = Organisation.objects.get_or_create(
        org_id="P99998",
        defaults={"name": "Neighbour Surgery", "kind": "practice", "parent": neighbourhood},
    )
    return practice


def fresh_patient(at_gp_practice: bool = False) -> Patient:
    """A new patient nobody has a relationship with yet."""
    practice = User.objects.get(username="gp").scope_org if at_gp_practice else neighbour_practice()
    n = next(_numbers)
    return Patient.objects.create(
        pseudonym=f"fresh-{n}",
        nhs_number=f"98{n:08d}",
        given_name="Fresh",
        family_name=f"Patient{n}",
        birth_date=dt.date(1950, 1, 1),
        sex="female",
        practice=practice,
        neighbourhood=practice.parent,
    )


def hub_open_day(hub, days_ahead: int, start: str, end: str) -> dt.date:
    """The first date at least ``days_ahead`` days from today on which ``hub`` is open from
    ``start`` to ``end`` (local "HH:MM"), by the generator's own rule (``opening_on``: the
    hub's hours, hub_defaults.toml, bank holidays and the hub's own days). A fixture that
    took today + 2 found no 18:00 slots when the suite ran on a Thursday (a Saturday, open
    until 18:00)."""
    wanted = dt.time.fromisoformat(start), dt.time.fromisoformat(end)
    today = timezone.localdate()
    for ahead in range(days_ahead, days_ahead + 60):
        day = today + dt.timedelta(days=ahead)
        hours = opening_on(hub, day)
        if hours and hours[0] <= wanted[0] and wanted[1] <= hours[1]:
            return day
    raise AssertionError(f"{hub} is never open {start}-{end} in 60 days")


def hub_session(hub, day: dt.date, start: str, end: str, **fields) -> SessionTemplate:
    """A rota session at ``hub`` from ``start`` to ``end`` (local "HH:MM") on ``day``'s
    weekday from ``day``: 15-minute routine GP slots, face to face, released to practices
    two weeks ahead. ``fields`` set anything else (the clinician, the release to patients)."""
    values = {
        "hub": hub,
        "site": hub.sites.first(),
        "role": "gp",
        "mode": "face_to_face",
        "slot_type": "routine",
        "slot_minutes": 15,
        "weekday": day.weekday(),
        "start": dt.time.fromisoformat(start),
        "end": dt.time.fromisoformat(end),
        "valid_from": day,
        "release_to_practices_hours": 24 * 14,
        **fields,
    }
    return SessionTemplate.objects.create(**values)


def evening_slots(days_ahead=3, patients_hours=24 * 14):
    """An evening session (18:00-20:00, 15-minute slots) at the demo hub, released to
    patients ``patients_hours`` before each slot."""
    hub_user = User.objects.get(username="hub")
    hub = create_hub(hub_user.service)
    day = hub_open_day(hub, days_ahead, "18:00", "20:00")
    hub_session(
        hub,
        day,
        "18:00",
        "20:00",
        clinician=hub_user,
        release_to_practices_hours=24 * 28,
        release_to_patients_hours=patients_hours,
    )
    generate_slots(hub, day, weeks=1)
    return hub, list(Slot.objects.filter(hub=hub, start__date__gte=day).order_by("start"))
