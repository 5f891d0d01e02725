"""``wraparound app refresh``: bring the app database up to date with the warehouse.

Run after every ingest and every stratification. In order: organisations, the patient index,
service bookings, the newest register run, timelines of followed patients and the timeline
index for everyone else (``care/timeline.py``), the record index of current medicines and
recent results (``care/record_index.py``), the newest
indicators run (scorecards), alerts for hospital events written by warehouse batches
since the last refresh, then the hub capacity ledger (``access/capacity.py``). Each step
is an idempotent upsert, so running it twice changes nothing the second time.
"""

from __future__ import annotations

import time
from pathlib import Path

from wraparound.apps.access.capacity import refresh_ledger
from wraparound.apps.care.alerts import raise_alerts
from wraparound.apps.care.contacts import followed_patients, load_contacts
from wraparound.apps.care.record_index import write_record_index
from wraparound.apps.care.timeline import write_index
from wraparound.apps.records.load import load_organisations, load_patients, load_referrals
from wraparound.apps.records.models import Organisation, WarehouseLoad
from wraparound.apps.registers.load import load_latest_run
from wraparound.apps.scorecard.load import load_latest_indicators
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse


def refresh(warehouse_dir: Path) -> dict:
    started = time.perf_counter()
    warehouse = Warehouse(warehouse_dir)
    batch = warehouse.manifest.batch
    previous = WarehouseLoad.objects.first()
    out: dict = {"warehouse_batch": batch}
    with connect(warehouse) as engine:
        out["organisations"] = load_organisations(engine)
        out["patients"] = load_patients(engine, Path(warehouse_dir))
        # Patients the app cannot show: no identity row with an NHS number (a source keyed
        # by local ids only, or a warehouse written before the identity table).
        pats = engine.table("patients")
        total = engine.to_arrow(pats.aggregate(n=pats.patient_id.nunique()))["n"][0].as_py()
        out["patients_without_identity"] = max(0, total - out["patients"])
        out["referrals"] = load_referrals(engine)
        run = load_latest_run(Path(warehouse_dir))
        out["register_run"] = run.run_id if run else None
        out["contacts"] = load_contacts(engine)
        out["timeline_index_rows"] = write_index(engine, warehouse)
        out["record_index_rows"] = write_record_index(engine, warehouse)
        out["indicator_run"] = load_latest_indicators(Path(warehouse_dir), engine)
        names = dict(Organisation.objects.values_list("org_id", "name"))
        out["alerts"] = raise_alerts(
            engine, followed_patients(), previous.batch if previous else None, names
        )
    # The hub capacity ledger and access standards (access/capacity.py), over the lists
    # just loaded.
    out["access_ledger"] = refresh_ledger()
    out["seconds"] = round(time.perf_counter() - started, 1)
    WarehouseLoad.objects.create(batch=batch, summary=out)
    return out
