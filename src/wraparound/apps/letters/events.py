"""Letters back to the GP, back to the warehouse for the indicators, as app events
(``DIR/app_events/letters_events.parquet``, the schema of ``inputs.APP_EVENT_SCHEMA``;
``inputs.py`` reads every file of that folder):

- ``letter_expected``: a contact that needed a letter and whose letter is now due (its due
  day has passed, or the letter came), dated the contact day (Europe/London);
- ``letter_within_2_operational_days``: the same contact's letter arrived by the end of its
  due day (the 2nd operational day after the contact), dated the contact day, so both events
  of a contact fall in the same month.

The indicator ``letters_within_2_operational_days`` divides the second by the first (a
patient with several contacts in a month counts once). Opted-out patients are left out, one
row per patient, kind and day, sorted, written to a temporary file renamed over the old one,
as care's app events are.
"""

from __future__ import annotations

import os
import tempfile
import zoneinfo
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from django.db import connection
from django.db.models import CharField, Q
from django.db.models.functions import Cast
from django.utils import timezone

from wraparound.analytics.indicators.inputs import APP_EVENT_SCHEMA
from wraparound.apps.letters.models import ExpectedLetter
from wraparound.warehouse import paths

FILE_NAME = "letters_events.parquet"
EXPECTED = "letter_expected"
IN_TIME = "letter_within_2_operational_days"
LONDON = zoneinfo.ZoneInfo("Europe/London")


def collect() -> pl.DataFrame:
    """Every event (pseudonym, kind, day), sorted. The contact times come from the database
    as text and are turned into Europe/London days by polars, and the frame goes to Arrow
    whole, never row by row: a locality of a million has 1.6 million expected letters, and
    this runs on every ``app refresh`` (row by row it was 11 of the 18 s of a night's refresh
    at 1M, growing with the locality)."""
    today = timezone.localdate()
    found = (
        ExpectedLetter.objects.filter(patient__opted_out=False)
        .filter(Q(due__lt=today) | Q(received_at__isnull=False))
        .annotate(at=Cast("contact_at", CharField()))
        .values_list("patient__pseudonym", "at", "on_time")
        .order_by()  # sorted below, after the duplicates go: no sort of every letter in SQL
    )
    sql, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    frame = pl.DataFrame(
        fetched,
        schema={"patient_id": pl.String, "at": pl.String, "on_time": pl.Boolean},
        orient="row",
    )
    # Stored in UTC ("YYYY-MM-DD HH:MM:SS", then a fraction or offset): whole seconds are
    # enough for the day.
    day = (
        pl.col("at")
        .str.slice(0, 19)
        .str.to_datetime("%Y-%m-%d %H:%M:%S", time_zone="UTC")
        .dt.convert_time_zone("Europe/London")
        .dt.date()
    )
    # One row per patient and day (on time if any letter of that day was), in day order;
    # then a stable sort on the patient alone puts each patient's expected events before
    # their in-time ones: the order (patient, kind, day) of one sort on all three, for
    # half the cost.
    days = (
        frame.with_columns(date=day)
        .group_by("patient_id", "date")
        .agg(pl.col("on_time").any())
        .sort("patient_id", "date")
    )
    expected = days.select("patient_id", kind=pl.lit(EXPECTED), date="date")
    in_time = days.filter("on_time").select("patient_id", kind=pl.lit(IN_TIME), date="date")
    return pl.concat([expected, in_time]).sort("patient_id", maintain_order=True)


def export(warehouse_dir: Path) -> int:
    """Write the file; returns the number of rows."""
    table = collect().to_arrow().cast(APP_EVENT_SCHEMA)
    folder = paths.app_events_dir(warehouse_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, folder / FILE_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table.num_rows
