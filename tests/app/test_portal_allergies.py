# ruff: noqa: F811 (portal_provider, the fixture imported from portal_world, is each test's argument)
"""Allergies in the app (issue 15): ``app refresh`` carries the warehouse's allergies into the
patient index; the staff patient page and the portal's "My record" show them, with "no known
allergies" (recorded), "no allergies recorded" and "allergies not known" kept apart; what the
practice hides online is not shown (nor turned into "none"); the FHIR R4 download carries
them as AllergyIntolerance; patient A never sees patient B's; every read stays audited."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.urls import reverse
from fhirclient.models.allergyintolerance import AllergyIntolerance
from fhirclient.models.bundle import Bundle
from portal_world import portal_provider, sign_in  # noqa: F401 (the fixture)

from wraparound import clinical
from wraparound.apps.portal.models import HiddenItem
from wraparound.apps.records.load import ALLERGY_KEYS
from wraparound.apps.records.models import AuditEvent, Patient
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def _item(name, code, status="active", no_known=False, **kw) -> dict:
    item = dict.fromkeys(ALLERGY_KEYS)
    item.update(name=name, system="snomed", code=code, status=status, no_known=no_known, **kw)
    return item


A_ALLERGIES = [
    _item(
        "Allergy to penicillin", "91936005", verification="confirmed", type="allergy",
        category="medication", criticality="high", reaction="Anaphylaxis", severity="severe",
        recorded="2015-03-04",
    ),
    _item("Latex allergy", "300916003", verification="unconfirmed", recorded="2019-01-02"),
    _item("Allergy to eggs", "91930004", status="resolved"),
]  # fmt: skip
B_ALLERGY = _item("Allergy to seafood", "91937001", reaction="Bmarker wheeze")


def _set(patient, allergies):
    Patient.objects.filter(pk=patient.pk).update(allergies=allergies)
    patient.refresh_from_db()


def test_refresh_carries_the_warehouses_allergies_into_the_patient_index():
    rows = Warehouse(settings.WAREHOUSE_DIR).read("allergies").to_pylist()
    assert rows, "the synthetic locality records allergies"
    by_patient: dict[str, list[dict]] = {}
    for r in rows:
        by_patient.setdefault(r["patient_id"], []).append(r)
    terms = {a.code: a.term for a in clinical.allergies()}
    no_known = {a.code for a in clinical.allergies() if a.no_known}
    checked = 0
    for p in Patient.objects.filter(pseudonym__in=list(by_patient)[:200]):
        want = by_patient[p.pseudonym]
        assert sorted((a["code"], a["status"]) for a in p.allergies) == sorted(
            (r["code"], r["clinical_status"]) for r in want
        )
        for a in p.allergies:
            assert a["name"] == terms[a["code"]] and a["no_known"] == (a["code"] in no_known)
        checked += 1
    assert checked > 50
    # Every practice sends allergy data here: a patient with no row has none recorded ([]),
    # never "not known" (null).
    without = Patient.objects.exclude(pseudonym__in=list(by_patient)).exclude(practice=None)
    assert without.exists() and not without.filter(allergies=None).exists()
    assert not without.exclude(allergies=[]).exists()


def test_my_record_shows_a_allergies_and_never_bs(client, portal_provider):
    a, b = portal_provider.patients["a"], portal_provider.patients["b"]
    _set(a, A_ALLERGIES)
    _set(b, [B_ALLERGY])
    sign_in(client, portal_provider, "a")
    page = client.get("/portal/record").content.decode()
    assert "Allergy to penicillin: anaphylaxis (severe), recorded 4 Mar 2015" in page
    assert "Latex allergy, recorded 2 Jan 2019 (not yet confirmed)" in page
    assert "No longer active: Allergy to eggs" in page
    assert "seafood" not in page and "Bmarker" not in page
    assert AuditEvent.objects.filter(patient=a, role="patient", what="portal: my record").exists()
    printed = client.get("/portal/record/print").content.decode()
    assert "Allergy to penicillin" in printed and "Bmarker" not in printed
    # B's identifiers in every parameter change nothing: still A's record only.
    for url in ("/portal/record", "/portal/record/print", "/portal/record/fhir"):
        for params in ({"pk": b.pk, "patient": b.pk}, {"nhs_number": b.nhs_number}):
            body = client.get(url, params).content.decode()
            assert "Bmarker" not in body and "seafood" not in body.lower(), url
    assert not AuditEvent.objects.filter(patient=b, role__in=("patient", "proxy")).exists()


def test_the_fhir_download_carries_allergy_intolerance(client, portal_provider):
    a, b = portal_provider.patients["a"], portal_provider.patients["b"]
    _set(a, A_ALLERGIES)
    _set(b, [B_ALLERGY])
    sign_in(client, portal_provider, "a")
    bundle = json.loads(client.get("/portal/record/fhir").content)
    Bundle(bundle, strict=True)
    allergies = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "AllergyIntolerance"
    ]
    for res in allergies:
        AllergyIntolerance(res, strict=True)
    by_code = {r["code"]["coding"][0]["code"]: r for r in allergies}
    assert set(by_code) == {"91936005", "300916003", "91930004"}
    penicillin = by_code["91936005"]
    assert penicillin["code"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert penicillin["clinicalStatus"]["coding"][0]["code"] == "active"
    assert penicillin["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert (penicillin["criticality"], penicillin["category"]) == ("high", ["medication"])
    assert penicillin["reaction"] == [
        {"manifestation": [{"text": "Anaphylaxis"}], "severity": "severe"}
    ]
    assert penicillin["recordedDate"] == "2015-03-04"
    assert by_code["91930004"]["clinicalStatus"]["coding"][0]["code"] == "resolved"
    patient_urls = {
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    }
    assert {r["patient"]["reference"] for r in allergies} <= patient_urls
    assert "91937001" not in json.dumps(bundle)  # B's


@pytest.mark.parametrize(
    "allergies, shown, absent",
    [
        (
            [_item("No known allergy", "716186003", no_known=True, recorded="2020-05-06")],
            "Your practice has recorded that you have no known allergies (6 May 2020)",
            "No allergies recorded",
        ),
        ([], "No allergies recorded.", "no known allergies"),
        (None, "Allergies not known", "No allergies recorded"),
        (
            [_item("Allergy to penicillin", "91936005", status="resolved")],
            "No allergies recorded.",
            "Allergies not known",
        ),
    ],
)
def test_no_known_none_recorded_and_not_known_are_told_apart(
    client, portal_provider, allergies, shown, absent
):
    a = portal_provider.patients["a"]
    _set(a, allergies)
    sign_in(client, portal_provider, "a")
    page = client.get("/portal/record").content.decode()
    assert shown in page and absent not in page


def test_a_hidden_allergy_is_not_shown_nor_called_none(client, portal_provider):
    a = portal_provider.patients["a"]
    _set(a, A_ALLERGIES[:1])
    HiddenItem.objects.create(
        patient=a, category="allergies", item="Allergy to penicillin", reason="test"
    )
    sign_in(client, portal_provider, "a")
    page = client.get("/portal/record").content.decode()
    assert "Allergy to penicillin" not in page
    assert "chosen not to show your allergies online" in page
    assert "No allergies recorded" not in page and "no known allergies" not in page
    bundle = client.get("/portal/record/fhir").content.decode()
    assert "91936005" not in bundle


def test_the_staff_patient_page_shows_allergies_and_not_known(client, login, portal_provider):
    a = portal_provider.patients["a"]  # on the nurse's care team (portal_world)
    _set(a, A_ALLERGIES)
    staff = login("nurse")
    page = staff.get(reverse("patient", args=[a.pk])).content.decode()
    assert 'id="allergy-list"' in page
    assert "Allergy to penicillin" in page and "Anaphylaxis (severe)" in page
    assert "Unconfirmed" in page and "Allergy to eggs (resolved)" in page
    _set(a, None)
    page = staff.get(reverse("patient", args=[a.pk])).content.decode()
    assert "Allergies not known" in page and "check the GP record before prescribing" in page
    _set(a, [])
    assert "No allergies recorded." in staff.get(reverse("patient", args=[a.pk])).content.decode()
    assert AuditEvent.objects.filter(patient=a, username="nurse", what="patient record").exists()
