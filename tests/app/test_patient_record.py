"""Current medicines and recent results on the single patient view: what the refresh writes
to the record index, that the page shows it with units and dates, and that a request reads
only the patient's own row groups of the index (never the warehouse's tables)."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from wraparound import clinical
from wraparound.apps.care import index_store
from wraparound.apps.care.record_index import (
    RESULTS_PER_KIND,
    index_file,
    patient_record,
    write_record_index,
)
from wraparound.apps.care.timeline import patient_groups
from wraparound.apps.records.models import Patient
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def _index(app_warehouse):
    return index_store.read_all(index_file(Warehouse(app_warehouse))).to_pandas()


def _patient_with(app_warehouse, *items: str) -> Patient:
    """A patient (at the GP's practice) with a current medicine and every one of ``items``."""
    index = _index(app_warehouse)
    meds = set(index[index.section == "medicine"].patient_id)
    has = [set(index[index["item"] == item].patient_id) for item in items]
    wanted = meds.intersection(*has)
    patient = Patient.objects.filter(pseudonym__in=wanted).exclude(practice=None).first()
    assert patient is not None, f"no patient with medicines and {items}"
    return patient


def test_refresh_writes_a_sorted_record_index(app_warehouse):
    warehouse = Warehouse(app_warehouse)
    path = index_file(warehouse)
    assert path.exists(), "the session's refresh writes it"
    parts = sorted(path.glob("part-*.parquet"))
    assert len(parts) > 2  # one per patient bucket
    index = index_store.read_all(path).to_pandas()
    assert list(index.patient_id) == sorted(index.patient_id)
    as_of = patient_record_as_of(warehouse)
    assert pq.ParquetFile(parts[0]).schema_arrow.metadata[b"as_of"].decode() == str(as_of)
    enc = warehouse.read("encounters")
    happened = enc.filter(pc.not_equal(enc["status"], "booked"))
    assert as_of == pc.max(happened["start"]).as_py().date()

    meds = index[index.section == "medicine"]
    assert len(meds) and (meds.date <= as_of).all()
    assert (meds.end_date.isna() | (meds.end_date >= as_of)).all()
    assert not meds.duplicated(["patient_id", "system", "code"]).any()

    results = index[index.section == "result"]
    codes = {(c.system, c.code): (c.result_id, c.component) for c in clinical.record_results()}
    assert {(s, c) for s, c in zip(results.system, results.code, strict=True)} <= set(codes)
    assert set(results["item"]) == {"hba1c", "blood_pressure", "egfr", "bmi"}
    per_kind = results.groupby(["patient_id", "item", "component"]).size()
    assert per_kind.max() == RESULTS_PER_KIND
    assert results.unit.notna().all() and results.value.notna().all()


def test_results_are_the_latest_in_the_warehouse(app_warehouse):
    """For a few patients, the page's HbA1c readings are the warehouse's newest three."""
    obs = Warehouse(app_warehouse).read("observations").to_pandas()
    hba1c = obs[obs.code == "999791000000106"]
    index = _index(app_warehouse)
    checked = 0
    for pseudonym in sorted(set(index[index["item"] == "hba1c"].patient_id))[:15]:
        patient = Patient.objects.filter(pseudonym=pseudonym).first()
        if patient is None:
            continue
        own = hba1c[hba1c.patient_id == pseudonym].sort_values(["date", "id"], ascending=False)
        expected = [(d, f"{v:g}") for d, v in zip(own.date, own.value, strict=True)][:3]
        got = next(r for r in patient_record(patient).results if r.label == "HbA1c")
        assert [(x.date, x.value) for x in got.readings] == expected
        assert {x.unit for x in got.readings} == {"mmol/mol"}
        checked += 1
    assert checked >= 5


def test_patient_page_shows_medicines_and_results_with_units_and_dates(login, app_warehouse):
    patient = _patient_with(app_warehouse, "hba1c", "blood_pressure", "egfr", "bmi")
    record = patient_record(patient)
    response = login("gp").get(reverse("patient", args=[patient.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Current medicines" in html and "Recent results" in html
    names = {m.term for m in clinical.medications()}
    assert record.medicines and all(m.name in names for m in record.medicines)
    for medicine in record.medicines:
        assert medicine.name in html
        assert medicine.last_authorised.strftime("%-d %b %Y") in html
    labels = [r.label for r in record.results]
    assert labels == ["HbA1c", "Blood pressure", "eGFR", "BMI"]  # data file order
    units = {"HbA1c": "mmol/mol", "Blood pressure": "mmHg", "eGFR": "mL/min/1.73m2", "BMI": "kg/m2"}
    for result in record.results:
        assert result.label in html
        for reading in result.readings:
            assert reading.unit == units[result.label]
            line = f"{reading.value} {reading.unit} on {reading.date.strftime('%-d %b %Y')}"
            assert line in html, line
    bp = next(r for r in record.results if r.label == "Blood pressure")
    systolic, diastolic = bp.readings[0].value.split("/")
    assert int(systolic) > int(diastolic) > 0
    assert record.as_of.strftime("%-d %B %Y") in html


def test_a_request_reads_only_the_patients_row_groups(login, app_warehouse, tmp_path, settings):
    """The page needs nothing of the warehouse but its manifest and the index: with the
    medications and observations tables gone, it shows the same medicines and results; and
    the patient's rows are found in one or two of the index's many row groups."""
    patient = _patient_with(app_warehouse, "hba1c")
    path = index_file(Warehouse(app_warehouse))
    groups = patient_groups(path, patient.pseudonym)
    assert 1 <= len(groups) <= 2
    assert sum(pq.ParquetFile(p).metadata.num_row_groups for p in path.glob("part-*")) > 2
    before = patient_record(patient)

    copy = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, copy)
    removed = 0
    for table in ("medications", "observations"):
        for stored in (copy / "snapshots").glob(f"*/{table}*"):  # a file or a partition folder
            shutil.rmtree(stored) if stored.is_dir() else stored.unlink()
            removed += 1
    assert removed >= 2, "the warehouse's medications and observations are gone"
    settings.WAREHOUSE_DIR = str(copy)
    after = patient_record(patient)
    assert after == before and after.medicines and after.results
    html = login("gp").get(reverse("patient", args=[patient.pk])).content.decode()
    assert before.medicines[0].name in html


def test_before_any_refresh_the_page_says_so(login, app_warehouse, tmp_path, settings):
    copy = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, copy)
    shutil.rmtree(copy / "app_index")
    settings.WAREHOUSE_DIR = str(copy)
    patient = _patient_with(app_warehouse, "hba1c")
    assert not patient_record(patient).available
    html = login("gp").get(reverse("patient", args=[patient.pk])).content.decode()
    assert "Medicines and results appear after the next app refresh." in html


def test_after_a_load_the_last_index_is_shown_until_the_next_refresh(
    app_warehouse, tmp_path, settings
):
    copy = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, copy)
    settings.WAREHOUSE_DIR = str(copy)
    warehouse = Warehouse(copy)
    patient = _patient_with(app_warehouse, "hba1c")
    old = index_file(warehouse)
    meds = warehouse.read("medications")
    keep = meds.filter(pc.invert(pc.equal(meds["patient_id"], patient.pseudonym)))
    with warehouse.transaction({"note": "test"}) as tx:
        tx.append("medications", keep)
    stale = patient_record(patient)
    assert stale.stale and stale.medicines, "the last refresh's index, labelled as such"
    with connect(warehouse) as engine:
        assert write_record_index(engine, warehouse) > 0
    assert index_file(warehouse).exists() and not old.exists()
    fresh = patient_record(patient)
    assert not fresh.stale and fresh.medicines == [] and fresh.results == stale.results


def test_a_future_booking_does_not_move_the_as_of_date(app_warehouse, tmp_path):
    """Current medicines are judged on the last day something happened, not on the day of
    an appointment booked for later."""
    copy = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, copy)
    warehouse = Warehouse(copy)
    before = patient_record_as_of(warehouse)
    enc = warehouse.read("encounters")
    booked = enc.slice(0, 1).to_pylist()[0] | {
        "id": "future-booking",
        "kind": "gp_appointment",
        "start": dt.datetime(2026, 9, 1, 9, 0, tzinfo=dt.UTC),
        "end": None,
        "status": "booked",
    }
    with warehouse.transaction({"note": "test"}) as tx:
        tx.append("encounters", pa.concat_tables([enc, pa.Table.from_pylist([booked], enc.schema)]))
    with connect(warehouse) as engine:
        assert write_record_index(engine, warehouse) > 0
    assert patient_record_as_of(warehouse) == before < dt.date(2026, 9, 1)


def patient_record_as_of(warehouse: Warehouse) -> dt.date:
    metadata = index_store.manifest(index_file(warehouse))["metadata"]
    return dt.date.fromisoformat(metadata["as_of"])
