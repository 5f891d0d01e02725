"""``wraparound app refresh``: bring the app database up to date with the warehouse.

Run after every ingest and every stratification. In order: organisations, the patient index,
the patients' contact details for messaging (``messaging/contacts.py``), service bookings,
the newest register run, timelines of followed patients and the timeline index for
everyone else (``care/timeline.py``), the record index of current medicines and
recent results (``care/record_index.py``), the newest
indicators run (scorecards), alerts for hospital events written by warehouse batches
since the last refresh, then the hub capacity ledger (``access/capacity.py``). Each step
is an idempotent upsert, so running it twice changes nothing the second time.

After the first, a refresh is **incremental** when it can be (``refresh_changes.py``): the
warehouse batches since the last refresh touched only patients' rows, so organisations are
not reloaded, patients, bookings and followed patients' contacts are loaded for the touched
patients only (and contacts of anyone newly followed), and the two indexes are patched for
those patients from the previous snapshot's (``care/index_store.py``: its patient-bucket
partitions hard-linked, the touched patients' rows in a delta, only the partitions that
changed enough rewritten). Every table is written in bulk (``records/bulk.py``: executemany on
SQLite, COPY on PostgreSQL), and a row that has not changed is compared and skipped. The
register and
indicator runs load only when new (they did already). The result is the same as a full
refresh of the same warehouse (``tests/app/test_refresh_incremental.py``). Each step's seconds
are in the summary (``step_seconds``).
"""

from __future__ import annotations

import time
from pathlib import Path

from wraparound.apps.access.capacity import refresh_ledger
from wraparound.apps.care.alerts import raise_alerts
from wraparound.apps.care.contacts import followed_patients, load_contacts
from wraparound.apps.care.record_index import write_record_index
from wraparound.apps.care.timeline import write_index
from wraparound.apps.commissioning.load import load_latest_local_qof
from wraparound.apps.letters.load import load_letters
from wraparound.apps.messaging.contacts import sync_from_identity
from wraparound.apps.records.clock import for_load as data_clock_for_load
from wraparound.apps.records.load import load_organisations, load_patients, load_referrals
from wraparound.apps.records.models import Organisation, Patient, WarehouseLoad
from wraparound.apps.refresh_changes import changes_since
from wraparound.apps.registers.load import load_latest_run
from wraparound.apps.scorecard.load import load_latest_indicators
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse


def refresh(warehouse_dir: Path, full: bool = False) -> dict:
    """Refresh the app from ``warehouse_dir``: incrementally when the last refresh loaded an
    earlier batch of the same warehouse directory and ``full`` is not asked for."""
    started = time.perf_counter()
    warehouse = Warehouse(warehouse_dir)
    manifest = warehouse.manifest
    batch = manifest.batch
    previous = WarehouseLoad.objects.first()
    root = str(Path(warehouse_dir).resolve())
    out: dict = {"warehouse_batch": batch, "snapshot": manifest.snapshot, "warehouse": root}
    # Another warehouse (a copy, a rebuild elsewhere) has its own history: load it whole.
    same = previous is not None and previous.summary.get("warehouse") == root
    steps: dict[str, float] = {}
    clock = [time.perf_counter()]

    def step(name: str) -> None:
        now = time.perf_counter()
        steps[name] = round(now - clock[0], 3)
        clock[0] = now

    with connect(warehouse) as engine:
        changes = None
        if same and not full:
            changes = changes_since(
                engine, manifest, previous.batch, previous.summary.get("snapshot")
            )
        only = changes.patients if changes else None
        out["mode"] = "incremental" if changes else "full"
        if changes:
            out["touched_patients"] = len(changes.patients)
            out["changed_tables"] = sorted(changes.tables)
        step("changes")
        if changes is None:
            out["organisations"] = load_organisations(engine)
        step("organisations")
        out["patients"] = load_patients(engine, Path(warehouse_dir), only)
        # Patients the app cannot show: no identity row with an NHS number (a source keyed
        # by local ids only, or a warehouse written before the identity table).
        pats = engine.table("patients")
        total = engine.to_arrow(pats.aggregate(n=pats.patient_id.nunique()))["n"][0].as_py()
        shown = out["patients"] if changes is None else Patient.objects.count()
        out["patients_without_identity"] = max(0, total - shown)
        step("patients")
        # Contact details (phone, email, postcode) from the identity table, for messaging:
        # what staff or the patient recorded is kept (messaging/contacts.py).
        out["contact_details"] = sync_from_identity(warehouse, only)
        step("contact_details")
        # The today for data (records/clock.py): the gate judges warehouse-dated
        # relationships on it, from the data end recorded here.
        out["data_end"], day = data_clock_for_load(engine)
        out["referrals"] = load_referrals(engine, only, day)
        step("referrals")
        run = load_latest_run(Path(warehouse_dir))
        out["register_run"] = run.run_id if run else None
        step("register_run")
        out["contacts"] = load_contacts(engine, only)
        step("contacts")
        out["timeline_index_patch"], out["record_index_patch"] = {}, {}
        out["timeline_index_rows"] = write_index(
            engine, warehouse, changes, out["timeline_index_patch"]
        )
        step("timeline_index")
        out["record_index_rows"] = write_record_index(
            engine, warehouse, changes, out["record_index_patch"]
        )
        step("record_index")
        out["indicator_run"] = load_latest_indicators(Path(warehouse_dir), engine)
        step("indicator_run")
        out["local_qof_run"] = load_latest_local_qof(Path(warehouse_dir))
        step("local_qof_run")
        names = dict(Organisation.objects.values_list("org_id", "name"))
        out["alerts"] = raise_alerts(
            engine, followed_patients(), previous.batch if previous else None, names
        )
        step("alerts")
        # Letters back to the GP (letters/load.py): expected, met, escalated.
        out["letters"] = load_letters(engine, only)
        aged = out["letters"].pop("aged_patients", frozenset())
        out["letters"]["aged_patients"] = len(aged)
        step("letters")
    # The hub capacity ledger and access standards (access/capacity.py), over the lists
    # just loaded.
    out["access_ledger"] = refresh_ledger()
    step("access_ledger")
    out["step_seconds"] = steps
    out["seconds"] = round(time.perf_counter() - started, 1)
    WarehouseLoad.objects.create(batch=batch, summary=out)
    # For the app-event exports that follow (export_events.py), not for the summary: the
    # patients whose app rows this refresh rewrote, or None when it rewrote everyone's.
    letters = out["letters"]
    if changes is None or not letters.get("touched_only", False):
        out["touched_ids"] = None
    else:
        out["touched_ids"] = changes.patients | aged
    return out
