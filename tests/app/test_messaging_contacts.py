"""Contact details end to end, from data that came in through ``wraparound ingest`` alone: a
FHIR Patient carrying ``telecom`` (a landline at home, a mobile, an old number, an email)
is ingested into a copy of the app's warehouse, ``app refresh`` loads it, and messaging's
contact resolution finds the mobile for a text message and the email for an email. The
contact details stay in the direct-care identity table: the pseudonymised tables analytics
read have no phone or email, and the engine refuses the identity table."""

from __future__ import annotations

import json
import shutil

import pytest

from wraparound.apps.messaging.api import send_message
from wraparound.apps.messaging.models import ContactPreference
from wraparound.apps.records.models import Patient, User
from wraparound.apps.refresh import refresh
from wraparound.nhs_number import check_digit
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.engine import DirectCareTableError, connect
from wraparound.warehouse.identity import read_identity
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
BOOKED = {"place": "Hub", "when": "Tuesday 8 December, 6:30pm", "how_to_change": "call us"}


def _unused_nhs_number() -> str:
    taken = set(Patient.objects.values_list("nhs_number", flat=True))
    for body in range(943_476_000, 943_477_000):
        digit = check_digit(str(body))
        if digit is not None and (number := f"{body}{digit}") not in taken:
            return number
    raise AssertionError("no free NHS number")


def _patient(nhs: str, practice: str) -> dict:
    return {
        "resourceType": "Patient",
        "id": "telecom-pat-1",
        "meta": {"lastUpdated": "2026-03-01T09:00:00Z", "versionId": "1"},
        "identifier": [{"system": NHS_SYSTEM, "value": nhs}],
        "name": [{"use": "official", "family": "Telecom", "given": ["Tess"]}],
        "gender": "female",
        "birthDate": "1961-05-04",
        "telecom": [
            {"system": "phone", "value": "0113 496 0000", "use": "home"},
            {"system": "phone", "value": "07700 900001", "use": "old"},
            {"system": "phone", "value": " 07700 900456 ", "use": "mobile"},
            {"system": "email", "value": "tess.telecom@example.com", "use": "home"},
        ],
        "generalPractitioner": [{"identifier": {"system": ODS, "value": practice}}],
    }


def test_a_fhir_patients_telecom_reaches_messaging(app_warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("WRAPAROUND_MESSAGING_BACKEND", "outbox")
    monkeypatch.setenv("WRAPAROUND_MESSAGING_OUTBOX", str(tmp_path / "outbox"))
    warehouse = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    nhs = _unused_nhs_number()
    practice = User.objects.get(username="gp").scope_org_id
    extract = tmp_path / "in" / "Patient.ndjson"
    extract.parent.mkdir()
    extract.write_text(json.dumps(_patient(nhs, practice)) + "\n")
    assert run_ingest([extract.parent], warehouse, progress=False).ok

    summary = refresh(warehouse)
    assert summary["contact_details"]["created"] >= 1
    patient = Patient.objects.get(nhs_number=nhs)
    pref = ContactPreference.objects.get(patient=patient)
    # the mobile (it takes texts), not the home landline or the old number; stripped
    assert (pref.phone, pref.email, pref.source) == (
        "07700 900456",
        "tess.telecom@example.com",
        "identity",
    )
    sms = send_message(
        patient=patient,
        template="appointment_booked",
        personalisation=BOOKED,
        purpose="appointment",
        channel="sms",
    )
    assert (sms.status, sms.to) == ("sent", "07700 900456")
    email = send_message(
        patient=patient,
        template="appointment_booked",
        personalisation=BOOKED,
        purpose="appointment",
        channel="email",
    )
    assert (email.status, email.to) == ("sent", "tess.telecom@example.com")

    # A second refresh changes nothing; the details are the identity table's alone.
    again = refresh(warehouse)["contact_details"]
    assert (again["created"], again["updated"]) == (0, 0)
    wh = Warehouse(warehouse)
    for table in ("patients", "registrations", "conditions", "encounters"):
        assert not {"phone", "email"} & set(wh.read(table).column_names), table
    row = next(r for r in read_identity(wh).to_pylist() if r["nhs_number"] == nhs)
    assert row["phone"] == "07700 900456"
    with connect(wh) as engine, pytest.raises(DirectCareTableError):
        engine.table("identity")
