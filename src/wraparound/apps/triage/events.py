"""Triage response times back to the warehouse for the indicators, as app events
(``DIR/app_events/triage_events.parquet``, the schema of ``inputs.APP_EVENT_SCHEMA``;
``inputs.py`` reads every file of that folder):

- ``triage_request_received``: a request on a practice's triage queue with a patient (a
  self-referral matched or resolved, or a portal request), on the day it was received
  (Europe/London);
- ``triage_answered_within_2_working_days``: the same request first answered (a message sent,
  a booking or referral recorded) by the end of the 2nd working day after that day (England's
  bank holidays excluded, ``referrals.timers``), dated the day it was received, so both
  events of a request fall in the same month.

The indicator ``triage_response_within_2_working_days`` divides the second by the first.
Requests not matched to a patient count only once matched. Opted-out patients are left out
(the national data opt-out), one row per patient, kind and day, sorted, written to a
temporary file renamed over the old one, as care's app events are.
"""

from __future__ import annotations

import os
import tempfile
import zoneinfo
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.analytics.indicators.inputs import APP_EVENT_SCHEMA
from wraparound.apps.referrals.timers import add_working_days
from wraparound.apps.triage.models import TriageRequest
from wraparound.warehouse import paths

FILE_NAME = "triage_events.parquet"
RECEIVED = "triage_request_received"
IN_TIME = "triage_answered_within_2_working_days"
WORKING_DAYS = 2
LONDON = zoneinfo.ZoneInfo("Europe/London")


def collect() -> list[tuple[str, str, object]]:
    events: set[tuple[str, str, object]] = set()
    found = TriageRequest.objects.filter(
        patient__isnull=False, patient__opted_out=False
    ).values_list("patient__pseudonym", "received_at", "first_response_at")
    for pseudonym, received, responded in found:
        day = received.astimezone(LONDON).date()
        events.add((pseudonym, RECEIVED, day))
        if responded is not None and responded.astimezone(LONDON).date() <= add_working_days(
            day, WORKING_DAYS
        ):
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
