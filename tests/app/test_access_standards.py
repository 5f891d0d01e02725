"""The GM access standards, GPAD lead-time buckets and hours bands, by hand-worked cases at
their edges, across both clock changes (issue 13). Pure functions over the data files."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from wraparound.apps.access import gpad, standards
from wraparound.apps.access.standards import (
    MET,
    NOT_MEASURABLE,
    NOT_MET,
    PENDING,
    capacity_standards_in_force,
    hours_band,
    standard_outcome,
)

LONDON = ZoneInfo("Europe/London")


def at(y, m, d, hh=0, mm=0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=LONDON)


# --- Urgent within 2 hours: real elapsed minutes -----------------------------------------


def test_urgent_exactly_two_hours_is_met_and_a_minute_more_is_not():
    asked = at(2026, 6, 10, 9, 0)
    assert standard_outcome("urgent_2h", asked, at(2026, 6, 10, 11, 0), "seen") == MET
    assert standard_outcome("urgent_2h", asked, at(2026, 6, 10, 11, 1), "finished") == NOT_MET


def test_urgent_across_the_spring_clock_change_counts_real_minutes():
    # 29 March 2026: clocks go 01:00 GMT -> 02:00 BST. 00:30 GMT to 02:30 BST is one hour.
    asked = at(2026, 3, 29, 0, 30)
    assert standard_outcome("urgent_2h", asked, at(2026, 3, 29, 2, 30), "seen") == MET
    # 00:30 GMT to 03:31 BST is 2 h 1 min: not met, though the wall clocks differ by 3 h.
    assert standard_outcome("urgent_2h", asked, at(2026, 3, 29, 3, 31), "seen") == NOT_MET
    # ...and 03:30 BST is exactly two hours: met although the clocks say three.
    assert standard_outcome("urgent_2h", asked, at(2026, 3, 29, 3, 30), "seen") == MET


def test_urgent_across_the_autumn_clock_change_counts_real_minutes():
    # 25 October 2026: 02:00 BST -> 01:00 GMT. 00:30 BST to 01:30 GMT is two hours.
    asked = at(2026, 10, 25, 0, 30)
    later = dt.datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=1)  # 01:30 GMT
    assert (later - asked.astimezone(dt.UTC)).total_seconds() == 7200
    assert standard_outcome("urgent_2h", asked, later, "seen") == MET
    # (Python adds to an aware datetime on the wall clock, so add in UTC.)
    one_more = later.astimezone(dt.UTC) + dt.timedelta(minutes=1)
    assert standard_outcome("urgent_2h", asked, one_more, "seen") == NOT_MET
    # The first 01:30 (BST, fold 0) is only one hour after 00:30 BST: met.
    assert standard_outcome("urgent_2h", asked, at(2026, 10, 25, 1, 30), "seen") == MET


# --- Same day: Europe/London calendar day -------------------------------------------------


@pytest.mark.parametrize("need", ["under_5s_same_day", "same_day"])
def test_same_day_edges(need):
    asked = at(2026, 6, 10, 8, 0)
    assert standard_outcome(need, asked, at(2026, 6, 10, 23, 59), "seen") == MET
    assert standard_outcome(need, asked, at(2026, 6, 11, 0, 0), "seen") == NOT_MET
    # A request at 23:50 London (22:50 UTC) seen at 00:10 is the next day in London.
    assert standard_outcome(need, at(2026, 6, 10, 23, 50), at(2026, 6, 11, 0, 10), "seen") == (
        NOT_MET
    )


def test_same_day_is_the_london_day_not_the_utc_day():
    # 00:30 BST on 11 June is 23:30 UTC on 10 June; seen at 10:00 BST on 11 June: same day.
    asked = at(2026, 6, 11, 0, 30).astimezone(dt.UTC)
    assert asked.date() == dt.date(2026, 6, 10)
    assert standard_outcome("same_day", asked, at(2026, 6, 11, 10, 0), "seen") == MET


# --- Within 48 hours -----------------------------------------------------------------------


def test_48_hours_edges_and_dst():
    asked = at(2026, 6, 10, 9, 0)
    assert standard_outcome("within_48h", asked, at(2026, 6, 12, 9, 0), "seen") == MET
    assert standard_outcome("within_48h", asked, at(2026, 6, 12, 9, 1), "seen") == NOT_MET
    # Friday 09:00 BST before the autumn change to Sunday 08:00 GMT is 48 real hours.
    asked = at(2026, 10, 23, 9, 0)
    assert standard_outcome("within_48h", asked, at(2026, 10, 25, 8, 0), "seen") == MET
    assert standard_outcome("within_48h", asked, at(2026, 10, 25, 9, 0), "seen") == NOT_MET


# --- What is not measured as met -----------------------------------------------------------


def test_status_and_data_errors():
    asked = at(2026, 6, 10, 9, 0)
    soon = at(2026, 6, 10, 9, 30)
    assert standard_outcome("urgent_2h", asked, soon, "did_not_attend") == NOT_MET
    assert standard_outcome("urgent_2h", asked, soon, "cancelled_patient") is None
    assert standard_outcome("urgent_2h", asked, soon, "booked") == PENDING
    assert standard_outcome("urgent_2h", asked, soon, "arrived") == PENDING
    assert standard_outcome("urgent_2h", None, soon, "seen") == NOT_MEASURABLE
    assert standard_outcome("urgent_2h", soon, asked, "seen") == NOT_MEASURABLE
    assert standard_outcome("routine", asked, soon, "seen") is None


def test_every_need_but_routine_has_one_standard():
    from wraparound.apps.access.vocabulary import NEEDS

    assert set(standards.access_standards()) == set(NEEDS) - {"routine"}


# --- GPAD lead-time buckets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "same_day"),
        (1, "1_day"),
        (2, "2_to_7_days"),
        (7, "2_to_7_days"),
        (8, "8_to_14_days"),
        (14, "8_to_14_days"),
        (15, "15_to_21_days"),
        (21, "15_to_21_days"),
        (22, "22_to_28_days"),
        (28, "22_to_28_days"),
        (29, "over_28_days"),
        (400, "over_28_days"),
    ],
)
def test_lead_buckets_at_their_edges(days, bucket):
    assert gpad.lead_bucket(days) == bucket


def test_lead_bucket_refuses_negative_days():
    with pytest.raises(ValueError, match="before it was booked"):
        gpad.lead_bucket(-1)


def test_lead_days_are_london_calendar_days():
    assert gpad.lead_days(at(2026, 6, 10, 23, 30), at(2026, 6, 11, 0, 30)) == 1
    assert gpad.lead_days(at(2026, 6, 10, 0, 5), at(2026, 6, 10, 23, 55)) == 0
    # Across the spring change (a 23-hour day) and the autumn one (25 hours): still one day.
    assert gpad.lead_days(at(2026, 3, 28, 12), at(2026, 3, 29, 12)) == 1
    assert gpad.lead_days(at(2026, 10, 24, 12), at(2026, 10, 25, 12)) == 1
    # Booked 00:30 BST (23:30 UTC the day before) for 10:00 the same London day: same day.
    booked = at(2026, 6, 11, 0, 30).astimezone(dt.UTC)
    assert gpad.lead_bucket(gpad.lead_days(booked, at(2026, 6, 11, 10))) == "same_day"


def test_gpad_mappings_cover_the_vocabulary():
    from wraparound.apps.access.vocabulary import APPOINTMENT_STATUSES, MODES, SLOT_TYPES

    table = gpad.gpad()
    assert set(table.mode) == set(MODES)
    assert set(table.status) == set(APPOINTMENT_STATUSES)
    assert table.status["did_not_attend"] == "DNA"
    assert table.hcp_type["gp"] == "GP" and table.hcp_type["nurse"] == "Other Practice staff"
    assert len(table.national_categories) == 18
    for slot_type in SLOT_TYPES:
        assert gpad.default_national_category(slot_type, "telephone") in table.national_categories
    assert gpad.default_national_category("routine", "home_visit") == "Home Visit"
    with pytest.raises(ValueError, match="not a GPAD national category"):
        gpad.check_national_category("Coffee")


# --- Hours bands and capacity standards in force -------------------------------------------


def test_hours_bands_at_their_edges():
    assert hours_band(at(2026, 6, 10, 7, 59)) == "early"
    assert hours_band(at(2026, 6, 10, 8, 0)) == "core"
    assert hours_band(at(2026, 6, 10, 18, 29)) == "core"
    assert hours_band(at(2026, 6, 10, 18, 30)) == "evening"
    assert hours_band(at(2026, 6, 13, 10, 0)) == "weekend"  # Saturday
    assert hours_band(at(2026, 12, 25, 10, 0)) == "weekend"  # Christmas Day, a Friday
    assert hours_band(at(2026, 8, 31, 10, 0)) == "weekend"  # summer bank holiday (England)
    # 17:45 UTC in summer is 18:45 in London: evening by local time.
    assert hours_band(dt.datetime(2026, 6, 10, 17, 45, tzinfo=dt.UTC)) == "evening"


def test_capacity_standards_in_force_by_date():
    def ids(day):
        return [s.id for s in capacity_standards_in_force(day)]

    assert ids(dt.date(2018, 9, 24)) == []
    assert ids(dt.date(2019, 1, 7)) == ["extended_access_30", "gm_ambition_45"]
    # 30 ends the day 60 starts (effective_to is exclusive).
    assert ids(dt.date(2022, 9, 26)) == ["extended_access_30", "gm_ambition_45"]
    assert ids(dt.date(2022, 10, 1)) == ["gm_ambition_45", "enhanced_access_60"]
    assert ids(dt.date(2026, 11, 30)) == ["gm_ambition_45", "enhanced_access_60"]


def test_week_start_is_monday():
    assert standards.week_start(dt.date(2026, 3, 29)) == dt.date(2026, 3, 23)  # a Sunday
    assert standards.week_start(dt.date(2026, 3, 30)) == dt.date(2026, 3, 30)
