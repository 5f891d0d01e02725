"""Shared population building blocks over the engine: who is registered on a date, their
age, and people-time in a window. Every population-level calculation starts here, so the
definitions (registered, alive, age) are the same everywhere."""

from __future__ import annotations

import datetime as dt

import ibis
from ibis import _


def age_on(birth_date, on: dt.date):
    """Whole years of age on ``on`` (birthdays counted on the day)."""
    before_birthday = (birth_date.month() > on.month) | (
        (birth_date.month() == on.month) & (birth_date.day() > on.day))
    return on.year - birth_date.year() - before_birthday.cast("int32")


def registered_on(engine, on: dt.date) -> ibis.Table:
    """Patients registered with a practice in the locality and alive on ``on``: patient_id,
    practice_id, sex, age, lsoa, opted_out."""
    reg = engine.table("registrations")
    pats = engine.table("patients")
    spells = reg.filter((reg.start_date <= on) & (reg.end_date.isnull() | (reg.end_date > on)))
    spells = spells.group_by("patient_id").agg(practice_id=_.practice_id.max())
    alive = pats.filter(pats.death_date.isnull() | (pats.death_date > on))
    return spells.join(alive, "patient_id").select(
        "patient_id", "practice_id", "sex", "lsoa", "opted_out",
        age=age_on(alive.birth_date, on),
    )


def person_years(engine, start: dt.date, end: dt.date) -> ibis.Table:
    """Registered, living person-time between ``start`` and ``end`` (exclusive), per patient,
    with age at the middle of the window: patient_id, age, years."""
    reg = engine.table("registrations")
    pats = engine.table("patients")
    mid = start + (end - start) / 2
    joined = reg.join(pats, "patient_id")
    stop = ibis.least(
        joined.end_date.fill_null(end), joined.death_date.fill_null(end), ibis.literal(end))
    begin = ibis.greatest(joined.start_date, ibis.literal(start))
    days = (stop.delta(begin, unit="day")).clip(lower=0)
    return (
        joined.mutate(days=days, age=age_on(joined.birth_date, mid))
        .group_by(["patient_id", "age"])
        .agg(years=_.days.sum() / 365.25)
    )


AGE_BANDS = ((0, 17, "0-17"), (18, 64, "18-64"), (65, 74, "65-74"), (75, 84, "75-84"),
             (85, 200, "85+"))


def age_band(age):
    """The summary's age bands as a column expression."""
    expr = ibis.cases(*[((age >= lo) & (age <= hi), label) for lo, hi, label in AGE_BANDS],
                      else_=None)
    return expr
