"""Alerts after a load: A&E attendances, emergency admissions and discharges for patients on
the register or a caseload, written by warehouse batches the app has not seen yet.

Idempotent by construction: an alert is unique on (encounter id, kind), so reloading the
same data, or refreshing twice, creates nothing new. A discharge (an emergency admission
whose ``end`` is set) also creates a follow-up task due within two working days.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
from django.db import transaction

from wraparound.apps.care.models import Alert, CaseRecord, Task

FIRST_LOAD_DAYS = 14
"""On the app's first load there is no previous batch: alert on the last fortnight only."""

FOLLOW_UP_WORKING_DAYS = 2


def add_working_days(day: dt.date, n: int) -> dt.date:
    """``n`` working days after ``day`` (weekends skipped; bank holidays are not modelled)."""
    while n:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def new_events(engine, followed: dict[str, int], after_batch: int | None) -> list[dict]:
    enc = engine.table("encounters")
    wanted = engine.memtable(pa.table({"pid": pa.array(sorted(followed), pa.string())}))
    hospital = enc.filter(enc.kind.isin(["ae_attendance", "emergency_admission"]))
    if after_batch is None:
        latest = engine.to_arrow(enc.select(m=enc.start.max())).column("m")[0].as_py()
        if latest is None:
            return []
        hospital = hospital.filter(
            hospital.start >= ibis.literal(latest - dt.timedelta(days=FIRST_LOAD_DAYS))
        )
    else:
        hospital = hospital.filter(hospital.batch > after_batch)
    expr = hospital.join(wanted, hospital.patient_id == wanted.pid).select(
        "id", "patient_id", "kind", "start", "end", "org_id", "batch"
    )
    return engine.to_arrow(expr).to_pylist()


def raise_alerts(
    engine, followed: dict[str, int], after_batch: int | None, org_names: dict[str, str]
) -> dict:
    events = new_events(engine, followed, after_batch)
    alerts = []
    for e in events:
        common = {
            "patient_id": followed[e["patient_id"]],
            "encounter_id": e["id"],
            "batch": e["batch"],
            "org_name": org_names.get(e["org_id"], ""),
        }
        alerts.append(Alert(kind=e["kind"], occurred_at=e["start"], **common))
        if e["kind"] == "emergency_admission" and e["end"] is not None:
            alerts.append(Alert(kind="discharge", occurred_at=e["end"], **common))
    with transaction.atomic():
        existing = set(
            Alert.objects.filter(encounter_id__in=[a.encounter_id for a in alerts]).values_list(
                "encounter_id", "kind"
            )
        )
        fresh = [a for a in alerts if (a.encounter_id, a.kind) not in existing]
        Alert.objects.bulk_create(fresh, ignore_conflicts=True)
        created = Alert.objects.filter(
            encounter_id__in=[a.encounter_id for a in fresh], kind="discharge"
        )
        tasks = _follow_up_tasks(created)
    return {"events": len(events), "alerts": len(fresh), "tasks": tasks}


def _follow_up_tasks(discharges) -> int:
    cases = {
        c.patient_id: c
        for c in CaseRecord.objects.filter(patient_id__in=[a.patient_id for a in discharges])
    }
    tasks = []
    for alert in discharges:
        if Task.objects.filter(alert=alert).exists():
            continue
        case = cases.get(alert.patient_id)
        owner = (case.coordinator_id or case.named_gp_id) if case else None
        tasks.append(
            Task(
                assignee_id=owner,
                patient_id=alert.patient_id,
                source="discharge",
                alert=alert,
                what=f"Follow up after discharge from {alert.org_name or 'hospital'}",
                due=add_working_days(alert.occurred_at.date(), FOLLOW_UP_WORKING_DAYS),
            )
        )
    Task.objects.bulk_create(tasks)
    return len(tasks)
