"""``wraparound app export-events``: what the app records, written to the warehouse as the
app events the indicators count (``DIR/app_events/app_events.parquet``: ``patient_id``, the
warehouse pseudonym; ``kind``; ``date``; see ``analytics/indicators/inputs.py``).

- ``named_gp_assigned``: each time a GP was made the patient's named GP (a care-team place
  with the named-GP role, current or since ended), on the day it was made;
- ``care_plan_agreed``: each distinct date a care plan version was agreed with the patient
  (``agreed_on``);
- ``care_plan_reviewed``: a later agreement of a plan already agreed on an earlier date (the
  plan was reviewed and agreed again), on that date;
- ``dementia_care_plan_review``: a ``care_plan_reviewed`` event of a patient on the dementia
  register (the app's patient index, as of the last refresh);
- ``ltc_review``, ``frailty_assessment``, ``annual_health_check``: a :class:`ClinicalReview`
  recorded on the patient page, on the day it took place.

Hub appointments go to a file of their own, one row per appointment
(``DIR/app_appointments/appointments.parquet``, ``access/events.py``), written after this
file by ``apps/export_events.py`` (care does not import access).

A new version that keeps the earlier agreement date (an edit, not a review) adds nothing.
Patients with the national data opt-out are left out. One row per patient, kind and day,
sorted, so the same records always give the same file. The file is written to a temporary
file in the same directory and renamed over the old one: readers see the old file or the new
one, never part of one, and a rerun replaces it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.utils import timezone

from wraparound.analytics.indicators.inputs import APP_EVENT_SCHEMA
from wraparound.apps.care.models import CarePlanVersion, CareTeamMember, ClinicalReview
from wraparound.clinical import registers
from wraparound.warehouse import paths
from wraparound.warehouse.store import Warehouse

FILE_NAME = paths.APP_EVENTS_FILE

DEMENTIA = "dementia"  # register id in data/registers.csv


class ExportError(ValueError):
    """The export cannot be written (no such warehouse)."""


def _dementia_name() -> str:
    return next(r.name for r in registers() if r.register_id == DEMENTIA)


def collect() -> list[tuple[str, str, object]]:
    """Every app event as ``(pseudonym, kind, date)``, opted-out patients left out, one per
    patient, kind and day, sorted."""
    events: set[tuple[str, str, object]] = set()
    named = CareTeamMember.objects.filter(
        team_role="named_gp", patient__opted_out=False
    ).values_list("patient__pseudonym", "since")
    for pseudonym, since in named:
        events.add((pseudonym, "named_gp_assigned", timezone.localdate(since)))

    agreements: dict[str, set] = {}
    dementia: dict[str, bool] = {}
    dementia_name = _dementia_name()
    versions = CarePlanVersion.objects.filter(
        agreed=True, agreed_on__isnull=False, plan__patient__opted_out=False
    ).values_list("plan__patient__pseudonym", "agreed_on", "plan__patient__conditions")
    for pseudonym, agreed_on, conditions in versions:
        agreements.setdefault(pseudonym, set()).add(agreed_on)
        dementia[pseudonym] = dementia_name in (conditions or [])
    for pseudonym, dates in agreements.items():
        first, *later = sorted(dates)
        events.add((pseudonym, "care_plan_agreed", first))
        for day in later:
            events.add((pseudonym, "care_plan_agreed", day))
            events.add((pseudonym, "care_plan_reviewed", day))
            if dementia[pseudonym]:
                events.add((pseudonym, "dementia_care_plan_review", day))

    reviews = ClinicalReview.objects.filter(patient__opted_out=False).values_list(
        "patient__pseudonym", "kind", "date"
    )
    events.update(reviews)
    return sorted(events)


def check_warehouse(warehouse_dir: Path) -> Path:
    warehouse_dir = Path(warehouse_dir)
    if not warehouse_dir.is_dir():
        raise ExportError(f"{warehouse_dir}: no such warehouse directory")
    if not Warehouse(warehouse_dir).exists():
        raise ExportError(f"{warehouse_dir} is not a warehouse (no manifest.json)")
    return warehouse_dir


def export(warehouse_dir: Path) -> dict:
    """Write ``DIR/app_events/app_events.parquet`` from the app database; returns the path
    and the number of events of each kind. Writes nothing unless ``DIR`` is a warehouse."""
    warehouse_dir = check_warehouse(warehouse_dir)
    rows = collect()
    table = pa.table(
        {
            "patient_id": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "date": [r[2] for r in rows],
        },
        schema=APP_EVENT_SCHEMA,
    )
    target = paths.app_events(warehouse_dir)
    out_dir = target.parent
    out_dir.mkdir(exist_ok=True)
    # Not *.parquet until renamed: the indicators read every *.parquet in the directory.
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as sink:
            pq.write_table(table, sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    counts: dict[str, int] = {}
    for _, kind, _ in rows:
        counts[kind] = counts.get(kind, 0) + 1
    return {"path": str(target), "events": len(rows), "by_kind": dict(sorted(counts.items()))}
