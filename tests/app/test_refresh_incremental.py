"""An incremental ``app refresh`` (after small warehouse batches) leaves the app exactly as a
full refresh of the same warehouse would, and touches only the patients the batches wrote."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest
from django.db import transaction
from worlds import patients

from wraparound.apps.care import index_store
from wraparound.apps.care.models import Alert, Contact, Task
from wraparound.apps.care.record_index import index_file as record_index_file
from wraparound.apps.care.timeline import index_file as timeline_index_file
from wraparound.apps.care.timeline import patient_rows
from wraparound.apps.letters import events as letters_events
from wraparound.apps.letters.models import ExpectedLetter
from wraparound.apps.records.models import Patient, Referral, WarehouseLoad
from wraparound.apps.refresh import refresh
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse import paths
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

ENC = "id,nhs_number,kind,start,end,booked_at,status,mode,org_id,practitioner_role_id,specialty"
ENC_V = ENC + ",updated_at"
OBS = "id,nhs_number,system,code,date,value,unit"
LET = "id,nhs_number,org_id,encounter_id,contact_start,date,type_code"


class _Undo(Exception):
    """Raised to roll a savepoint back after its state is read."""


def _write(folder, name: str, header: str, rows: list[str]):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _batches(tmp_path, followed: Patient, other: Patient):
    """Batch A: an A&E attendance and an open admission for a followed patient, a clinic
    contact, another clinic contact's letter and an HbA1c for a patient on no register;
    batch B: the discharge (the admission again, now ended), the first clinic contact
    cancelled (no letter expected any more) and another HbA1c for the second patient."""
    a = [
        _write(
            tmp_path / "a",
            "encounters.csv",
            ENC_V,
            [
                f"inc-ae,{followed.nhs_number},ae_attendance,2026-04-02T10:00:00Z,"
                "2026-04-02T14:00:00Z,,attended,,R9A,,,2026-04-02T15:00:00Z",
                f"inc-adm,{followed.nhs_number},emergency_admission,2026-04-02T14:00:00Z,"
                ",,attended,,R9A,,,2026-04-02T15:00:00Z",
                f"inc-op,{other.nhs_number},outpatient,2026-04-01T09:00:00Z,"
                "2026-04-01T09:30:00Z,,attended,face_to_face,R9A,,,2026-04-01T10:00:00Z",
                f"inc-op-2,{other.nhs_number},outpatient,2026-04-01T11:00:00Z,"
                "2026-04-01T11:30:00Z,,attended,face_to_face,R9A,,,2026-04-01T12:00:00Z",
            ],
        ),
        _write(
            tmp_path / "a",
            "observations.csv",
            OBS,
            [f"inc-obs-1,{other.nhs_number},snomed,999791000000106,2026-03-30,61,mmol/mol"],
        ),
        _write(
            tmp_path / "a",
            "letters.csv",
            LET,
            [f"inc-let,{other.nhs_number},R9A,inc-op-2,,2026-04-02T09:00:00Z,"],
        ),
    ]
    b = [
        _write(
            tmp_path / "b",
            "encounters.csv",
            ENC_V,
            [
                f"inc-adm,{followed.nhs_number},emergency_admission,2026-04-02T14:00:00Z,"
                "2026-04-06T11:00:00Z,,attended,,R9A,,,2026-04-06T12:00:00Z",
                f"inc-op,{other.nhs_number},outpatient,2026-04-01T09:00:00Z,"
                "2026-04-01T09:30:00Z,,cancelled,face_to_face,R9A,,,2026-04-06T12:00:00Z",
            ],
        ),
        _write(
            tmp_path / "b",
            "observations.csv",
            OBS,
            [f"inc-obs-2,{other.nhs_number},snomed,999791000000106,2026-03-31,58,mmol/mol"],
        ),
    ]
    return a, b


def _state(warehouse, probes: list[str]) -> dict:
    """Everything a refresh writes, in comparable form."""
    wh = Warehouse(warehouse)
    patient_fields = [f.name for f in Patient._meta.fields if f.name not in ("id",)]
    contact_fields = ["patient__pseudonym", "encounter_id", "kind", "start", "end", "status"]
    contact_fields += ["org_name", "detail"]
    return {
        "patients": sorted(Patient.objects.values_list(*patient_fields)),
        "contacts": sorted(Contact.objects.values_list(*contact_fields)),
        "referrals": sorted(
            Referral.objects.values_list("patient__pseudonym", "service_id", "kind", "on")
        ),
        "alerts": sorted(Alert.objects.values_list("patient__pseudonym", "encounter_id", "kind")),
        "letters": sorted(
            (*row[:-1], row[-1] is None)
            for row in ExpectedLetter.objects.values_list(
                "patient__pseudonym",
                "encounter_id",
                "due",
                "received_at",
                "letter_id",
                "on_time",
                "escalated_at",
            )
        ),
        "letter_events": pq.read_table(
            paths.app_events_dir(warehouse) / letters_events.FILE_NAME
        ).to_pylist(),
        "tasks": sorted(Task.objects.values_list("patient__pseudonym", "source", "due")),
        "timeline": _sorted_rows(index_store.read_all(timeline_index_file(wh))),
        "record": _sorted_rows(index_store.read_all(record_index_file(wh))),
        "record_as_of": index_store.manifest(record_index_file(wh))["metadata"],
        "reads": {p: sorted(map(repr, patient_rows(timeline_index_file(wh), p))) for p in probes},
        "record_reads": {
            p: sorted(map(repr, patient_rows(record_index_file(wh), p))) for p in probes
        },
    }


def _sorted_rows(table) -> list:
    return sorted(repr(sorted(r.items())) for r in table.to_pylist())


def _run(app_warehouse, folder, batches, probes, full: bool) -> tuple[dict, list[dict]]:
    """Copy the warehouse, refresh, then load each batch and refresh; return the final state
    and each refresh's summary, rolled back afterwards."""
    warehouse = folder / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    summaries: list[dict] = []
    try:
        with transaction.atomic():
            summaries.append(refresh(warehouse, full=full))
            letters_events.export(warehouse, summaries[-1]["touched_ids"])
            for files in batches:
                assert run_ingest(files, warehouse, progress=False).ok
                summaries.append(refresh(warehouse, full=full))
                letters_events.export(warehouse, summaries[-1]["touched_ids"])
            state = _state(warehouse, probes)
            raise _Undo
    except _Undo:
        pass
    return state, summaries


def test_incremental_refresh_is_a_full_refresh(app_warehouse, tmp_path, monkeypatch):
    # No partition is folded: the touched patients are read from the indexes' delta
    # (folding is checked in test_index_store.py).
    monkeypatch.setattr(index_store, "FOLD_SHARE", 1000.0)
    collected: list[int | None] = []  # how many patients each letters export read again
    collect = letters_events.collect

    def counted(patients=None, today=None):
        collected.append(None if patients is None else len(patients))
        return collect(patients, today)

    monkeypatch.setattr(letters_events, "collect", counted)
    people = patients()
    followed = people["related"]
    other = Patient.objects.exclude(pk=followed.pk).filter(contacts__isnull=True).first()
    assert other is not None
    batches = _batches(tmp_path / "in", followed, other)
    probes = [followed.pseudonym, other.pseudonym]
    probes.extend(Patient.objects.order_by("pk").values_list("pseudonym", flat=True)[:5])

    incremental, inc_summaries = _run(app_warehouse, tmp_path / "inc", batches, probes, full=False)
    # The first export read every letter; the two after a batch only some patients'.
    assert collected[0] is None and all(n is not None for n in collected[1:3]), collected
    full, full_summaries = _run(app_warehouse, tmp_path / "full", batches, probes, full=True)

    # The first refresh of a warehouse directory is whole; the two after a batch are not.
    assert [s["mode"] for s in inc_summaries] == ["full", "incremental", "incremental"]
    assert [s["mode"] for s in full_summaries] == ["full", "full", "full"]
    assert inc_summaries[1]["touched_patients"] == 2
    assert inc_summaries[2]["touched_patients"] == 2, str(inc_summaries[2]["changed_tables"])
    assert "organisations" not in inc_summaries[1]
    for key, value in full.items():
        assert incremental[key] == value, key
    # The batches did reach the app: the alerts, the discharge task, the new rows.
    assert {("inc-ae", "ae_attendance"), ("inc-adm", "discharge")} <= {
        (e, k) for _, e, k in incremental["alerts"]
    }
    assert any("inc-op" in r for r in incremental["reads"][other.pseudonym])
    assert any("58.0" in r for r in incremental["record_reads"][other.pseudonym])
    # The letter arrived and met its contact; the cancelled contact expects none any more.
    letters = {row[1]: row for row in incremental["letters"]}
    assert letters["inc-op-2"][4] == "inc-let" and "inc-op" not in letters
    assert "letters" in inc_summaries[1]["changed_tables"]
    # Both letters loads were the touched patients' (so the events file was patched), and the
    # discharge moved the look-back on: other patients' oldest letters went, as in full.
    assert all(s["letters"]["touched_only"] for s in inc_summaries[1:])
    assert inc_summaries[2]["letters"]["aged_patients"] > 0
    assert inc_summaries[2]["touched_ids"] > {followed.pseudonym, other.pseudonym}
    assert inc_summaries[2]["timeline_index_patch"]["delta_patients"] == 2
    assert inc_summaries[2]["timeline_index_patch"]["parts_folded"] == 0
    # Both indexes were patched, not rebuilt, though the batches moved the last day of data.
    assert all(s["record_index_patch"] for s in inc_summaries[1:]), inc_summaries


def test_a_batch_touching_one_patient_writes_only_that_patients_rows(app_warehouse, tmp_path):
    followed = patients()["related"]
    warehouse = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    refresh(warehouse)  # the first refresh of this directory: everything
    before = {
        p.pseudonym: p
        for p in Patient.objects.exclude(pk=followed.pk).only("pseudonym", "last_ae").iterator()
    }
    extract = _write(
        tmp_path / "one",
        "encounters.csv",
        ENC,
        [
            f"one-ae,{followed.nhs_number},ae_attendance,2026-04-03T10:00:00Z,"
            "2026-04-03T12:00:00Z,,attended,,R9A,,"
        ],
    )
    assert run_ingest([extract], warehouse, progress=False).ok
    # Any row the refresh writes for someone else would show here: mark every other patient.
    Patient.objects.exclude(pk=followed.pk).update(given_name="UNTOUCHED")
    contacts = Contact.objects.exclude(patient=followed).count()
    Contact.objects.exclude(patient=followed).update(detail="UNTOUCHED")
    others_referrals = set(
        Referral.objects.exclude(patient=followed).values_list("pk", "source_id", "service_id")
    )
    own_referrals = Referral.objects.filter(patient=followed).count()

    summary = refresh(warehouse)

    assert summary["mode"] == "incremental" and summary["touched_patients"] == 1
    assert summary["patients"] == 1 and summary["contacts"] > 0
    # Only the followed patient's own bookings are looked at again (already there: nothing new);
    # nobody else's referral rows are written or removed.
    assert summary["referrals"] <= own_referrals
    assert Referral.objects.filter(patient=followed).count() == own_referrals
    assert (
        set(Referral.objects.exclude(patient=followed).values_list("pk", "source_id", "service_id"))
        == others_referrals
    )
    assert not Patient.objects.exclude(pk=followed.pk).exclude(given_name="UNTOUCHED").exists()
    assert Contact.objects.exclude(patient=followed).filter(detail="UNTOUCHED").count() == contacts
    followed.refresh_from_db()
    assert followed.given_name != "UNTOUCHED" and followed.last_ae.date().isoformat() == (
        "2026-04-03"
    )
    assert Contact.objects.filter(encounter_id="one-ae", patient=followed).exists()
    assert len(before) == Patient.objects.exclude(pk=followed.pk).count()
    assert WarehouseLoad.objects.first().summary["mode"] == "incremental"
    # The indexes are the new snapshot's and hold the new encounter.
    wh = Warehouse(warehouse)
    assert any(
        r["id"] == "one-ae" for r in patient_rows(timeline_index_file(wh), followed.pseudonym)
    )
    assert record_index_file(wh).exists()


def test_a_batch_of_organisations_refreshes_everything(app_warehouse, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    refresh(warehouse)
    extract = _write(
        tmp_path / "org",
        "organisations.csv",
        "id,org_id,name,kind,parent_id",
        ["R9A,R9A,Renamed Trust,trust,"],
    )
    assert run_ingest([extract], warehouse, progress=False).ok
    summary = refresh(warehouse)
    assert summary["mode"] == "full" and summary["organisations"] > 0
