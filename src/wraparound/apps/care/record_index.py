"""Current medicines and recent results (HbA1c, blood pressure, eGFR, BMI) for the single
patient view, from the **record index**.

The warehouse's medications and observations are not clustered by patient, so reading one
patient's record from them scans the population. ``wraparound app refresh`` therefore writes,
beside the timeline index and the same way (``timeline.write_sorted``), one small table sorted
by patient: each patient's current medicines and their latest few results. The patient page
reads the one or two row groups that can hold the patient (``timeline.patient_rows``) and
nothing else.

What counts is clinical content, not code: the observation codes of each result and the unit
assumed when a record has none are in ``data/record_results.csv``, medicine names in
``data/medications.csv`` (docs/clinical-content.md).

"Current" is judged at the index's *as-of date*, the last day of data (the latest start of
an encounter that took place, else the latest prescription), not today, so that an extract
that ends before today still shows what the patient was taking when it was made; the page
says the date. A medicine is current when one of its authorisations (or statements) started
on or before that date and had not ended before it.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import ibis
import pyarrow as pa
from django.conf import settings

from wraparound import clinical
from wraparound.apps.care import index_store
from wraparound.apps.care.timeline import index_metadata, patient_rows, write_sorted
from wraparound.warehouse import paths
from wraparound.warehouse.store import Warehouse

RESULTS_PER_KIND = 3
"""How many of each result (the newest first) the page shows."""

ROW_GROUP = 512
"""Rows per row group: a patient has a few to a few dozen rows (4 on average in the synthetic
locality), so a small group keeps each page's read small (as the timeline's,
``timeline.INDEX_ROW_GROUP``)."""

AS_OF_KEY = b"as_of"

COLUMNS = (
    "patient_id",
    "section",  # medicine | result
    "item",  # result id (data/record_results.csv); null for a medicine
    "component",  # value | systolic | diastolic; null for a medicine
    "system",
    "code",
    "date",  # a medicine's latest authorisation start; a result's date
    "end_date",  # a medicine's latest authorisation end (null: open-ended)
    "value",
    "unit",
)

_SYSTEM_NAMES = {"snomed": "SNOMED CT", "dmd": "dm+d", "rxnorm": "RxNorm", "read2": "Read v2"}


def index_file(warehouse: Warehouse) -> Path:
    return paths.record_index(warehouse.root, warehouse.manifest.snapshot)


def as_of(engine) -> dt.date | None:
    """The last day of data: the latest start of an encounter that took place (a booking
    for next month is not data about today), else the latest medicine's start (a GP extract
    with no encounters)."""
    enc = engine.table("encounters")
    happened = enc.filter(enc.status != "booked")
    latest = engine.to_arrow(happened.select(m=happened.start.max()))["m"][0].as_py()
    if latest is not None:
        return latest.date()
    meds = engine.table("medications")
    return engine.to_arrow(meds.select(m=meds.start_date.max()))["m"][0].as_py()


def _results_codes(engine) -> ibis.Table:
    codes = clinical.record_results()
    return engine.memtable(
        pa.table(
            {
                "r_system": [c.system for c in codes],
                "r_code": [c.code for c in codes],
                "r_item": [c.result_id for c in codes],
                "r_component": [c.component for c in codes],
                "r_unit": [c.unit for c in codes],
            }
        )
    )


def index_expr(engine, day: dt.date) -> ibis.Table:
    """Every patient's current medicines and latest ``RESULTS_PER_KIND`` results of each kind
    (each blood pressure component apart), in ``COLUMNS``."""
    on = ibis.literal(day)
    meds = engine.table("medications")
    cur = meds.filter(
        meds.start_date.notnull()
        & (meds.start_date <= on)
        & (meds.end_date.isnull() | (meds.end_date >= on))
    )
    cur = cur.group_by(["patient_id", "system", "code"]).agg(
        date=cur.start_date.max(),
        open=cur.end_date.isnull().any(),
        last_end=cur.end_date.max(),
    )
    medicines = cur.select(
        "patient_id",
        section=ibis.literal("medicine"),
        item=ibis.null().cast("string"),
        component=ibis.null().cast("string"),
        system=cur.system,
        code=cur.code,
        date=cur.date,
        end_date=ibis.ifelse(cur.open, ibis.null().cast("date"), cur.last_end),
        value=ibis.null().cast("float64"),
        unit=ibis.null().cast("string"),
    )
    obs = engine.table("observations")
    codes = _results_codes(engine)
    hit = obs.join(codes, [obs.system == codes.r_system, obs.code == codes.r_code])
    hit = hit.filter(hit.date.notnull() & hit.value.notnull())
    rank = ibis.row_number().over(
        group_by=[hit.patient_id, hit.r_item, hit.r_component],
        order_by=[ibis.desc(hit.date), ibis.desc(hit.id)],
    )
    hit = hit.mutate(rank=rank)
    hit = hit.filter(hit.rank < RESULTS_PER_KIND)
    results = hit.select(
        "patient_id",
        section=ibis.literal("result"),
        item=hit.r_item,
        component=hit.r_component,
        system=hit.system,
        code=hit.code,
        date=hit.date,
        end_date=ibis.null().cast("date"),
        value=hit.value.cast("float64"),
        unit=ibis.coalesce(hit.unit, hit.r_unit),
    )
    return medicines.union(results)


RECORD_TABLES = frozenset({"medications", "observations"})
ORDER = ["patient_id", "section", "item", "component", "date", "code"]


def _moved(engine, before: dt.date, day: dt.date) -> set[str]:
    """Patients whose current medicines differ between as-of dates ``before`` and ``day``:
    a medicine starts after the earlier and on or before the later, or ends on or after the
    earlier and before the later (results do not depend on the date)."""
    if before == day:
        return set()
    lo, hi = ibis.literal(min(before, day)), ibis.literal(max(before, day))
    meds = engine.table("medications")
    hit = meds.filter(
        ((meds.start_date > lo) & (meds.start_date <= hi))
        | ((meds.end_date >= lo) & (meds.end_date < hi))
    )
    return set(engine.to_arrow(hit.select("patient_id").distinct())["patient_id"].to_pylist())


def write_record_index(engine, warehouse: Warehouse, changes=None, report=None) -> int:
    """Write the record index for the warehouse's current snapshot (if not there yet) and
    remove older ones; returns the rows written. With ``changes``
    (``apps/refresh_changes.py``), the index of the snapshot last loaded and the same as-of
    date, only the touched patients' rows are computed and patched in
    (``index_store.patch``); a new as-of date (a new last day of data) adds the patients whose
    medicines start or end between the two dates (``_moved``). ``report`` receives what a
    patch wrote."""
    path = index_file(warehouse)
    if path.exists():
        return 0
    day = as_of(engine)
    if day is None:
        return 0
    old = paths.record_index(warehouse.root, changes.previous_snapshot) if changes else None
    if old is not None and (old / index_store.MANIFEST).exists():
        before = index_store.manifest(old)["metadata"].get(AS_OF_KEY.decode())
        if before == day.isoformat() and not changes.tables & RECORD_TABLES:
            os.replace(old, path)  # same rows: neither medicines nor results changed
            return 0
        if before is not None:
            # A new as-of date changes the medicines of the patients with an authorisation
            # starting or ending between the two dates only: patch them with the touched.
            patients = changes.patients | _moved(engine, dt.date.fromisoformat(before), day)
            expr = index_expr(engine, day)
            fresh = engine.to_arrow(expr.filter(expr.patient_id.isin(sorted(patients))))
            done = index_store.patch(
                old,
                path,
                fresh,
                frozenset(patients),
                ORDER,
                "record-*",
                ROW_GROUP,
                metadata={AS_OF_KEY: day.isoformat().encode()},
            )
            done["as_of_moved_patients"] = len(patients) - len(changes.patients)
            if report is not None:
                report.update(done)
            return done["delta_rows"] + done["folded_rows"]
    return write_sorted(
        engine,
        index_expr(engine, day),
        path,
        ORDER,
        "record-*",
        metadata={AS_OF_KEY: day.isoformat().encode()},
        row_group=ROW_GROUP,
    )


# --- reading, per request ------------------------------------------------------------------


@dataclass(frozen=True)
class Medicine:
    name: str
    last_authorised: dt.date
    until: dt.date | None


@dataclass(frozen=True)
class Reading:
    date: dt.date
    value: str  # "48", "31.2", "138/84"
    unit: str


@dataclass(frozen=True)
class Result:
    label: str
    readings: list[Reading]


@dataclass
class PatientRecord:
    as_of: dt.date | None = None
    medicines: list[Medicine] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    stale: bool = False  # read from an index of an earlier snapshot (a load since refresh)
    available: bool = True  # False: no refresh has written an index yet


@cache
def _medicine_names() -> dict[tuple[str, str], str]:
    return {(m.system, m.code): m.term for m in clinical.medications()}


@cache
def _labels() -> dict[str, str]:
    return {c.result_id: c.label for c in clinical.record_results()}


def _number(value: float) -> str:
    return f"{value:g}"


def _newest_index(warehouse: Warehouse) -> tuple[Path | None, bool]:
    """The current snapshot's index, else the newest earlier one (stale until the next
    refresh, but never a population scan); None before any refresh."""
    path = index_file(warehouse)
    if path.exists():
        return path, False
    older = (
        sorted(p for p in path.parent.glob("record-*") if (p / index_store.MANIFEST).exists())
        if path.parent.exists()
        else []
    )
    return (older[-1], True) if older else (None, False)


def patient_record(patient) -> PatientRecord:
    """The patient's current medicines and recent results, from the record index only."""
    warehouse = Warehouse(settings.WAREHOUSE_DIR)
    if not warehouse.exists():
        return PatientRecord(available=False)
    path, stale = _newest_index(warehouse)
    if path is None:
        return PatientRecord(available=False)
    rows = patient_rows(path, patient.pseudonym)
    day = index_metadata(path).get(AS_OF_KEY)
    record = PatientRecord(as_of=dt.date.fromisoformat(day.decode()) if day else None, stale=stale)
    names = _medicine_names()
    meds = [r for r in rows if r["section"] == "medicine"]
    for r in sorted(meds, key=lambda r: names.get((r["system"], r["code"]), r["code"]).lower()):
        # dm+d ids are SNOMED CT concept ids, whichever system the source named.
        name = names.get((r["system"], r["code"])) or names.get(("snomed", r["code"]))
        if name is None:
            name = f"{_SYSTEM_NAMES.get(r['system'], r['system'])} {r['code']}"
        record.medicines.append(Medicine(name, r["date"], r["end_date"]))
    by_item: dict[str, dict[str, list[dict]]] = {}
    for r in rows:
        if r["section"] == "result":
            by_item.setdefault(r["item"], {}).setdefault(r["component"], []).append(r)
    for item, label in _labels().items():
        parts = by_item.get(item)
        if not parts:
            continue
        if "value" in parts:
            readings = [
                Reading(r["date"], _number(r["value"]), r["unit"] or "")
                for r in sorted(parts["value"], key=lambda r: r["date"], reverse=True)
            ]
        else:  # blood pressure: systolic/diastolic taken the same day
            diastolic = {r["date"]: r for r in parts.get("diastolic", ())}
            readings = []
            for s in sorted(parts.get("systolic", ()), key=lambda r: r["date"], reverse=True):
                d = diastolic.get(s["date"])
                # Blood pressure is read in whole mmHg.
                value = f"{s['value']:.0f}/" + (f"{d['value']:.0f}" if d else "?")
                readings.append(Reading(s["date"], value, s["unit"] or ""))
        record.results.append(Result(label, readings))
    return record
