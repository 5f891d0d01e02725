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

After an incremental refresh the file is patched, not rebuilt: the touched patients' rows,
and those of patients whose letters fell due since the file was written (its ``as_of`` day,
in the file's metadata), are read again; everyone else's rows are kept from the old file. A
locality of a million has 1.6 million expected letters, and reading them all back cost 6 of
a night's 14 s at 1M. The patched file is the file a full export writes
(``tests/app/test_refresh_incremental.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import zoneinfo
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
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
# The file's metadata key for the day its rows were written for (``YYYY-MM-DD``).
AS_OF = b"wraparound.as_of"


def collect(patients: list[str] | None = None, today: dt.date | None = None) -> pl.DataFrame:
    """Every event (pseudonym, kind, day), sorted; of ``patients`` only, if given. The
    contact times come from the database as text and are turned into Europe/London days by
    polars, and the frame goes to Arrow whole, never row by row (row by row it was 11 of the
    18 s of a night's refresh at 1M)."""
    today = today or timezone.localdate()
    found = (
        ExpectedLetter.objects.filter(patient__opted_out=False)
        .filter(Q(due__lt=today) | Q(received_at__isnull=False))
        .annotate(at=Cast("contact_at", CharField()))
        .values_list("patient__pseudonym", "at", "on_time")
        .order_by()  # sorted below, after the duplicates go: no sort of every letter in SQL
    )
    chunks = [None] if patients is None else _chunks(patients)
    fetched = []
    for chunk in chunks:
        query = found if chunk is None else found.filter(patient__pseudonym__in=chunk)
        sql, params = query.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched.extend(cursor.fetchall())
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


def _chunks(values: list[str], size: int = 5000):
    """Slices small enough for a database's limit on a statement's parameters."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def _previous(path: Path) -> tuple[pa.Table, dt.date] | None:
    """The file's rows and the day they were written for, if it can be patched."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid):
        return None
    as_of = (table.schema.metadata or {}).get(AS_OF)
    if as_of is None or not table.schema.equals(APP_EVENT_SCHEMA, check_metadata=False):
        return None
    return table.replace_schema_metadata(None), dt.date.fromisoformat(as_of.decode())


def _falling_due(since: dt.date, today: dt.date) -> set[str]:
    """Patients with a letter whose due day passed between ``since`` and ``today``: its
    ``letter_expected`` event starts to count though nothing in the warehouse changed."""
    return set(
        ExpectedLetter.objects.filter(due__gte=since, due__lt=today)
        .order_by()
        .values_list("patient__pseudonym", flat=True)
        .distinct()
    )


def events(path: Path, touched: frozenset[str] | None, today: dt.date) -> pa.Table:
    """The rows the file should hold today: collected whole, or, when ``touched`` (the
    patients an incremental refresh wrote) is given and the old file can be patched, the old
    file's rows with those patients' (and those falling due) collected again."""
    previous = _previous(path) if touched is not None else None
    if previous is None or previous[1] > today:
        return collect(today=today).to_arrow().cast(APP_EVENT_SCHEMA)
    old, as_of = previous
    again = sorted(set(touched) | _falling_due(as_of, today))
    if not again:
        return old
    fresh = collect(again, today).to_arrow().cast(APP_EVENT_SCHEMA)
    keep = old.filter(pc.invert(pc.is_in(old["patient_id"], pa.array(again, pa.string()))))
    # Each patient's rows are all in one of the two, each sorted: one stable merge on the
    # patient is the order of a sort of the whole.
    merged = pl.from_arrow(keep).merge_sorted(pl.from_arrow(fresh), key="patient_id")
    return merged.to_arrow().cast(APP_EVENT_SCHEMA)


def export(warehouse_dir: Path, touched: frozenset[str] | None = None) -> int:
    """Write the file (patched for ``touched`` patients where it can be); returns the number
    of rows."""
    folder = paths.app_events_dir(warehouse_dir)
    path = folder / FILE_NAME
    today = timezone.localdate()
    table = events(path, touched, today)
    table = table.replace_schema_metadata({AS_OF: today.isoformat()})
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table.num_rows
