"""Allergies at ingest (issue 15): FHIR R4 AllergyIntolerance, UK Core / GP Connect shape, from
a transaction Bundle and a bulk NDJSON export, and the same allergies in allergies.csv, load to
the same pseudonymised ``allergies`` rows; entered-in-error and refuted records are skipped
and counted, never loaded; a re-run changes nothing; a bad allergy rejects the whole batch
with its reason and leaves the warehouse as it was."""

from __future__ import annotations

import pytest
from ingest_data import NHS, NOW, contents, locality, tree, write_bundle, write_csv, write_ndjson

from wraparound.sources.fhir import mapping as m
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.store import Warehouse

SNOMED = "http://snomed.info/sct"
PENICILLIN = "91936005"  # SNOMED CT: allergy to penicillin (finding)
AMOXICILLIN = "372687004"  # SNOMED CT: amoxicillin (substance)
URTICARIA = "247472004"  # SNOMED CT: urticarial rash
ANAPHYLAXIS = "39579001"


def allergy(
    rid,
    pat,
    code,
    display,
    clinical="active",
    verification="confirmed",
    reactions=(),
    recorded="2019-12-10T13:00:00+00:00",
    onset=None,
    **extra,
):
    r = {
        "resourceType": "AllergyIntolerance",
        "id": rid,
        "clinicalStatus": {"coding": [{"system": m.ALLERGY_CLINICAL, "code": clinical}]},
        "verificationStatus": {
            "coding": [{"system": m.ALLERGY_VERIFICATION, "code": verification}]
        },
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "patient": {"reference": f"Patient/{pat}"},
        "recordedDate": recorded,
        **extra,
    }
    if reactions:
        r["reaction"] = [
            {
                "manifestation": [{"coding": [{"system": SNOMED, "code": c, "display": d}]}],
                **({"severity": s} if s else {}),
            }
            for c, d, s in reactions
        ]
    if onset:
        r["onsetDateTime"] = onset
    return r


ALLERGIES = [
    allergy(
        "alg-1", "pat-1", PENICILLIN, "Allergy to penicillin", type="allergy",
        category=["medication"], criticality="high",
        reactions=[(URTICARIA, "Urticarial rash", "mild"), (ANAPHYLAXIS, "Anaphylaxis", "severe")],
        onset="1990-05-01",
    ),
    allergy(
        "alg-2", "pat-2", AMOXICILLIN, "Amoxicillin", clinical="resolved",
        verification="unconfirmed", recorded="2020-01-02",
    ),
    # not allergies of the patient: skipped and counted
    allergy("alg-3", "pat-1", "111088007", "Latex", verification="entered-in-error"),
    allergy("alg-4", "pat-2", "256349002", "Peanut", verification="refuted"),
]  # fmt: skip

CSV_HEADER = [
    "id", "nhs_number", "system", "code", "display", "clinical_status", "verification_status",
    "type", "category", "criticality", "reaction_code", "reaction_display", "reaction_severity",
    "onset_date", "recorded_date",
]  # fmt: skip
CSV_ROWS = [
    ["alg-1", NHS[0], "snomed", PENICILLIN, "Allergy to penicillin", "active", "confirmed",
     "allergy", "medication", "high", URTICARIA, "Urticarial rash", "severe", "1990-05-01",
     "2019-12-10"],
    ["alg-2", NHS[1], "snomed", AMOXICILLIN, "Amoxicillin", "resolved", "unconfirmed", "", "",
     "", "", "", "", "", "2020-01-02"],
]  # fmt: skip


def ingest(paths, wh):
    return run_ingest([str(p) for p in paths], wh, progress=False, now=NOW)


def test_fhir_ndjson_bundle_and_csv_allergies_load_alike_and_a_rerun_changes_nothing(tmp_path):
    nd_wh, bundle_wh, csv_wh = tmp_path / "nd", tmp_path / "bundle", tmp_path / "csv_wh"
    result = ingest([write_ndjson(tmp_path / "fhir", locality() + ALLERGIES)], nd_wh)
    assert result.ok, result.report["errors"]
    assert result.report["skipped"]["AllergyIntolerance (entered-in-error)"] == 1
    assert result.report["skipped"]["AllergyIntolerance (refuted)"] == 1
    rows = contents(nd_wh)["allergies"]
    pseudo = Pseudonymiser()
    assert [(r["id"], r["patient_id"], r["system"], r["code"]) for r in rows] == [
        ("alg-1", pseudo.nhs_number(NHS[0]), "snomed", PENICILLIN),
        ("alg-2", pseudo.nhs_number(NHS[1]), "snomed", AMOXICILLIN),
    ]
    first, second = rows
    assert (first["display"], first["clinical_status"], first["verification_status"]) == (
        "Allergy to penicillin", "active", "confirmed",
    )  # fmt: skip
    assert (first["type"], first["category"], first["criticality"]) == (
        "allergy", "medication", "high",
    )  # fmt: skip
    # the first reaction's manifestation, the worst severity of every reaction
    assert (first["reaction_code"], first["reaction_display"], first["reaction_severity"]) == (
        URTICARIA, "Urticarial rash", "severe",
    )  # fmt: skip
    assert first["onset_date"].isoformat() == "1990-05-01"
    assert first["recorded_date"].isoformat() == "2019-12-10"
    assert (second["clinical_status"], second["verification_status"]) == ("resolved", "unconfirmed")
    assert second["reaction_code"] is None and second["category"] is None
    assert NHS[0] not in str(rows)  # pseudonymised

    # the same resources in a transaction Bundle load the same rows
    bundle = write_bundle(tmp_path / "b" / "bundle.json", locality() + ALLERGIES, "transaction")
    assert ingest([bundle], bundle_wh).ok
    drop = ("batch", "updated_at", "version_id")
    assert contents(bundle_wh, drop)["allergies"] == contents(nd_wh, drop)["allergies"]

    # and as allergies.csv beside the rest of the locality in FHIR (the CSV row keeps the
    # worst severity the FHIR reader derived)
    folder = tmp_path / "csv"
    write_csv(folder / "allergies.csv", CSV_HEADER, CSV_ROWS)
    done = ingest(
        [write_ndjson(tmp_path / "fhir_rest", locality()), folder / "allergies.csv"], csv_wh
    )
    assert done.ok, done.report["errors"]
    assert contents(csv_wh, drop)["allergies"] == contents(nd_wh, drop)["allergies"]

    # idempotent: the same input again leaves the same rows, no duplicates
    before = contents(nd_wh, ("batch",))["allergies"]
    again = ingest([write_ndjson(tmp_path / "fhir", locality() + ALLERGIES)], nd_wh)
    assert again.ok
    assert contents(nd_wh, ("batch",))["allergies"] == before
    assert Warehouse(nd_wh).read("allergies").num_rows == 2


def test_a_later_version_replaces_the_allergy_and_a_delete_removes_it(tmp_path):
    wh = tmp_path / "wh"
    ingest([write_ndjson(tmp_path / "one", locality() + ALLERGIES)], wh)
    resolved = allergy("alg-1", "pat-1", PENICILLIN, "Allergy to penicillin", clinical="inactive")
    resolved["meta"] = {"lastUpdated": "2025-06-01T00:00:00Z", "versionId": "2"}
    assert ingest([write_ndjson(tmp_path / "two", [resolved])], wh).ok
    rows = {r["id"]: r for r in contents(wh)["allergies"]}
    assert rows["alg-1"]["clinical_status"] == "inactive" and len(rows) == 2
    delete = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "AllergyIntolerance/alg-2"}}],
    }
    path = tmp_path / "del" / "delete.json"
    path.parent.mkdir()
    path.write_text(__import__("json").dumps(delete))
    done = ingest([path], wh)
    assert done.ok, done.report["errors"]
    assert done.report["deletions"] == {"allergies": 1}
    assert [r["id"] for r in contents(wh)["allergies"]] == ["alg-1"]


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"clinicalStatus": None}, "AllergyIntolerance.clinicalStatus is missing"),
        (
            {"clinicalStatus": {"coding": [{"system": m.ALLERGY_CLINICAL, "code": "remission"}]}},
            "allergies.clinical_status 'remission' is not one of",
        ),
        ({"code": None}, "AllergyIntolerance.code.coding is missing"),
        (
            {"code": {"coding": [{"system": "http://example.org/local", "code": "X1"}]}},
            "AllergyIntolerance.code has no coding in a known code system",
        ),
        ({"criticality": "extreme"}, "allergies.criticality 'extreme' is not one of"),
        (
            {"reaction": [{"manifestation": [], "severity": "awful"}]},
            "reaction[0].severity 'awful' is not one of",
        ),
        ({"recordedDate": "2027-03-01"}, "recorded_date 2027-03-01 is in the future"),
        ({"recordedDate": "1940-01-01"}, "before"),  # before the patient's birth (1950)
        ({"patient": {"reference": "Patient/nobody"}}, "Patient/nobody"),
        ({"patient": None}, "AllergyIntolerance.patient.reference is missing"),
    ],
)
def test_a_bad_allergy_rejects_the_batch_and_changes_nothing(tmp_path, bad, reason):
    wh = tmp_path / "wh"
    ingest([write_ndjson(tmp_path / "first", locality() + ALLERGIES[:1])], wh)
    before = tree(wh / "snapshots")
    broken = allergy("alg-9", "pat-1", PENICILLIN, "Allergy to penicillin")
    for key, value in bad.items():
        if value is None:
            broken.pop(key, None)
        else:
            broken[key] = value
    result = ingest([write_ndjson(tmp_path / "second", [*locality(), broken])], wh)
    assert not result.ok
    errors = result.report["errors"]
    assert any(reason in e["reason"] for e in errors), errors
    assert all(e["resource_type"] == "AllergyIntolerance" for e in errors), errors
    assert tree(wh / "snapshots") == before
    assert [r["id"] for r in contents(wh)["allergies"]] == ["alg-1"]


def test_a_bad_allergies_csv_is_refused_with_the_reason_and_changes_nothing(tmp_path):
    wh = tmp_path / "wh"
    ingest([write_ndjson(tmp_path / "first", locality())], wh)
    before = tree(wh / "snapshots")
    folder = tmp_path / "csv"
    write_csv(folder / "allergies.csv", CSV_HEADER, [
        ["alg-a", NHS[0], "snomed", PENICILLIN, "", "current", "", "", "", "", "", "", "", "",
         "2020-01-01"],
        ["alg-b", NHS[0], "snomed", PENICILLIN, "", "active", "entered-in-error", "", "", "", "",
         "", "", "", "2020-01-01"],
        ["alg-c", NHS[0], "snomed", "", "", "active", "", "", "", "", "", "", "", "", "soon"],
    ])  # fmt: skip
    result = ingest([folder / "allergies.csv"], wh)
    assert not result.ok
    reasons = sorted(e["reason"] for e in result.report["errors"])
    assert any("clinical_status 'current' is not one of" in r for r in reasons), reasons
    assert any("verification_status 'entered-in-error' is not one of" in r for r in reasons)
    assert any("'soon'" in r or "allergies.code is required" in r for r in reasons), reasons
    assert tree(wh / "snapshots") == before
    assert Warehouse(wh).read("allergies").num_rows == 0
