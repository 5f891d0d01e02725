"""The feature table: what it counts, and that nothing on or after the index date leaks in."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pyarrow.compute as pc
from test_features_records import INDEX, admission, person, table, write

from wraparound import clinical
from wraparound.analytics.features import features, model_features
from wraparound.warehouse.engine import connect
from wraparound.warehouse.merge import upsert
from wraparound.warehouse.store import Warehouse


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def feature_rows(wh, index=INDEX) -> dict[str, dict]:
    with connect(wh) as engine:
        return {r["patient_id"]: r for r in features(engine, index).to_pylist()}


def test_utilisation_counts_the_year_before_and_cuts_stays_at_the_index_date(tmp_path):
    day = dt.timedelta(days=1)
    encounters = [
        admission("p", at(INDEX - 300 * day), at(INDEX - 290 * day)),  # 10 bed days
        admission("p", at(INDEX - 3 * day), None),  # still in hospital: 3 days so far
        admission("p", at(INDEX - 366 * day), at(INDEX - 360 * day)),  # before the window
        admission("p", at(INDEX), at(INDEX + 5 * day)),  # the outcome window
        admission("p", at(INDEX - 20 * day), at(INDEX - 20 * day, 18), kind="ae_attendance"),
        {**admission("p", at(INDEX - 30 * day), None, kind="gp_appointment"), "status": "dna"},
    ]
    wh = write(tmp_path, person("p", 80), {"encounters": encounters})
    row = feature_rows(wh)["p"]
    assert row["emergency_admissions"] == 2
    assert row["bed_days"] == 13
    assert row["days_since_emergency_admission"] == 3
    assert row["ae_attendances"] == 1
    assert (row["gp_contacts"], row["gp_dnas"]) == (0, 1)


def test_registers_follow_their_age_rules(tmp_path):
    depression = next(r for r in clinical.registers() if r.register_id == "depression")
    hf = next(r for r in clinical.registers() if r.register_id == "heart_failure")
    rows = [
        {
            "patient_id": pid,
            "system": "snomed",
            "code": reg.codes[0],
            "onset_date": dt.date(2020, 1, 1),
        }
        for pid in ("child", "adult")
        for reg in (depression, hf)
    ]
    wh = write(tmp_path, person("child", 12), person("adult", 40), {"conditions": rows})
    got = feature_rows(wh)
    assert (got["child"]["ltc_depression"], got["child"]["ltc_heart_failure"]) == (0, 1)
    assert (got["adult"]["ltc_depression"], got["adult"]["ltc_heart_failure"]) == (1, 1)
    assert (got["child"]["n_ltc"], got["adult"]["n_ltc"]) == (1, 2)


def test_no_leakage_from_events_on_or_after_the_index_date(small_warehouse, tmp_path):
    """Append a year of heavy use, new diagnoses and medicines from the index date on:
    every feature of every patient stays the same."""
    root = tmp_path / "wh"
    shutil.copytree(small_warehouse, root)
    index = dt.date(2025, 4, 1)
    before = feature_rows(root, index)
    patients = list(before)[:500]
    codes = [r.codes[0] for r in clinical.registers() if r.codes] + [
        d.codes[0] for d in clinical.efi_deficits() if d.codes
    ]
    meds = [m.code for m in clinical.medications()]
    kinds = (
        "emergency_admission",
        "ae_attendance",
        "gp_appointment",
        "outpatient",
        "community",
        "elective_admission",
    )
    future = []
    for i, pid in enumerate(patients):
        for k, kind in enumerate(kinds):
            start = at(index + dt.timedelta(days=(i + k) % 300), hour=0)
            future.append(
                {
                    **admission(pid, start, start + dt.timedelta(days=4), kind),
                    "id": f"future-e-{i}-{k}",
                }
            )
    conds = [
        {
            "id": f"future-c-{i}-{j}",
            "patient_id": pid,
            "system": "snomed",
            "code": c,
            "onset_date": index + dt.timedelta(days=j % 30),
        }
        for i, pid in enumerate(patients)
        for j, c in enumerate(codes[:20])
    ]
    issued = [
        {
            "id": f"future-m-{i}-{j}",
            "patient_id": pid,
            "system": "snomed",
            "code": c,
            "start_date": index,
            "kind": "request",
        }
        for i, pid in enumerate(patients)
        for j, c in enumerate(meds[:8])
    ]
    wh = Warehouse(root)
    with connect(wh) as engine, wh.transaction({"source": "test-future"}) as tx:
        upsert(engine, tx, "encounters", table("encounters", future))
        upsert(engine, tx, "conditions", table("conditions", conds))
        upsert(engine, tx, "medications", table("medications", issued))
    with connect(wh) as engine:
        grew = engine.to_arrow(
            engine.table("encounters")
            .filter(engine.table("encounters").id.startswith("future-"))
            .count()
            .as_table()
        )
    assert grew.column(0)[0].as_py() == len(future)
    assert feature_rows(root, index) == before


def test_features_have_a_row_per_registered_patient_and_no_oracle(small_warehouse):
    with connect(small_warehouse) as engine:
        got = features(engine, dt.date(2025, 4, 1))
    assert set(model_features()) <= set(got.column_names)
    assert not any("risk" in c or "oracle" in c for c in got.column_names)
    assert pc.count_distinct(got["patient_id"]).as_py() == got.num_rows
    assert got.num_rows > 2000
    assert isinstance(got, pa.Table)
