"""Real-world FHIR R4 loads as FHIR allows (issue 10), proven on real public samples.

- A Synthea bulk export (smart-on-fhir/sample-bulk-fhir-datasets, tests/fixtures/synthea-bulk):
  references by identifier (NPI, Synthea ids), gzipped NDJSON, the exporter's log.
- UK Core examples (NHSDigital, tests/fixtures/ukcore): NHS number, ODS codes, ethnic
  category, the admission-method extension.
- Transaction Bundles with DELETE entries remove rows; a bulk export's manifest and
  OperationOutcome error files are listed as skipped, never fail the batch.

Everything goes through ``run_ingest`` into a real warehouse on disk.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from ingest_data import NOW

from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.read import EXPORT_ERRORS, EXPORT_LOG, EXPORT_MANIFEST
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.store import Warehouse

FIXTURES = Path(__file__).parents[1] / "fixtures"
BULK = FIXTURES / "synthea-bulk"
UKCORE = FIXTURES / "ukcore" / "examples"
NPI = "http://hl7.org/fhir/sid/us-npi"
SYNTHEA_ID = "https://github.com/synthetichealth/synthea"
KEY = b"realworld-test-key"


def ingest(paths, wh, **kw):
    return run_ingest(
        [str(p) for p in paths], wh, progress=False, now=NOW, pseudonymiser=Pseudonymiser(KEY), **kw
    )


def rows(wh: Path, table: str) -> list[dict]:
    return Warehouse(wh).read(table).to_pylist()


def ndjson(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def write_ndjson(path: Path, resources: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return path


@pytest.fixture(scope="module")
def bulk(tmp_path_factory):
    wh = tmp_path_factory.mktemp("bulk") / "wh"
    return wh, ingest([BULK], wh)


def test_synthea_bulk_export_loads_whole(bulk):
    _, result = bulk
    report = result.report
    assert result.ok, report["errors"][:3]
    assert report["skipped_files"] == [{"file": str(BULK / "log.ndjson"), "reason": EXPORT_LOG}]
    files = {Path(f["file"]).name: f["resources"] for f in report["files"]}
    assert "log.ndjson" not in files
    assert files["Condition.000.ndjson.gz"] == 43 and files["Procedure.000.ndjson.gz"] == 130
    assert report["rows"]["practitioner_roles"] == 43
    assert report["rows"]["encounters"] == 79
    assert report["skipped_types"]["Location"] == 44
    assert "dangling_identifier_reference" not in report["data_quality"]


def test_practitioner_roles_resolve_by_npi_and_synthea_identifier(bulk):
    wh, _ = bulk
    practitioners = {
        ident["value"]: p["id"]
        for p in ndjson(BULK / "Practitioner.000.ndjson")
        for ident in p["identifier"]
        if ident["system"] == NPI
    }
    orgs = {
        ident["value"]: o["id"]
        for o in ndjson(BULK / "Organization.000.ndjson")
        for ident in o["identifier"]
        if ident["system"] == SYNTHEA_ID
    }
    expected = {
        r["id"]: (
            practitioners[r["practitioner"]["identifier"]["value"]],
            orgs[r["organization"]["identifier"]["value"]],
        )
        for r in ndjson(BULK / "PractitionerRole.000.ndjson")
    }
    assert all(
        "reference" not in r["practitioner"] for r in ndjson(BULK / "PractitionerRole.000.ndjson")
    )
    loaded = {r["id"]: (r["practitioner_id"], r["org_id"]) for r in rows(wh, "practitioner_roles")}
    assert loaded == expected
    # Synthea organisations have no ODS code: they are keyed by logical id.
    org_ids = {r["org_id"] for r in rows(wh, "organisations")}
    assert {org for _, org in loaded.values()} <= org_ids


def test_bulk_encounters_resolve_conditional_service_providers(bulk):
    wh, _ = bulk
    source = {e["id"]: e for e in ndjson(BULK / "Encounter.000.ndjson")}
    loaded = {r["id"]: r for r in rows(wh, "encounters")}
    assert loaded.keys() == source.keys()
    for rid, enc in source.items():
        provider = enc["serviceProvider"]["reference"].split("|", 1)[1]
        assert loaded[rid]["org_id"] == provider
    kinds = {(source[r]["class"]["code"], loaded[r]["kind"]) for r in source}
    assert ("IMP", "elective_admission") in kinds  # Synthea sends no admission method
    assert ("EMER", "ae_attendance") in kinds and ("HH", "community") in kinds


def test_a_later_batch_resolves_identifiers_against_the_warehouse(bulk, tmp_path):
    """Organisations loaded earlier are found by their Synthea identifier (= logical id)."""
    wh, _ = bulk
    copy_wh = tmp_path / "wh"
    shutil.copytree(wh, copy_wh)
    role = ndjson(BULK / "PractitionerRole.000.ndjson")[0]
    practitioner = next(
        p
        for p in ndjson(BULK / "Practitioner.000.ndjson")
        if p["identifier"][0]["value"] == role["practitioner"]["identifier"]["value"]
    )
    role = {**role, "id": "role-later"}
    result = ingest([write_ndjson(tmp_path / "later.ndjson", [practitioner, role])], copy_wh)
    assert result.ok, result.report["errors"]
    [row] = [r for r in rows(copy_wh, "practitioner_roles") if r["id"] == "role-later"]
    assert row["org_id"] == role["organization"]["identifier"]["value"]


def test_unknown_identifier_in_an_optional_field_is_cleared_and_counted(tmp_path):
    roles = ndjson(BULK / "PractitionerRole.000.ndjson")
    role = copy.deepcopy(roles[0])
    role["organization"]["identifier"]["value"] = "no-such-organisation"
    folder = tmp_path / "in"
    shutil.copytree(BULK, folder)
    write_ndjson(folder / "PractitionerRole.000.ndjson", [role, *roles[1:]])
    wh = tmp_path / "wh"
    result = ingest([folder], wh)
    assert result.ok, result.report["errors"]
    assert result.report["data_quality"]["dangling_identifier_reference"] == 1
    [row] = [r for r in rows(wh, "practitioner_roles") if r["id"] == role["id"]]
    assert row["org_id"] is None and row["practitioner_id"] is not None


def test_unknown_identifier_in_a_required_field_rejects_the_batch(tmp_path):
    roles = ndjson(BULK / "PractitionerRole.000.ndjson")
    role = copy.deepcopy(roles[2])
    role["practitioner"]["identifier"]["value"] = "0000000000"
    folder = tmp_path / "in"
    shutil.copytree(BULK, folder)
    write_ndjson(folder / "PractitionerRole.000.ndjson", [*roles[:2], role, *roles[3:]])
    wh = tmp_path / "wh"
    result = ingest([folder], wh)
    assert not result.ok and not wh.joinpath("manifest.json").exists()
    [error] = result.report["errors"]
    assert error["code"] == "dangling_reference"
    assert error["file"] == str(folder / "PractitionerRole.000.ndjson")
    assert error["position"] == "line 3" and error["id"] == role["id"]
    assert f"Practitioner?identifier={NPI}|0000000000" in error["reason"]


def test_bulk_export_manifest_and_error_files_are_skipped_not_failed(tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(BULK, folder)
    (folder / "manifest.json").write_bytes(
        orjson.dumps(
            {
                "transactionTime": "2024-08-06T18:12:57Z",
                "request": "https://example.com/fhir/Group/sample-10/$export",
                "requiresAccessToken": False,
                "output": [{"type": "Patient", "url": "Patient.000.ndjson"}],
                "error": [{"type": "OperationOutcome", "url": "error/OperationOutcome.ndjson"}],
            }
        )
    )
    (folder / "error").mkdir()
    issue = {"severity": "error", "code": "processing", "diagnostics": "Observation failed"}
    write_ndjson(
        folder / "error" / "OperationOutcome.ndjson",
        [{"resourceType": "OperationOutcome", "issue": [issue]}],
    )
    result = ingest([folder], tmp_path / "wh")
    assert result.ok, result.report["errors"]
    assert sorted((Path(f["file"]).name, f["reason"]) for f in result.report["skipped_files"]) == [
        ("OperationOutcome.ndjson", EXPORT_ERRORS),
        ("log.ndjson", EXPORT_LOG),
        ("manifest.json", EXPORT_MANIFEST),
    ]


@pytest.fixture(scope="module")
def ukcore(tmp_path_factory):
    wh = tmp_path_factory.mktemp("ukcore") / "wh"
    return wh, ingest([UKCORE], wh)


def test_ukcore_examples_load(ukcore):
    wh, result = ukcore
    assert result.ok, result.report["errors"]
    assert result.report["skipped"]["Bundle entry without a resource"] == 3  # batch GETs
    [patient] = rows(wh, "patients")
    assert patient["patient_id"] == Pseudonymiser(KEY).nhs_number("9912003888")
    assert patient["ethnicity"] == "G" and patient["dq_flags"] is None
    assert {o["org_id"] for o in rows(wh, "organisations")} == {"RR8", "GP5"}
    [admission] = [e for e in rows(wh, "encounters") if e["id"].startswith("UKCore-Encounter")]
    assert admission["kind"] == "elective_admission"  # admission method 13, planned
    assert admission["org_id"] == "RR8"
    assert {r["id"]: r["org_id"] for r in rows(wh, "practitioner_roles")} == {
        "UKCore-PractitionerRole-GeneralPractitioner-Example": "GP5"  # White Rose Medical Centre
    }
    assert "nhs_number_not_verified" not in result.report["data_quality"]


def test_an_emergency_admission_method_gives_an_emergency_admission(ukcore, tmp_path):
    wh, _ = ukcore
    enc = orjson.loads((UKCORE / "UKCore-Encounter-InpatientEncounter-Example.json").read_bytes())
    enc["id"] = "admitted-via-ed"
    coding = enc["hospitalization"]["extension"][0]["valueCodeableConcept"]["coding"][0]
    coding.update(code="21", display="Emergency Admission: Emergency Care Department")
    copy_wh = tmp_path / "wh"
    shutil.copytree(wh, copy_wh)
    result = ingest([write_ndjson(tmp_path / "enc.ndjson", [enc])], copy_wh)
    assert result.ok, result.report["errors"]
    kinds = {e["id"]: e["kind"] for e in rows(copy_wh, "encounters")}
    assert kinds["admitted-via-ed"] == "emergency_admission"
    assert kinds["UKCore-Encounter-InpatientEncounter-Example"] == "elective_admission"


def _delete_bundle(*urls: str, put: list[dict] = ()) -> dict:
    entries = [{"request": {"method": "DELETE", "url": url}} for url in urls]
    for res in put:
        entries.append(
            {
                "resource": res,
                "request": {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_a_transaction_delete_removes_the_rows(ukcore, tmp_path):
    wh, _ = ukcore
    copy_wh = tmp_path / "wh"
    shutil.copytree(wh, copy_wh)
    before = {t: {r["id"] for r in rows(copy_wh, t)} for t in ("conditions", "observations")}
    assert "UKCore-Condition-BleedingFromEar-Example" in before["conditions"]
    bp = "UKCore-Observation-VitalSigns-BloodPressure-Example"
    assert {f"{bp}-0", f"{bp}-1"} <= before["observations"]
    bundle = tmp_path / "deletes.json"
    bundle.write_bytes(
        orjson.dumps(
            _delete_bundle(
                "Condition/UKCore-Condition-BleedingFromEar-Example",
                f"https://fhir.example.nhs.uk/R4/Observation/{bp}",
                "Condition/never-loaded",
            )
        )
    )
    result = ingest([bundle], copy_wh)
    assert result.ok, result.report["errors"]
    assert result.report["deletions"] == {"conditions": 2, "observations": 1}
    after = {t: {r["id"] for r in rows(copy_wh, t)} for t in ("conditions", "observations")}
    assert after["conditions"] == before["conditions"] - {
        "UKCore-Condition-BleedingFromEar-Example"
    }
    assert after["observations"] == before["observations"] - {f"{bp}-0", f"{bp}-1"}
    assert result.report["data_quality"] == {"delete_of_unknown_id": 1}  # never loaded


def test_a_conditional_delete_rejects_the_batch_and_changes_nothing(ukcore, tmp_path):
    wh, _ = ukcore
    copy_wh = tmp_path / "wh"
    shutil.copytree(wh, copy_wh)
    manifest = (copy_wh / "manifest.json").read_bytes()
    bundle = tmp_path / "deletes.json"
    bundle.write_bytes(
        orjson.dumps(_delete_bundle(f"Patient?identifier={m.NHS_NUMBER}|9912003888"))
    )
    result = ingest([bundle], copy_wh)
    assert not result.ok
    [error] = result.report["errors"]
    assert (error["code"], error["position"]) == ("invalid_reference", "entry[0]")
    assert "conditional deletes are not supported" in error["reason"]
    assert (copy_wh / "manifest.json").read_bytes() == manifest


def test_strict_mode_rejects_what_is_not_r4(tmp_path):
    enc = orjson.loads((UKCORE / "UKCore-Encounter-InpatientEncounter-Example.json").read_bytes())
    patient = orjson.loads((UKCORE / "UKCore-Patient-RichardSmith-Example.json").read_bytes())
    org = orjson.loads(
        (UKCORE / "UKCore-Organization-LeedsTeachingHospital-Example.json").read_bytes()
    )
    enc["participant"] = []
    enc["location"] = []
    enc["reasonReference"] = []
    enc.pop("basedOn", None)
    enc["classHistory"] = {"class": enc["class"]}  # one object where R4 wants an array
    path = write_ndjson(tmp_path / "in.ndjson", [org, patient, enc])
    assert ingest([path], tmp_path / "lenient").ok
    result = ingest([path], tmp_path / "strict", strict=True)
    assert not result.ok
    [error] = result.report["errors"]
    assert error["code"] == "invalid_resource" and error["position"] == "line 3"
    assert "classHistory" in error["reason"]


def test_the_command_loads_a_bulk_export_and_refuses_non_r4_with_strict(tmp_path):
    """``wraparound ingest`` as a user runs it: the Synthea export with its log loads; with
    ``--strict`` a resource that is not R4 is refused with file, position and reason."""
    binary = str(Path(sys.executable).parent / "wraparound")
    report = tmp_path / "report.json"
    done = subprocess.run(
        [binary, "ingest", str(BULK), "--warehouse", str(tmp_path / "wh"), "--quiet",
         "--report", str(report)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())["skipped_files"][0]["reason"] == EXPORT_LOG
    odd = orjson.loads(
        (UKCORE / "UKCore-Organization-LeedsTeachingHospital-Example.json").read_bytes()
    )
    odd["alias"] = "Leeds"  # R4 Organization.alias is an array of strings
    path = write_ndjson(tmp_path / "org.ndjson", [odd])
    refused = subprocess.run(
        [binary, "ingest", str(path), "--warehouse", str(tmp_path / "wh2"), "--quiet", "--strict"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 1
    assert f"{path}:line 1:" in refused.stderr and "alias" in refused.stderr
    assert "Traceback" not in refused.stderr
    lenient = subprocess.run(
        [binary, "ingest", str(path), "--warehouse", str(tmp_path / "wh3"), "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert lenient.returncode == 0, lenient.stderr


def test_a_patient_named_by_another_identifier_and_a_contained_provider_resolve(tmp_path):
    """A subject by the patient's medical record number, and a serviceProvider contained in
    the Encounter with its ODS code, resolve like literal references do."""
    patient = orjson.loads((UKCORE / "UKCore-Patient-RichardSmith-Example.json").read_bytes())
    patient["identifier"].append({"system": "https://trust.example.nhs.uk/mrn", "value": "M123"})
    leeds = orjson.loads(
        (UKCORE / "UKCore-Organization-LeedsTeachingHospital-Example.json").read_bytes()
    )
    enc = orjson.loads((UKCORE / "UKCore-Encounter-InpatientEncounter-Example.json").read_bytes())
    enc["subject"] = {"identifier": {"system": "https://trust.example.nhs.uk/mrn", "value": "M123"}}
    enc["contained"] = [
        {"resourceType": "Organization", "id": "prov", "identifier": leeds["identifier"]}
    ]
    enc["serviceProvider"] = {"reference": "#prov"}
    enc.pop("participant"), enc.pop("location")
    path = write_ndjson(tmp_path / "in.ndjson", [leeds, patient, enc])
    wh = tmp_path / "wh"
    result = ingest([path], wh)
    assert result.ok, result.report["errors"]
    [row] = rows(wh, "encounters")
    assert row["patient_id"] == Pseudonymiser(KEY).nhs_number("9912003888")
    assert row["org_id"] == "RR8"
    enc["subject"]["identifier"]["value"] = "M999"  # no such patient: required, so rejected
    result = ingest([write_ndjson(tmp_path / "bad.ndjson", [leeds, patient, enc])], tmp_path / "w2")
    assert [e["code"] for e in result.report["errors"]] == ["dangling_reference"]


def test_a_registered_practice_outside_the_batch_is_cleared_and_counted(tmp_path):
    """Patient.generalPractitioner by ODS code (as GP systems send it) that matches no
    organisation: the patient loads, the identity row has no practice, a flag is counted."""
    patient = orjson.loads((UKCORE / "UKCore-Patient-RichardSmith-Example.json").read_bytes())
    patient["generalPractitioner"] = [{"identifier": {"system": m.ODS_CODE, "value": "Y99999"}}]
    wh = tmp_path / "wh"
    result = ingest([write_ndjson(tmp_path / "p.ndjson", [patient])], wh)
    assert result.ok, result.report["errors"]
    assert result.report["data_quality"]["dangling_identifier_reference"] == 1
    [identity] = Warehouse(wh).read("identity", columns=["id", "practice_id"]).to_pylist()
    assert identity == {"id": patient["id"], "practice_id": None}


def test_a_transaction_of_posts_with_urn_uuid_full_urls(tmp_path):
    """Resources POSTed without ids, known by their ``urn:uuid`` fullUrl (how a client
    creates a patient and their record in one transaction), load with the uuid as id."""
    patient = orjson.loads((UKCORE / "UKCore-Patient-RichardSmith-Example.json").read_bytes())
    condition = orjson.loads((UKCORE / "UKCore-Condition-HipReplacement-Example.json").read_bytes())
    for res in (patient, condition):
        del res["id"]
    condition.pop("encounter", None)
    condition.pop("recorder", None)
    condition.pop("asserter", None)
    pid, cid = (
        "urn:uuid:9c1a3f0e-1111-4a4a-8a8a-000000000001",
        "urn:uuid:9c1a3f0e-2222-4a4a-8a8a-000000000002",
    )
    condition["subject"] = {"reference": pid}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": cid,
                "resource": condition,
                "request": {"method": "POST", "url": "Condition"},
            },
            {"fullUrl": pid, "resource": patient, "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    path = tmp_path / "tx.json"
    path.write_bytes(orjson.dumps(bundle))
    wh = tmp_path / "wh"
    result = ingest([path], wh)
    assert result.ok, result.report["errors"]
    [row] = rows(wh, "conditions")
    assert row["id"] == cid.removeprefix("urn:uuid:")
    assert row["patient_id"] == Pseudonymiser(KEY).nhs_number("9912003888")
    assert [r["id"] for r in rows(wh, "patients")] == [pid.removeprefix("urn:uuid:")]
