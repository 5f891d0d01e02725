"""The rota editor (issue 13): the hub's rota staff (hub_staff of that hub) change a
recurring session (day, times, role, slot length, embargo) and the hub's bank-holiday
opening; the slots ahead are re-cut to the new template while booked slots stay as they are;
every change is audited. Refused (403, audited) for other roles and for hub staff of another
hub; bad input answers 400 with the errors and changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from worlds import fresh_patient, hub_open_day, hub_session

from wraparound.apps.access.booking import Actor, book
from wraparound.apps.access.generate import generate_slots
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import SessionTemplate, Slot
from wraparound.apps.records.models import AuditEvent, Organisation, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def rota_staff(username, org):
    user, _ = User.objects.update_or_create(
        username=username,
        defaults={
            "first_name": "Rota",
            "last_name": "Keeper",
            "role": "hub_staff",
            "scope": "neighbourhood",
            "scope_org": org.parent,
            "service": org,
        },
    )
    return user


@pytest.fixture
def world():
    hub_user = User.objects.get(username="hub")
    hub = create_hub(hub_user.service)
    day = hub_open_day(hub, 2, "18:00", "20:00")  # edited to 19:30 below
    session = hub_session(hub, day, "18:00", "19:00", clinician_name="Dr Lowe")
    generate_slots(hub, timezone.localdate())
    first = Slot.objects.filter(session=session).order_by("start").first()
    appt, _ = book(Actor(user=hub_user), fresh_patient(), first, reason="Kept", slots=1)
    other_org = Organisation.objects.create(
        org_id="HXOTHER", name="Other Hub", kind="hub", parent=hub.neighbourhood
    )
    return {
        "hub": hub,
        "session": session,
        "day": day,
        "booked": first,
        "appt": appt,
        "editor": rota_staff("rotakeeper", hub.organisation),
        "other_editor": rota_staff("otherkeeper", other_org),
    }


def form(world, **changes):
    s = world["session"]
    data = {
        "action": "save",
        "session": s.pk,
        "weekday": s.weekday,
        "start": "18:00",
        "end": "19:00",
        "site": s.site_id,
        "clinician_name": "Dr Lowe",
        "role": "gp",
        "mode": "face_to_face",
        "slot_type": "routine",
        "slot_minutes": "15",
        "valid_from": s.valid_from.isoformat(),
        "valid_to": "",
        "release_to_practices_hours": str(24 * 14),
        "release_to_patients_hours": "",
    }
    data.update(changes)
    return data


def url(world):
    return reverse("access_rota_edit", args=[world["hub"].pk])


def test_rota_staff_change_a_session_and_the_slots_follow_without_touching_bookings(client, world):
    client.force_login(world["editor"])
    page = client.get(url(world), {"session": world["session"].pk})
    assert page.status_code == 200 and "Dr Lowe" in page.content.decode()
    response = client.post(url(world), form(world, end="20:00", slot_minutes="20", mode="video"))
    assert response.status_code == 302
    session = SessionTemplate.objects.get(pk=world["session"].pk)
    assert (session.end, session.slot_minutes, session.mode) == (dt.time(20, 0), 20, "video")
    slots = list(Slot.objects.filter(session=session).order_by("start"))
    booked = Slot.objects.get(pk=world["booked"].pk)
    # the booked 18:00-18:15 face-to-face slot is untouched and still held
    assert (booked.status, booked.mode, booked.minutes) == ("booked", "face_to_face", 15)
    assert world["appt"].holds.filter(active=True, slot=booked).exists()
    free = [s for s in slots if s.status == "free"]
    on_day = [s for s in free if timezone.localtime(s.start).date() == world["day"]]
    # 18:00 taken by the booking: 18:20, 18:40 ... 19:40 cut as 20-minute video slots
    assert [f"{timezone.localtime(s.start):%H:%M}" for s in on_day] == [
        "18:20",
        "18:40",
        "19:00",
        "19:20",
        "19:40",
    ]
    assert {(s.mode, s.minutes) for s in free} == {("video", 20)}
    row = AuditEvent.objects.filter(username="rotakeeper", action="write").get()
    assert f"session #{session.pk} end, mode, slot_minutes" in row.what


def test_bank_holidays_open_and_hours(client, world):
    client.force_login(world["editor"])
    hub = world["hub"]
    response = client.post(
        url(world),
        {
            "action": "bank_holidays",
            "open_on_bank_holidays": "yes",
            "opens": "10:00",
            "closes": "16:00",
        },
    )
    assert response.status_code == 302
    hub.refresh_from_db()
    assert hub.open_on_bank_holidays and hub.bank_holiday_hours == ["10:00", "16:00"]
    assert AuditEvent.objects.filter(
        username="rotakeeper", what__contains="bank holidays open 10:00-16:00"
    ).exists()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"end": "17:30"}, "The end time must be after the start time"),
        ({"start": "6pm"}, "Enter the start time as HH:MM"),
        ({"start": "21:00", "end": "22:00"}, "inside the opening hours"),
        ({"slot_minutes": "0"}, "Enter the slot length in minutes"),
        ({"slot_minutes": "90"}, "The session is shorter than one slot"),
        ({"role": "surgeon"}, "Choose the staff role"),
        ({"release_to_patients_hours": str(24 * 20)}, "released to patients before"),
        ({"valid_to": "2000-01-01"}, "The last date must be on or after the first date"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(client, world, changes, message):
    client.force_login(world["editor"])
    before = list(Slot.objects.order_by("pk").values_list("pk", "status", "mode", "start"))
    response = client.post(url(world), form(world, **changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    session = SessionTemplate.objects.get(pk=world["session"].pk)
    assert (session.start, session.end, session.slot_minutes) == (
        dt.time(18, 0),
        dt.time(19, 0),
        15,
    )
    assert list(Slot.objects.order_by("pk").values_list("pk", "status", "mode", "start")) == before
    assert not AuditEvent.objects.filter(username="rotakeeper", action="write").exists()


def test_an_overlapping_session_for_the_same_clinician_is_refused(client, world):
    client.force_login(world["editor"])
    new = form(world, session="new", start="18:30", end="19:30")
    response = client.post(url(world), new)
    assert response.status_code == 400
    assert "Dr Lowe already has a session on" in response.content.decode()
    assert SessionTemplate.objects.filter(hub=world["hub"]).count() == 1
    # another clinician at the same time is a second session: allowed
    assert (
        client.post(url(world), dict(new, clinician_name="Nurse Hale", role="nurse")).status_code
        == 302
    )
    assert SessionTemplate.objects.filter(hub=world["hub"]).count() == 2


def test_other_roles_and_other_hubs_are_refused(client, login, world):
    before = (SessionTemplate.objects.count(), Slot.objects.count())
    for username in ("hub", "gp", "coordinator"):
        login(username)
        assert client.get(url(world)).status_code == 403
        assert client.post(url(world), form(world, end="20:00")).status_code == 403
    client.force_login(world["other_editor"])
    response = client.post(url(world), form(world, end="20:00"))
    assert response.status_code == 403
    assert "You cannot change the rota" in response.content.decode()
    assert (SessionTemplate.objects.count(), Slot.objects.count()) == before
    assert SessionTemplate.objects.get(pk=world["session"].pk).end == dt.time(19, 0)
    assert AuditEvent.objects.filter(
        username="otherkeeper", action="denied", outcome="denied", what__contains="edit the rota"
    ).exists()
    # a session of this hub is not reachable through another hub's editor either
    client.force_login(world["editor"])
    assert client.get(url(world), {"session": "abc"}).status_code == 400
