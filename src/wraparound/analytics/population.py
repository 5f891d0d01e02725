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
        (birth_date.month() == on.month) & (birth_date.day() > on.day)
    )
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
        "patient_id",
        "practice_id",
        "sex",
        "lsoa",
        "opted_out",
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
        joined.end_date.fill_null(end), joined.death_date.fill_null(end), ibis.literal(end)
    )
    begin = ibis.greatest(joined.start_date, ibis.literal(start))
    days = (stop.delta(begin, unit="day")).clip(lower=0)
    return (
        joined.mutate(days=days, age=age_on(joined.birth_date, mid))
        .group_by(["patient_id", "age"])
        .agg(years=_.days.sum() / 365.25)
    )


AGE_BANDS = (
    (0, 17, "0-17"),
    (18, 64, "18-64"),
    (65, 74, "65-74"),
    (75, 84, "75-84"),
    (85, 200, "85+"),
)


def age_band(age):
    """The summary's age bands as a column expression."""
    expr = ibis.cases(
        *[((age >= lo) & (age <= hi), label) for lo, hi, label in AGE_BANDS], else_=None
    )
    return expr


def age_at(birth_date, on):
    """Whole years of age on a date *column* ``on`` (``age_on`` takes one Python date): the
    same rule, birthdays counted on the day, for many dates at once."""
    before_birthday = (birth_date.month() > on.month()) | (
        (birth_date.month() == on.month()) & (birth_date.day() > on.day())
    )
    return on.year() - birth_date.year() - before_birthday.cast("int32")


def registered_at(engine, dates: ibis.Table, among: ibis.Table | None = None) -> ibis.Table:
    """``registered_on`` for many dates at once: for each row of ``dates`` (a column ``on``
    plus any keys), the patients registered and alive on ``on``, with their practice and age
    then. ``among`` (a table with patient_id) limits the search to those patients, which
    saves expanding the whole list for every date. Returns the columns of ``dates`` and
    patient_id, practice_id, sex, lsoa, opted_out, age."""
    reg = engine.table("registrations")
    pats = engine.table("patients")
    if among is not None:
        reg = reg.semi_join(among, "patient_id")
    spells = reg.join(
        dates, (reg.start_date <= dates.on) & (reg.end_date.isnull() | (reg.end_date > dates.on))
    )
    keys = list(dates.columns)
    spells = spells.group_by([*keys, "patient_id"]).agg(practice_id=_.practice_id.max())
    joined = spells.join(pats, "patient_id")
    alive = joined.filter(joined.death_date.isnull() | (joined.death_date > joined.on))
    return alive.select(
        *keys,
        "patient_id",
        "practice_id",
        "sex",
        "lsoa",
        "opted_out",
        age=age_at(alive.birth_date, alive.on),
    )


def person_days_by_period(engine, periods: ibis.Table) -> ibis.Table:
    """Registered, living person-days in each period, per patient and practice: the
    ``person_years`` definition for many windows at once. ``periods`` has ``start`` and
    ``end`` (exclusive) dates plus any keys; returns those keys and patient_id, practice_id,
    sex, lsoa, opted_out, birth_date, days."""
    reg = engine.table("registrations")
    pats = engine.table("patients")
    joined = reg.join(pats, "patient_id")
    stop_at = ibis.least(
        joined.end_date.fill_null(ibis.date(9999, 12, 31)),
        joined.death_date.fill_null(ibis.date(9999, 12, 31)),
    )
    spells = joined.select(
        "patient_id",
        "practice_id",
        "sex",
        "lsoa",
        "opted_out",
        "birth_date",
        begin_at=joined.start_date,
        stop_at=stop_at,
    )
    overlap = periods.join(
        spells, (spells.begin_at < periods.end) & (spells.stop_at > periods.start)
    )
    days = ibis.least(overlap.stop_at, overlap.end).delta(
        ibis.greatest(overlap.begin_at, overlap.start), unit="day"
    )
    keys = [c for c in periods.columns if c not in ("start", "end")]
    return overlap.select(
        *keys, "patient_id", "practice_id", "sex", "lsoa", "opted_out", "birth_date", days=days
    )
