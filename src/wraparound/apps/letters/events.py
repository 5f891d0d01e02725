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
import pyarrow as pa
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


def collect() -> list[tuple[str, str, object]]:
    """(pseudonym, kind, day) of every event, sorted. The contact times come from the
    database as text and are turned into Europe/London days by polars, not row by row
    (a locality has millions of expected letters)."""
    today = timezone.localdate()
    found = (
        ExpectedLetter.objects.filter(patient__opted_out=False)
        .filter(Q(due__lt=today) | Q(received_at__isnull=False))
        .annotate(at=Cast("contact_at", CharField()))
        .values_list("patient__pseudonym", "at", "on_time")
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
    frame = frame.with_columns(date=day)
    expected = frame.select("patient_id", kind=pl.lit(EXPECTED), date="date")
    in_time = frame.filter(pl.col("on_time")).select(
        "patient_id", kind=pl.lit(IN_TIME), date="date"
    )
    events = pl.concat([expected, in_time]).unique().sort(["patient_id", "kind", "date"])
    return list(events.iter_rows())


def export(warehouse_dir: Path) -> int:
    """Write the file; returns the number of rows."""
    rows = collect()
    table = pa.table(
        {
            "patient_id": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "date": [r[2] for r in rows],
        }
    ).cast(APP_EVENT_SCHEMA)
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
    return len(rows)
