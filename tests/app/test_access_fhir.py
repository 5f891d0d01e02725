"""The FHIR R4 API in the shape of GP Connect Appointment Management (issue 13): Slot search
with Schedule, PractitionerRole and Location included, the booking organisation filter,
booking with the UK Core BookingOrganization extension (409 when the slot has gone, once per
Idempotency-Key), cancel and amend by PUT, search by NHS number, local times with offsets,
bearer tokens tied to an organisation, every call audited, resources validated with
fhirclient's R4 models, and a Hypothesis run that finds no 500s."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from fhirclient.models.appointment import Appointment as FhirAppointment
from fhirclient.models.bundle import Bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from worlds import fresh_patient, hub_open_day, hub_session, patients

from wraparound.apps.access import tokens
from wraparound.apps.access.fhir_resources import BOOKING_ORGANIZATION, NHS_NUMBER, ODS_CODE
from wraparound.apps.access.generate import generate_slots
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import ApiToken, Appointment, Slot
from wraparound.apps.records.models import AuditEvent, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


@pytest.fixture
def world():
    hub_user = User.objects.get(username="hub")
    hub = create_hub(hub_user.service)
    practice = User.objects.get(username="gp").scope_org
    for day, start in ((hub_open_day(hub, 3, "10:00", "11:00"), "10:00"),):
        hub_session(hub, day, start, "11:00", clinician=hub_user, mode="telephone")
        generate_slots(hub, day, weeks=1)
    _, token = tokens.issue(practice, "practice system")
    return {
        "hub": hub,
        "practice": practice,
        "token": token,
        "slots": list(Slot.objects.filter(hub=hub).order_by("start")),
        "auth": {"Authorization": f"Bearer {token}"},
    }


def window(days=7):
    today = timezone.localdate()
    return f"start=ge{today.isoformat()}&end=le{(today + dt.timedelta(days=days)).isoformat()}"


def appointment_body(world, patient, slots, org=None):
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "extension": [
            {
                "url": BOOKING_ORGANIZATION,
                "valueReference": {
                    "identifier": {"system": ODS_CODE, "value": org or world["practice"].pk}
                },
            }
        ],
        "description": "Cough for three weeks",
        "slot": [{"reference": f"Slot/{s.pk}"} for s in slots],
        "participant": [
            {
                "actor": {"identifier": {"system": NHS_NUMBER, "value": patient.nhs_number}},
                "status": "accepted",
            }
        ],
    }


def post(client, world, body, key=None):
    headers = dict(world["auth"])
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/fhir/Appointment",
        json.dumps(body),
        content_type="application/fhir+json",
        headers=headers,
    )


def test_slot_search_bundle_validates_with_includes_and_offsets(client, world):
    response = client.get(
        f"/fhir/Slot?{window()}&status=free&_include=Slot:schedule", headers=world["auth"]
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    Bundle(body, strict=True)  # FHIR R4 structure
    kinds = [e["resource"]["resourceType"] for e in body["entry"]]
    assert kinds.count("Slot") == 4 == body["total"]
    assert {"Schedule", "PractitionerRole", "Location"} <= set(kinds)
    slot = body["entry"][0]["resource"]
    assert slot["schedule"]["reference"] == f"Schedule/{world['slots'][0].session_id}"
    # 10:00 London wall-clock time with that day's offset: +00:00 in winter, +01:00 in summer
    day = dt.date.fromisoformat(slot["start"][:10])
    expected = dt.datetime.combine(day, dt.time(10), tzinfo=ZoneInfo("Europe/London")).isoformat()
    assert slot["start"] == expected
    # without _include only slots
    plain = client.get(f"/fhir/Slot?{window()}&status=free", headers=world["auth"]).json()
    assert {e["resource"]["resourceType"] for e in plain["entry"]} == {"Slot"}
    assert (
        AuditEvent.objects.filter(
            username="api-token:practice system", action="read", what__startswith="FHIR Slot"
        ).count()
        == 2
    )


def test_summer_times_carry_plus_one_hour(world):
    from wraparound.apps.access.fhir_resources import when

    assert when(dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)) == "2026-06-01T10:00:00+01:00"
    assert when(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)) == "2026-12-01T09:00:00+00:00"


def test_booking_organisation_filter(client, world):
    stranger_org = patients()["stranger"].practice  # another neighbourhood: no hub serves it
    body = client.get(
        f"/fhir/Slot?{window()}&searchFilter={ODS_CODE}|{stranger_org.pk}", headers=world["auth"]
    ).json()
    assert body["total"] == 0
    ours = client.get(
        f"/fhir/Slot?{window()}&searchFilter={ODS_CODE}|{world['practice'].pk}",
        headers=world["auth"],
    ).json()
    assert ours["total"] == 4


def test_book_once_then_conflict_then_cancel_and_search(client, world):
    patient = fresh_patient()
    slots = world["slots"]
    first = post(client, world, appointment_body(world, patient, slots[:1]), key="k-1")
    assert first.status_code == 201, first.content
    appt = first.json()
    FhirAppointment(appt, strict=True)
    assert appt["status"] == "booked" and appt["slot"] == [{"reference": f"Slot/{slots[0].pk}"}]
    assert appt["extension"][0]["valueReference"]["identifier"]["value"] == world["practice"].pk
    assert first["Location"] == f"/fhir/Appointment/{appt['id']}"
    # a retry with the same key books nothing new
    again = post(client, world, appointment_body(world, patient, slots[:1]), key="k-1")
    assert again.status_code == 200 and again.json()["id"] == appt["id"]
    assert Appointment.objects.filter(patient=patient).count() == 1
    # another booking of the slot: 409 with the next free slots
    other = post(client, world, appointment_body(world, fresh_patient(), slots[:1]), key="k-2")
    assert other.status_code == 409
    assert f"Slot/{slots[1].pk}" in other.json()["issue"][0]["diagnostics"]
    # amend, then cancel by PUT
    amended = dict(appt, description="Cough, now with fever")
    put = client.put(
        f"/fhir/Appointment/{appt['id']}",
        json.dumps(amended),
        content_type="application/fhir+json",
        headers=world["auth"],
    )
    assert put.status_code == 200 and put.json()["description"] == "Cough, now with fever"
    cancel = dict(
        put.json(),
        status="cancelled",
        cancelationReason={"coding": [{"code": "pat", "display": "Patient"}], "text": "Better"},
    )
    done = client.put(
        f"/fhir/Appointment/{appt['id']}",
        json.dumps(cancel),
        content_type="application/fhir+json",
        headers=world["auth"],
    )
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    stored = Appointment.objects.get(pk=appt["id"])
    assert stored.status == "cancelled_patient" and stored.cancel_reason == "Better"
    assert stored.versions.count() == 3
    assert Slot.objects.get(pk=slots[0].pk).status == "free"
    found = client.get(
        f"/fhir/Appointment?patient:identifier={NHS_NUMBER}|{patient.nhs_number}",
        headers=world["auth"],
    ).json()
    Bundle(found, strict=True)
    assert [e["resource"]["id"] for e in found["entry"]] == [appt["id"]]


def test_two_adjacent_slots_as_one_appointment(client, world):
    slots = world["slots"]
    response = post(client, world, appointment_body(world, fresh_patient(), slots[1:3]))
    assert response.status_code == 201
    assert len(response.json()["slot"]) == 2 and response.json()["minutesDuration"] == 30
    not_adjacent = post(
        client, world, appointment_body(world, fresh_patient(), [slots[0], slots[3]])
    )
    assert not_adjacent.status_code == 422


def test_refusals(client, world):
    patient = fresh_patient()
    slots = world["slots"]
    assert client.get(f"/fhir/Slot?{window()}").status_code == 401
    assert (
        client.get(f"/fhir/Slot?{window()}", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    assert AuditEvent.objects.filter(username="api-token:unknown", action="denied").count() == 2
    # the booking organisation must be the token's own
    assert (
        post(client, world, appointment_body(world, patient, slots[:1], org="X1")).status_code
        == 403
    )
    no_ext = appointment_body(world, patient, slots[:1])
    no_ext["extension"] = []
    assert post(client, world, no_ext).status_code == 422
    # a patient from another neighbourhood
    stranger = patients()["stranger"]
    assert post(client, world, appointment_body(world, stranger, slots[:1])).status_code == 403
    # not FHIR
    bad = client.post(
        "/fhir/Appointment", "{", content_type="application/fhir+json", headers=world["auth"]
    )
    assert bad.status_code == 400
    # a revoked token
    record = ApiToken.objects.get(name="practice system")
    record.revoked_at = timezone.now()
    record.save()
    assert client.get(f"/fhir/Slot?{window()}", headers=world["auth"]).status_code == 401
    assert not Appointment.objects.filter(patient__in=[patient, stranger]).exists()


def test_issue_token_command(world, capsys):
    call_command("issue_fhir_token", world["practice"].pk, "EMIS at the practice")
    out = capsys.readouterr().out
    token = out.strip().rsplit(" ", 1)[-1]
    found = tokens.authenticate(f"Bearer {token}")
    assert found is not None and found.organisation == world["practice"]
    assert token not in json.dumps(list(ApiToken.objects.values()), default=str)


TEXT = st.text(max_size=30)
PARAM = st.sampled_from(
    ["start", "end", "status", "_include", "searchFilter", "patient:identifier", "x"]
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(
        ["/fhir/Slot", "/fhir/Appointment", "/fhir/Appointment/1", "/fhir/Appointment/999999"]
    ),
    method=st.sampled_from(["get", "post", "put", "delete"]),
    params=st.lists(st.tuples(PARAM, TEXT), max_size=4),
    body=st.one_of(
        TEXT,
        st.recursive(
            st.none() | st.booleans() | st.integers() | TEXT,
            lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3),
            max_leaves=8,
        ).map(json.dumps),
        st.fixed_dictionaries(
            {
                "resourceType": st.just("Appointment"),
                "status": TEXT,
                "slot": st.just([{"reference": "Slot/1"}]),
            }
        ).map(json.dumps),
    ),
)
def test_no_500s(client, world, path, method, params, body):
    from urllib.parse import urlencode

    url = f"{path}?{urlencode(params)}" if params else path
    kwargs = {"headers": world["auth"]}
    if method in ("post", "put"):
        kwargs.update(data=body, content_type="application/fhir+json")
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code < 500, (method, url, body, response.content[:300])
