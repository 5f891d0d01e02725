"""Social-care contacts reach the patient timeline from a CSV extract and from FHIR Encounters
with a social-care service type, beside the other kinds; outpatient specialties are shown by
name; and social care is counted as nothing else (no booking, no alert)."""

from __future__ import annotations

import shutil

import orjson
import pytest
from django.urls import reverse

from wraparound import clinical
from wraparound.apps.care.contacts import followed_patients
from wraparound.apps.care.models import Alert, Contact
from wraparound.apps.records.models import Patient, Referral
from wraparound.apps.refresh import refresh
from wraparound.sources.fhir import mapping as m
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

HEADER = "id,nhs_number,kind,start,end,booked_at,status,mode,org_id,practitioner_role_id,specialty"


def _encounter(rid: str, nhs: str, cls: str, service: str, start: str, end: str) -> dict:
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": "finished",
        "class": {"system": m.ACT_CODE, "code": cls},
        "serviceType": {"coding": [{"system": m.SNOMED, "code": service}]},
        "subject": {"reference": f"Patient?identifier={m.NHS_NUMBER}|{nhs}"},
        "period": {"start": start, "end": end},
    }


@pytest.fixture
def loaded(app_warehouse, tmp_path, settings):
    """A copy of the test warehouse with social-care contacts loaded from CSV (a followed
    patient and one on no register) and from FHIR (an unmapped class and a home visit), then
    refreshed."""
    warehouse = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    settings.WAREHOUSE_DIR = str(warehouse)
    followed = Patient.objects.get(pk=next(iter(sorted(followed_patients().values()))))
    others = list(
        Patient.objects.exclude(pk__in=followed_patients().values())
        .exclude(practice=None)
        .order_by("pk")[:2]
    )
    csv = tmp_path / "extract" / "encounters.csv"
    csv.parent.mkdir()
    csv.write_text(
        "\n".join(
            [
                HEADER,
                f"sc-csv-1,{followed.nhs_number},social_care,2026-03-10T10:00:00Z,"
                "2026-03-10T10:45:00Z,,attended,home_visit,,,",
                f"sc-csv-2,{others[0].nhs_number},social_care,2026-03-11T14:00:00Z,"
                "2026-03-11T14:30:00Z,,attended,telephone,,,",
            ]
        )
        + "\n"
    )
    fhir = tmp_path / "fhir" / "Encounter.ndjson"
    fhir.parent.mkdir()
    resources = [
        # A council system's own class code, with the social services duty team as service.
        _encounter(
            "sc-fhir-1", others[1].nhs_number, "FLD", "310136008",
            "2026-03-12T09:00:00Z", "2026-03-12T10:00:00Z",
        ),
        _encounter(
            "sc-fhir-2", others[1].nhs_number, "HH", "310134006",
            "2026-03-13T11:00:00Z", "2026-03-13T11:45:00Z",
        ),
    ]  # fmt: skip
    fhir.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    for source in (csv.parent, fhir.parent):
        result = run_ingest([source], warehouse, progress=False)
        assert result.ok, result.report["errors"][:3]
    refresh(warehouse)
    return warehouse, followed, others


def test_social_care_from_csv_and_fhir_reaches_the_timeline(client, login, loaded):
    warehouse, followed, others = loaded
    enc = Warehouse(warehouse).read("encounters").to_pandas().set_index("id")
    for rid in ("sc-csv-1", "sc-csv-2", "sc-fhir-1", "sc-fhir-2"):
        assert enc.loc[rid, "kind"] == "social_care", rid
    assert enc.loc[["sc-csv-1", "sc-csv-2", "sc-fhir-1", "sc-fhir-2"], "specialty"].isna().all()
    assert enc.loc["sc-fhir-2", "patient_id"] == others[1].pseudonym

    # A followed patient's contacts are copied into the app; the others come from the index.
    stored = Contact.objects.get(encounter_id="sc-csv-1")
    assert stored.patient == followed and stored.kind == "social_care"
    assert stored.detail == "home visit"
    gp = login("gp")
    for patient, when in (
        (followed, "10 Mar 2026 10:00"),
        (others[0], "11 Mar 2026 14:00"),
        (others[1], "12 Mar 2026 09:00"),
        (others[1], "13 Mar 2026 11:00"),
    ):
        html = gp.get(reverse("patient_timeline", args=[patient.pk])).content.decode()
        row = next(r for r in html.split("<tr") if when in r)
        assert "Social care" in row, (patient, when)
        # beside the other kinds of contact
        assert any(k in html for k in ("GP appointment", "Outpatient", "A&amp;E attendance"))


def test_social_care_is_counted_as_nothing_else(loaded):
    ids = ["sc-csv-1", "sc-csv-2", "sc-fhir-1", "sc-fhir-2"]
    assert not Alert.objects.filter(encounter_id__in=ids).exists()
    assert not Referral.objects.filter(source_id__in=ids).exists()


def test_fhir_without_a_social_care_service_stays_what_it_was(app_warehouse, tmp_path):
    """A home visit with no social-care serviceType is still a community contact, and an
    unknown class with no social-care service is still refused."""
    warehouse = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    nhs = Patient.objects.exclude(practice=None).order_by("pk").first().nhs_number
    when = ("2026-03-13T11:00:00Z", "2026-03-13T12:00:00Z")
    home = _encounter("hh-1", nhs, "HH", "310134006", *when)
    del home["serviceType"]
    odd = _encounter("odd-1", nhs, "FLD", "73761001", *when)
    folder = tmp_path / "fhir"
    folder.mkdir()
    (folder / "Encounter.ndjson").write_bytes(orjson.dumps(home) + b"\n")
    assert run_ingest([folder], warehouse, progress=False).ok
    enc = Warehouse(warehouse).read("encounters").to_pandas().set_index("id")
    assert enc.loc["hh-1", "kind"] == "community"
    (folder / "Encounter.ndjson").write_bytes(orjson.dumps(odd) + b"\n")
    result = run_ingest([folder], warehouse, progress=False)
    assert not result.ok
    assert "FLD" in str(result.report["errors"][0])


def test_outpatient_specialties_are_shown_by_name(login, app_warehouse):
    names = clinical.treatment_functions()
    enc = Warehouse(app_warehouse).read("encounters").to_pandas()
    outpatients = enc[(enc.kind == "outpatient") & enc.specialty.notna()]
    followed = set(followed_patients())
    gp = login("gp")
    seen = {"stored": False, "index": False}
    for pseudonym in outpatients.patient_id.unique()[:200]:
        patient = Patient.objects.filter(pseudonym=pseudonym).exclude(practice=None).first()
        if patient is None:
            continue
        where = "stored" if pseudonym in followed else "index"
        if seen[where]:
            continue
        first_page = enc[enc.patient_id == pseudonym].nlargest(25, "start")
        codes = set(first_page[first_page.kind == "outpatient"].specialty.dropna())
        if not codes:
            continue
        html = gp.get(reverse("patient_timeline", args=[patient.pk])).content.decode()
        for code in codes:
            assert f"<td>{names[code]}" in html, (code, names[code])
            assert f"<td>{code}" not in html
        seen[where] = True
        if all(seen.values()):
            break
    assert all(seen.values()), seen
