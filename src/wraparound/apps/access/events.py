"""Hub appointments flow back to the warehouse for the indicators
(``DIR/app_appointments/appointments.parquet``, ``inputs.APPOINTMENT_SCHEMA``).

Written by ``wraparound app export-events`` (``care/app_events.py`` calls :func:`export`),
so also by ``app refresh`` and the demo. One row per appointment in the warehouse's terms
(status attended, dna, cancelled or booked), so the access indicators count hub appointments
booked here with the warehouse's GP and hub appointments alike; plus the need recorded with
the request and whether its GM access standard was met (``standards.standard_outcome``: met
true, not met false, anything else null). Patients with the national data opt-out are left
out. Sorted by id and written to a temporary file renamed over the old one, as the other app
events are, so a reader sees a whole file and the same records give the same file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.analytics.indicators.inputs import APPOINTMENT_SCHEMA
from wraparound.apps.access import standards
from wraparound.apps.access.models import Appointment
from wraparound.warehouse import paths

WAREHOUSE_STATUS = {
    "booked": "booked",
    "arrived": "booked",
    "seen": "attended",
    "finished": "attended",
    "did_not_attend": "dna",
    "cancelled_patient": "cancelled",
    "cancelled_practice": "cancelled",
}
ID_PREFIX = "wraparound-appointment-"


def rows() -> pa.Table:
    found = (
        Appointment.objects.filter(patient__opted_out=False)
        .order_by("pk")
        .values_list(
            "pk",
            "patient__pseudonym",
            "start",
            "end",
            "booked_at",
            "status",
            "hub__organisation_id",
            "need",
            "help_requested_at",
        )
    )
    columns: dict[str, list] = {name: [] for name in APPOINTMENT_SCHEMA.names}
    for pk, pseudonym, start, end, booked_at, status, hub, need, requested in found.iterator(
        chunk_size=5000
    ):
        outcome = standards.standard_outcome(need, requested, start, status)
        columns["id"].append(f"{ID_PREFIX}{pk}")
        columns["patient_id"].append(pseudonym)
        columns["start"].append(start)
        columns["end"].append(end)
        columns["booked_at"].append(booked_at)
        columns["status"].append(WAREHOUSE_STATUS[status])
        columns["org_id"].append(hub)
        columns["practitioner_role_id"].append(None)
        columns["urgent_request"].append(need != "routine")
        columns["need"].append(need)
        columns["standard_met"].append(
            True if outcome == standards.MET else False if outcome == standards.NOT_MET else None
        )
    return pa.table(columns, schema=APPOINTMENT_SCHEMA)


def export(warehouse_dir: Path) -> int:
    """Write the file (an empty one when nothing is booked); returns the number of rows."""
    table = rows()
    target = paths.app_appointments(warehouse_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as sink:
            pq.write_table(table, sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table.num_rows
