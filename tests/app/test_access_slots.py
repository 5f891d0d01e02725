"""Slots from rotas (issue 13): opening hours as data, bank holidays closed unless opened,
Europe/London across the clock changes (last Sunday of March and of October: no slot lost or
doubled, an hour's session is still an hour), embargo times, idempotent generation."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from wraparound.apps.access.generate import bank_holiday, generate_slots, opening_on
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import HubDay, SessionTemplate, Slot
from wraparound.apps.access.rules import hub_defaults
from wraparound.apps.records.models import Organisation

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def hub():
    return create_hub(Organisation.objects.filter(kind="hub").order_by("org_id").first())


def session(hub, weekday, start="09:00", end="10:00", minutes=10, **kw):
    return SessionTemplate.objects.create(
        hub=hub,
        site=hub.sites.first(),
        clinician_name="Dr Test",
        role=kw.pop("role", "gp"),
        mode=kw.pop("mode", "face_to_face"),
        slot_type=kw.pop("slot_type", "routine"),
        slot_minutes=minutes,
        weekday=weekday,
        start=dt.time.fromisoformat(start),
        end=dt.time.fromisoformat(end),
        valid_from=dt.date(2026, 1, 1),
        **kw,
    )


def local_slots(hub, date):
    return [
        (s.start.astimezone(LONDON), s.end - s.start)
        for s in Slot.objects.filter(hub=hub).order_by("start")
        if s.start.astimezone(LONDON).date() == date
    ]


def test_default_hours_are_the_seeds_hours(hub):
    assert hub.opening_hours["0"] == ["08:00", "20:00"]  # weekday evenings to 8pm
    assert hub.opening_hours["5"] == ["09:00", "18:00"]  # Saturday to 6pm
    assert hub.opening_hours["6"] == ["09:00", "18:00"]  # Sunday to 6pm
    assert hub_defaults()["embargo"] == {
        "release_to_practices_hours": 48,
        "release_to_patients_hours": 24,
    }


@pytest.mark.parametrize("change_day", [dt.date(2026, 3, 29), dt.date(2026, 10, 25)])
def test_clock_changes_lose_or_double_no_slot(hub, change_day):
    """Sessions on the Saturday, the Sunday of the change and the Monday: each an hour of
    six 10-minute slots from 09:00 local time, with the offset changing across the weekend;
    and a session spanning the change itself (00:00-04:00 on the Sunday) is 4 wall-clock
    hours but 3 (March) or 5 (October) real hours long, cut into real 30-minute slots."""
    saturday = change_day - dt.timedelta(days=1)
    monday = change_day + dt.timedelta(days=1)
    for day in (saturday, change_day, monday):
        session(hub, day.weekday())
    assert generate_slots(hub, saturday, weeks=1) == 18
    offsets = {}
    for day in (saturday, change_day, monday):
        slots = local_slots(hub, day)
        assert [s.strftime("%H:%M") for s, _ in slots] == [
            "09:00",
            "09:10",
            "09:20",
            "09:30",
            "09:40",
            "09:50",
        ]
        assert all(length == dt.timedelta(minutes=10) for _, length in slots)
        assert slots[-1][0] + slots[-1][1] - slots[0][0] == dt.timedelta(hours=1)
        offsets[day] = slots[0][0].utcoffset()
    spring = change_day.month == 3
    assert offsets[saturday] == dt.timedelta(hours=0 if spring else 1)
    assert offsets[monday] == dt.timedelta(hours=1 if spring else 0)
    # generating again adds nothing: no doubled slot
    assert generate_slots(hub, saturday, weeks=1) == 0
    assert Slot.objects.filter(hub=hub).count() == 18


@pytest.mark.parametrize(
    ("change_day", "real_hours"), [(dt.date(2026, 3, 29), 3), (dt.date(2026, 10, 25), 5)]
)
def test_a_session_across_the_change_is_cut_in_real_time(hub, change_day, real_hours):
    HubDay.objects.create(
        hub=hub, date=change_day, open=True, opens=dt.time(0, 0), closes=dt.time(23, 0)
    )
    session(hub, change_day.weekday(), "00:00", "04:00", minutes=30)
    made = generate_slots(hub, change_day, weeks=1)
    assert made == real_hours * 2
    starts = list(Slot.objects.filter(hub=hub).order_by("start").values_list("start", "end"))
    assert len({s for s, _ in starts}) == made  # none doubled
    assert all(b[0] == a[1] for a, b in itertools.pairwise(starts))  # none lost
    assert starts[-1][1].astimezone(LONDON).strftime("%H:%M") == "04:00"


def test_bank_holidays_closed_unless_opened(hub):
    good_friday = dt.date(2026, 4, 3)
    assert bank_holiday(good_friday) == "Good Friday"
    assert opening_on(hub, good_friday) is None
    session(hub, good_friday.weekday())
    assert generate_slots(hub, good_friday, weeks=1) == 0
    hub.open_on_bank_holidays = True
    hub.save()
    assert opening_on(hub, good_friday) == (dt.time(9), dt.time(18))
    assert generate_slots(hub, good_friday, weeks=1) == 6
    # one date closed by hand, whatever the rule
    next_friday = good_friday + dt.timedelta(days=7)
    HubDay.objects.create(hub=hub, date=next_friday, open=False, note="training")
    assert opening_on(hub, next_friday) is None
    assert generate_slots(hub, next_friday, weeks=1) == 0


def test_sessions_follow_opening_hours_and_embargo(hub):
    monday = dt.date(2026, 6, 1)
    saturday = dt.date(2026, 6, 6)
    session(hub, monday.weekday(), "18:00", "21:00", minutes=30)  # hub closes at 20:00
    session(hub, saturday.weekday(), "17:00", "19:00", minutes=30, release_to_practices_hours=2)
    generate_slots(hub, monday, weeks=1)
    evening = local_slots(hub, monday)
    assert [s.strftime("%H:%M") for s, _ in evening] == ["18:00", "18:30", "19:00", "19:30"]
    weekend = local_slots(hub, saturday)
    assert [s.strftime("%H:%M") for s, _ in weekend] == ["17:00", "17:30"]
    slot = Slot.objects.filter(hub=hub).order_by("start").first()
    assert slot.start - slot.released_to_practices_at == dt.timedelta(hours=48)
    assert slot.start - slot.released_to_patients_at == dt.timedelta(hours=24)
    late = Slot.objects.filter(hub=hub, session__release_to_practices_hours=2).first()
    assert late.start - late.released_to_practices_at == dt.timedelta(hours=2)


def test_template_validity_is_respected(hub):
    monday = dt.date(2026, 6, 1)
    t = session(hub, monday.weekday())
    t.valid_from = monday + dt.timedelta(days=7)
    t.save()
    assert generate_slots(hub, monday, weeks=1) == 0
    assert generate_slots(hub, monday, weeks=2) == 6
