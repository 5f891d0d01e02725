"""The feature table: what it counts, and that nothing on or after the index date leaks in.

The hand-worked cases share one tiny warehouse and run on every engine (the ``engine``
fixture); the leakage and shape checks run on DuckDB over the synthetic locality (the
parity test holds Spark to the same table there)."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from builders import INDEX, admission, on_register, person, table, write

from wraparound import clinical
from wraparound.analytics.features import features, model_features
from wraparound.warehouse.engine import connect
from wraparound.warehouse.merge import upsert
from wraparound.warehouse.store import Warehouse

DAY = dt.timedelta(days=1)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def feature_rows(wh, index=INDEX) -> dict[str, dict]:
    with connect(wh) as engine:
        return {r["patient_id"]: r for r in features(engine, index).to_pylist()}


CASES = [
    # "p": the year before the index date, with one stay still open at the index date.
    person("p", 80),
    {
        "encounters": [
            admission("p", at(INDEX - 300 * DAY), at(INDEX - 290 * DAY)),  # 10 bed days
            admission("p", at(INDEX - 3 * DAY), None),  # still in hospital: 3 days so far
            admission("p", at(INDEX - 366 * DAY), at(INDEX - 360 * DAY)),  # before the window
            admission("p", at(INDEX), at(INDEX + 5 * DAY)),  # the outcome window
            admission("p", at(INDEX - 20 * DAY), at(INDEX - 20 * DAY, 18), kind="ae_attendance"),
            {**admission("p", at(INDEX - 30 * DAY), None, kind="gp_appointment"), "status": "dna"},
        ]
    },
    # "child" and "adult": coded for depression (18+) and heart failure (any age).
    person("child", 12),
    person("adult", 40),
    {
        "conditions": [
            on_register(pid, register)
            for pid in ("child", "adult")
            for register in ("depression", "heart_failure")
        ]
    },
]


@pytest.fixture(scope="module")
def cases_warehouse(tmp_path_factory):
    return write(tmp_path_factory.mktemp("features") / "warehouse", *CASES)


@pytest.fixture(scope="module")
def rows(engine, cases_warehouse) -> dict[str, dict]:
    """The feature table of the cases at ``INDEX``, on each engine."""
    with engine.connect(cases_warehouse) as opened:
        return {r["patient_id"]: r for r in features(opened, INDEX).to_pylist()}


def test_utilisation_counts_the_year_before_and_cuts_stays_at_the_index_date(rows):
    row = rows["p"]
    assert row["emergency_admissions"] == 2
    assert row["bed_days"] == 13
    assert row["days_since_emergency_admission"] == 3
    assert row["ae_attendances"] == 1
    assert (row["gp_contacts"], row["gp_dnas"]) == (0, 1)


def test_registers_follow_their_age_rules(rows):
    assert (rows["child"]["ltc_depression"], rows["child"]["ltc_heart_failure"]) == (0, 1)
    assert (rows["adult"]["ltc_depression"], rows["adult"]["ltc_heart_failure"]) == (1, 1)
    assert (rows["child"]["n_ltc"], rows["adult"]["n_ltc"]) == (1, 2)


def test_every_case_patient_has_a_row(rows):
    assert set(rows) == {"p", "child", "adult"}


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
