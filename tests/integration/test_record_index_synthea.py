"""Medicines and results of real-world FHIR: the committed Synthea patients (LOINC results, a
blood pressure panel with systolic and diastolic components, RxNorm medicines) ingested, the
record index written, and each patient's page record read from it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from wraparound.apps.care.record_index import patient_record, write_record_index
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

SYNTHEA = Path(__file__).parents[1] / "fixtures" / "synthea"


@pytest.fixture(scope="module")
def synthea_warehouse(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthea") / "warehouse"
    result = run_ingest([SYNTHEA], out, progress=False)
    assert result.ok, result.report["errors"][:3]
    warehouse = Warehouse(out)
    with connect(warehouse) as engine:
        assert write_record_index(engine, warehouse) > 0
    return warehouse


def _records(warehouse, settings):
    settings.WAREHOUSE_DIR = str(warehouse.root)
    pseudonyms = sorted(set(warehouse.read("patients")["patient_id"].to_pylist()))
    return [patient_record(SimpleNamespace(pseudonym=p)) for p in pseudonyms]


def test_synthea_results_keep_their_units_and_dates(synthea_warehouse, settings):
    readings = {
        (result.label, r.value, r.unit, r.date)
        for record in _records(synthea_warehouse, settings)
        for result in record.results
        for r in result.readings
    }
    assert ("HbA1c", "6.9", "%", dt.date(2019, 3, 18)) in readings  # LOINC 4548-4, in %
    assert ("Blood pressure", "138/84", "mm[Hg]", dt.date(2019, 3, 18)) in readings  # panel
    assert ("eGFR", "48", "mL/min/{1.73_m2}", dt.date(2018, 10, 1)) in readings
    assert ("BMI", "24.1", "kg/m2", dt.date(2020, 5, 4)) in readings


def test_synthea_medicines_are_listed_by_code_when_unnamed(synthea_warehouse, settings):
    records = _records(synthea_warehouse, settings)
    names = [m.name for record in records for m in record.medicines]
    assert names and all(n.startswith("RxNorm ") for n in names)
    assert all(r.as_of == records[0].as_of and not r.stale for r in records)
