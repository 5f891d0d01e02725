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

import pyarrow as pa
import pyarrow.parquet as pq
from django.db.models import Q
from django.utils import timezone

from wraparound.analytics.indicators.inputs import APP_EVENT_SCHEMA
from wraparound.apps.letters.models import ExpectedLetter
from wraparound.warehouse import paths

FILE_NAME = "letters_events.parquet"
EXPECTED = "letter_expected"
IN_TIME = "letter_within_2_operational_days"
LONDON = zoneinfo.ZoneInfo("Europe/London")


def collect() -> list[tuple[str, str, object]]:
    events: set[tuple[str, str, object]] = set()
    today = timezone.localdate()
    found = (
        ExpectedLetter.objects.filter(patient__opted_out=False)
        .filter(Q(due__lt=today) | Q(received_at__isnull=False))
        .values_list("patient__pseudonym", "contact_at", "on_time")
    )
    for pseudonym, contact_at, on_time in found:
        day = contact_at.astimezone(LONDON).date()
        events.add((pseudonym, EXPECTED, day))
        if on_time:
            events.add((pseudonym, IN_TIME, day))
    return sorted(events, key=lambda e: (e[0], e[1], e[2]))


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
