"""The timeline index: what a refresh writes for timelines of patients on no register, and
that a timeline read from it is the same as the warehouse's own answer."""

from __future__ import annotations

import shutil

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from wraparound.apps.care import index_store
from wraparound.apps.care.contacts import contact_rows
from wraparound.apps.care.models import Contact
from wraparound.apps.care.timeline import index_file, timeline, write_index
from wraparound.apps.records.models import Patient
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def _unfollowed_patients(limit: int = 25):
    followed = set(Contact.objects.values_list("patient_id", flat=True).distinct())
    return list(Patient.objects.exclude(pk__in=followed).order_by("pk")[:limit])


def test_refresh_writes_a_sorted_index_of_every_encounter(app_warehouse):
    warehouse = Warehouse(app_warehouse)
    path = index_file(warehouse)
    assert path.exists(), "the session's refresh writes the index"
    index = index_store.read_all(path)
    encounters = warehouse.read("encounters")
    assert index.num_rows == encounters.num_rows
    assert sorted(index["id"].to_pylist()) == sorted(encounters["id"].to_pylist())
    patients = index["patient_id"].to_pylist()
    assert patients == sorted(patients)
    # One part per patient bucket (the pseudonym's first two characters), each sorted.
    parts = sorted(path.glob("part-*.parquet"))
    assert len(parts) > 16
    for part in parts:
        ids = pq.read_table(part, columns=["patient_id"])["patient_id"].to_pylist()
        assert ids == sorted(ids) and len({i[:2] for i in ids}) == 1


def test_timeline_from_the_index_is_the_warehouse_answer(app_warehouse):
    warehouse = Warehouse(app_warehouse)
    patients = _unfollowed_patients()
    assert patients
    seen_some = False
    with connect(warehouse) as engine:
        for patient in patients:
            expected = sorted(
                (r["start"], r["id"]) for r in contact_rows(engine, [patient.pseudonym])
            )
            got = timeline(patient)
            assert all(c.pk is None for c in got), "read per request, not stored"
            assert sorted((c.start, c.encounter_id) for c in got) == expected
            assert [c.start for c in got] == sorted((c.start for c in got), reverse=True)
            seen_some |= bool(got)
    assert seen_some


def test_an_index_for_an_older_snapshot_is_never_read(app_warehouse, tmp_path, settings):
    """After a load the index is stale: the timeline falls back to the engine until the next
    refresh writes one for the new snapshot (and removes the old)."""
    copy = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, copy)
    settings.WAREHOUSE_DIR = str(copy)
    warehouse = Warehouse(copy)
    old = index_file(warehouse)
    patient = next(p for p in _unfollowed_patients() if timeline(p))
    # A new snapshot in which this patient's encounters are gone.
    encounters = warehouse.read("encounters")
    keep = encounters.filter(pc.invert(pc.equal(encounters["patient_id"], patient.pseudonym)))
    with warehouse.transaction({"note": "test"}) as tx:
        tx.append("encounters", keep)
    assert not index_file(warehouse).exists() and old.exists()
    assert timeline(patient) == []
    with connect(warehouse) as engine:
        assert write_index(engine, warehouse) == keep.num_rows
    assert index_file(warehouse).exists() and not old.exists()
    assert timeline(patient) == []
