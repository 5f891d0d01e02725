"""The capacity ledger against hand-worked figures (issue 13).

The world (access_ledger_world.py): neighbourhood UXTEST with practices PXA (1,500 living
patients; one more who died does not count) and PXB (500): 2,000 registered. Hub HXTEST, week
of Monday 8 June 2026, slots: Mon 10:00 30 min GP face to face (core); Mon 19:00 30 min nurse
telephone (evening); Sat 10:00 60 min GP video (weekend); a blocked one (not offered).
Offered 120 min -> 120 x 1,000 / 2,000 = 60 per 1,000 per week.
Appointments: PXA's patient finished the core slot (booked the same day); PXB's did not
attend the evening slot (booked 10 days ahead); PXA's cancelled the weekend slot late; PXB's
holds it now (booked 3 days ahead, still booked).
Booked 30 + 30 + 60 = 120 min (60 per 1,000); used 30 (15 per 1,000); DNA 30;
utilisation 30 / 120 = 0.25; DNA rate 1 / (1 + 1) = 0.5.
"""

from __future__ import annotations

import datetime as dt

import pytest
from access_ledger_world import WEEK, build

from wraparound.apps.access.capacity import refresh_ledger
from wraparound.apps.access.ledger_models import CapacityWeek, LedgerRefresh, StandardsWeek
from wraparound.apps.access.models import Hub, Site, Slot

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


@pytest.fixture
def world():
    orgs = build()
    refresh_ledger()
    return orgs


def row(level, org, split="all", value="", week=WEEK):
    return CapacityWeek.objects.get(
        level=level, organisation=org, week_start=week, split=split, value=value
    )


def test_hub_week_by_hand(world):
    r = row("hub", world["hub"])
    assert r.registered == 2000
    assert r.minutes_offered == 120 and r.offered_per_1000 == 60
    assert r.minutes_booked == 120 and r.booked_per_1000 == 60
    assert r.minutes_used == 30 and r.used_per_1000 == 15
    assert r.minutes_dna == 30
    assert r.utilisation == 0.25
    assert (r.appointments, r.attended, r.dna, r.cancelled, r.late_cancelled) == (3, 1, 1, 1, 1)
    assert r.dna_rate == 0.5


def test_neighbourhood_equals_its_one_hub(world):
    hub, nb = row("hub", world["hub"]), row("neighbourhood", world["nb"])
    for field in ("registered", "minutes_offered", "minutes_booked", "minutes_used", "dna"):
        assert getattr(hub, field) == getattr(nb, field)


def test_practices_by_hand(world):
    a, b = row("practice", world["pa"]), row("practice", world["pb"])
    # Offered in proportion to the list: 120 x 1,500 / 2,000 = 90 and 120 x 500 / 2,000 = 30,
    # so both are offered the neighbourhood's 60 per 1,000.
    assert (a.registered, a.minutes_offered, a.offered_per_1000) == (1500, 90, 60)
    assert (b.registered, b.minutes_offered, b.offered_per_1000) == (500, 30, 60)
    # PXA: 30 booked and used (the cancellation is not booked): 20 per 1,000.
    assert (a.minutes_booked, a.minutes_used, a.cancelled) == (30, 30, 1)
    assert a.booked_per_1000 == 20
    # PXB: 30 (DNA) + 60 (still booked) = 90 booked -> 180 per 1,000; nothing used.
    assert (b.minutes_booked, b.minutes_used, b.dna) == (90, 0, 1)
    assert b.booked_per_1000 == 180 and b.used_per_1000 == 0


def test_splits_by_hours_mode_and_role(world):
    hub = world["hub"]
    assert row("hub", hub, "hours", "core").minutes_offered == 30
    assert row("hub", hub, "hours", "evening").minutes_offered == 30
    assert row("hub", hub, "hours", "weekend").minutes_offered == 60
    assert row("hub", hub, "hours", "evening").dna == 1
    assert row("hub", hub, "mode", "video").minutes_booked == 60
    assert row("hub", hub, "role", "gp").minutes_offered == 90
    assert row("hub", hub, "role", "nurse").minutes_dna == 30
    # Practices get the split of the offer too: PXB's share of the evening is 30 x 1/4.
    assert row("practice", world["pb"], "hours", "evening").minutes_offered == 7.5


def test_dna_rate_by_lead_time_and_national_category(world):
    hub = world["hub"]
    same = row("hub", hub, "lead_time", "same_day")
    assert (same.attended, same.dna, same.dna_rate) == (1, 0, 0)
    ahead = row("hub", hub, "lead_time", "8_to_14_days")
    assert (ahead.attended, ahead.dna, ahead.dna_rate) == (0, 1, 1)
    # Booked Monday for Saturday (5 days, cancelled) and Wednesday for Saturday (3 days).
    week = row("hub", hub, "lead_time", "2_to_7_days")
    assert (week.appointments, week.cancelled, week.dna_rate) == (1, 1, None)
    assert row("hub", hub, "national_category", "Planned Clinics").appointments == 1
    # The others record the default for a routine slot.
    assert row("hub", hub, "national_category", "General Consultation Routine").appointments == 2


def test_standards_rows(world):
    urgent = StandardsWeek.objects.get(
        level="hub", organisation=world["hub"], week_start=WEEK, standard="urgent_within_2_hours"
    )
    assert (urgent.met, urgent.not_met, urgent.share_met) == (1, 0, 1)
    same = StandardsWeek.objects.get(
        level="practice",
        organisation=world["pb"],
        week_start=WEEK,
        standard="same_day_if_necessary",
    )
    assert (same.met, same.not_met, same.share_met) == (0, 1, 0)
    assert not StandardsWeek.objects.filter(
        organisation=world["pa"], standard="same_day_if_necessary"
    )


def test_refresh_replaces_rows_and_records_itself(world):
    before = CapacityWeek.objects.count()
    summary = refresh_ledger()
    assert CapacityWeek.objects.count() == before == summary["capacity_rows"]
    assert LedgerRefresh.objects.first().summary["capacity_standards_version"] == "2026.1"


def test_weeks_are_london_weeks_across_the_spring_clock_change(world):
    hub = Hub.objects.get(organisation=world["hub"])
    site = Site.objects.get(hub=hub)
    utc = dt.UTC
    # Sunday 29 March 2026 00:30 GMT to 03:30 BST: two real hours, in the week of 23 March.
    Slot.objects.create(
        hub=hub,
        site=site,
        role="gp",
        mode="telephone",
        slot_type="routine",
        start=dt.datetime(2026, 3, 29, 0, 30, tzinfo=utc),
        end=dt.datetime(2026, 3, 29, 2, 30, tzinfo=utc),
    )
    # 23:30 UTC on Sunday 29 March is 00:30 BST on Monday 30 March: the next week.
    Slot.objects.create(
        hub=hub,
        site=site,
        role="gp",
        mode="telephone",
        slot_type="routine",
        start=dt.datetime(2026, 3, 29, 23, 30, tzinfo=utc),
        end=dt.datetime(2026, 3, 30, 0, 0, tzinfo=utc),
    )
    refresh_ledger()
    assert row("hub", world["hub"], week=dt.date(2026, 3, 23)).minutes_offered == 120
    assert row("hub", world["hub"], week=dt.date(2026, 3, 30)).minutes_offered == 30
    assert row("hub", world["hub"], "hours", "early", week=dt.date(2026, 3, 30)).minutes_offered
