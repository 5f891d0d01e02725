"""``bulk.upsert`` takes a polars frame as well as tuples, and stores exactly what it stores
for the same values as tuples: on SQLite the frame's datetimes and dates become the ORM's
text in polars (UTC, naive, microseconds only when not zero), so a value written either way
compares equal, and writing the same frame again changes nothing."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import polars as pl
import pytest
from django.db import connection

from wraparound.apps.letters.load import LETTER_FIELDS
from wraparound.apps.letters.models import ExpectedLetter
from wraparound.apps.records import bulk
from wraparound.apps.records.models import Patient

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")


def _rows(patients: list[Patient]) -> list[tuple]:
    at = [
        dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC),  # no microseconds
        dt.datetime(2026, 3, 2, 9, 30, 0, 250, tzinfo=dt.UTC),  # microseconds
        dt.datetime(2026, 7, 1, 0, 15, tzinfo=LONDON),  # summer time: the day before in UTC
        dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    ]
    rows = []
    for i, when in enumerate(at):
        p = patients[i % len(patients)]
        received = None if i % 2 else when + dt.timedelta(days=3, microseconds=i)
        rows.append(
            (
                p.pk, p.practice_id, f"enc-frame-{i}", "admission", "RXX", "Trust", "Service",
                when, dt.date(2026, 3, 10 + i), received, "" if received is None else f"l-{i}",
                received is not None,
            )
        )  # fmt: skip
    return rows


def _stored() -> list[tuple]:
    """The rows as the database holds them, every value as text (SQLite's datetimes are
    text, and Django's cursor would parse them back, hiding a difference in how they were
    written)."""
    q = connection.ops.quote_name
    table = q(ExpectedLetter._meta.db_table)
    cols = ", ".join(
        f"CAST({q(ExpectedLetter._meta.get_field(f).column)} AS TEXT)" for f in LETTER_FIELDS
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cols} FROM {table} WHERE encounter_id LIKE 'enc-frame-%%'")
        return sorted(cursor.fetchall(), key=lambda r: r[2])


def _frame(rows: list[tuple]) -> pl.DataFrame:
    """The rows as a frame. A frame holds one zone per column: the London instant comes as
    UTC, as a warehouse read gives it."""

    def utc(v):
        return v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v

    return pl.DataFrame(
        [tuple(utc(v) for v in row) for row in rows], schema=list(LETTER_FIELDS), orient="row"
    )


def test_a_frame_is_stored_as_the_same_tuples_are(app_warehouse):
    patients = list(Patient.objects.all()[:3])
    rows = _rows(patients)
    key = ["encounter_id"]
    assert bulk.upsert(ExpectedLetter, LETTER_FIELDS, rows, key=key) == len(rows)
    from_tuples = _stored()
    ExpectedLetter.objects.filter(encounter_id__startswith="enc-frame-").delete()
    frame = _frame(rows)
    assert bulk.upsert(ExpectedLetter, LETTER_FIELDS, frame, key=key) == len(rows)
    assert _stored() == from_tuples
    # The same frame again, and the same rows as tuples: nothing differs, nothing is written.
    assert bulk.upsert(ExpectedLetter, LETTER_FIELDS, frame, key=key) == 0
    assert bulk.upsert(ExpectedLetter, LETTER_FIELDS, rows, key=key) == 0
    # A column in another zone is stored as the same instants.
    ExpectedLetter.objects.filter(encounter_id__startswith="enc-frame-").delete()
    london = frame.with_columns(pl.col("contact_at").dt.convert_time_zone("Europe/London"))
    assert bulk.upsert(ExpectedLetter, LETTER_FIELDS, london, key=key) == len(rows)
    assert _stored() == from_tuples
    # Read back through the ORM, the instants are the ones given.
    got = {e.encounter_id: e.contact_at for e in ExpectedLetter.objects.filter(
        encounter_id__startswith="enc-frame-")}  # fmt: skip
    assert got == {r[2]: r[7] for r in rows}
    if connection.vendor == "sqlite":
        text = {r[2]: r[7] for r in from_tuples}
        assert text["enc-frame-0"] == "2026-03-02 09:30:00"
        assert text["enc-frame-1"] == "2026-03-02 09:30:00.000250"
        assert text["enc-frame-2"] == "2026-06-30 23:15:00"


def test_a_changed_value_in_a_frame_is_written(app_warehouse):
    patients = list(Patient.objects.all()[:3])
    rows = _rows(patients)
    bulk.upsert(ExpectedLetter, LETTER_FIELDS, rows, key=["encounter_id"])
    frame = _frame(rows).with_columns(
        due=pl.when(pl.col("encounter_id") == "enc-frame-1")
        .then(pl.lit(dt.date(2027, 1, 1)))
        .otherwise(pl.col("due"))
    )
    assert bulk.upsert(ExpectedLetter, LETTER_FIELDS, frame, key=["encounter_id"]) == 1
    assert ExpectedLetter.objects.get(encounter_id="enc-frame-1").due == dt.date(2027, 1, 1)
