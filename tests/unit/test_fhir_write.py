"""The FHIR R4 writer: every table maps to the resources and elements docs/fhir-mapping.md
promises, the output is valid R4, and the same population always gives the same bytes."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import orjson
import pytest
from builders import table
from fhir_write_data import T0, population

from wraparound.nhs_number import is_valid
from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.write import write_fhir
from wraparound.sources.synthetic.population import PopulationChunk
from wraparound.warehouse.schema import CODE_SYSTEMS

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
REFERENCE = re.compile(
    r"(Patient|Organization|Practitioner|PractitionerRole|Encounter)/[A-Za-z0-9\-.]{1,64}"
)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("fhir")
    return out, write_fhir(population(), out, progress=False, bundle_sample=4)


@pytest.fixture(scope="module")
def resources(written) -> dict[str, dict[str, dict]]:
    """Resource type -> logical id -> resource, from the NDJSON files."""
    out, _ = written
    found: dict[str, dict[str, dict]] = {}
    for path in out.glob("*.ndjson"):
        for line in path.read_bytes().splitlines():
            r = orjson.loads(line)
            assert r["resourceType"] == path.stem
            found.setdefault(path.stem, {})[r["id"]] = r
    return found


def r4_validate(resource: dict) -> None:
    """Validate against the R4 (4.0.1) base definitions, plus the JSON rules fhirclient's
    generated models do not check: no null or empty values, valid ids, relative references."""
    module = importlib.import_module(f"fhirclient.models.{resource['resourceType'].lower()}")
    getattr(module, resource["resourceType"])(resource, strict=True)
    assert resource["resourceType"] == "Bundle" or FHIR_ID.fullmatch(resource["id"])
    _no_empty(resource, resource["resourceType"])


def _no_empty(value: object, path: str) -> None:
    assert value is not None and value not in ("", [], {}), f"empty value at {path}"
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and not item.startswith("http"):
                assert REFERENCE.fullmatch(item), f"{path}.reference {item!r}"
            _no_empty(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_empty(item, f"{path}[{i}]")


def test_returns_counts_and_files(written, resources):
    out, result = written
    assert result["resources"] == {k: len(v) for k, v in sorted(resources.items())}
    assert result["resources"] == {
        "AllergyIntolerance": 2, "Appointment": 3, "Condition": 4, "DocumentReference": 2,
        "Encounter": 6,
        "EpisodeOfCare": 5,
        "MedicationRequest": 2, "MedicationStatement": 2, "Observation": 3, "Organization": 6,
        "Patient": 5, "Practitioner": 2, "PractitionerRole": 3, "Procedure": 2,
    }  # fmt: skip
    on_disk = sorted(str(p) for p in out.rglob("*") if p.is_file())
    assert result["files"] == on_disk


@pytest.mark.parametrize("resource_type", sorted(m.SUPPORTED_RESOURCES))
def test_every_resource_is_valid_r4(resources, resource_type):
    assert resources[resource_type], f"fixture should produce {resource_type}"
    for resource in resources[resource_type].values():
        r4_validate(resource)


def test_validator_rejects_invalid_resources():
    """The validator used above does catch what it is relied on to catch."""
    with pytest.raises(Exception, match="Appointment"):
        r4_validate({"resourceType": "Appointment", "id": "a", "status": "booked"})
    with pytest.raises(Exception, match="gendre"):
        r4_validate({"resourceType": "Patient", "id": "p", "gendre": "female"})
    with pytest.raises(AssertionError, match="empty value"):
        r4_validate({"resourceType": "Patient", "id": "p", "name": []})


def test_patient(resources):
    nhs = {i.as_py() for c in population() for i in c.identities.column("nhs_number")}
    full, bare = resources["Patient"]["pt-1"], resources["Patient"]["pt-2"]
    assert full["meta"] == {"versionId": "2", "lastUpdated": "2025-01-02T03:04:05Z"}
    [identifier] = full["identifier"]
    assert identifier["system"] == m.NHS_NUMBER and is_valid(identifier["value"])
    assert identifier["value"] in nhs
    assert full["gender"] == "female"
    assert full["birthDate"] == "1940-05-06"
    assert full["deceasedDateTime"] == "2025-02-03"
    assert full["extension"] == [
        {"url": m.ETHNIC_CATEGORY_EXT,
         "valueCodeableConcept": {"coding": [{"system": m.ETHNIC_CATEGORY_SYSTEM, "code": "A"}]}},
        {"url": m.OPT_OUT_EXT, "valueBoolean": True},
    ]  # fmt: skip
    assert full["address"][0]["extension"] == [{"url": m.LSOA_EXT, "valueString": "E01000001"}]
    # The open registration (P1, logical id org-p1), not the ended one at P2.
    assert full["generalPractitioner"] == [{"reference": "Organization/org-p1"}]
    # Nulls are left out; no open registration means no generalPractitioner.
    assert set(bare) == {"resourceType", "id", "extension", "identifier", "generalPractitioner"}
    assert bare["extension"] == [{"url": m.OPT_OUT_EXT, "valueBoolean": False}]
    assert "generalPractitioner" not in resources["Patient"]["pt-3"]
    assert all(is_valid(p["identifier"][0]["value"]) for p in resources["Patient"].values())


def test_organisation(resources):
    orgs = resources["Organization"]
    p1 = orgs["org-p1"]
    assert p1["identifier"] == [{"system": m.ODS_CODE, "value": "P1"}]
    assert p1["type"] == [{"coding": [{"system": m.ORG_KIND_SYSTEM, "code": "practice"}]}]
    assert p1["name"] == "Elm Surgery"
    assert p1["partOf"] == {"reference": "Organization/org-nb"}
    assert p1["meta"] == {"versionId": "3", "lastUpdated": "2025-01-02T03:04:05Z"}
    assert "partOf" not in orgs["org-loc"] and "meta" not in orgs["org-loc"]
    assert "name" not in orgs["org-p2"]


def test_practitioners_and_roles(resources):
    assert resources["Practitioner"]["pr-1"]["name"] == [{"text": "Dr A Smith"}]
    assert resources["Practitioner"]["pr-1"]["meta"] == {"lastUpdated": "2025-01-02T03:04:05Z"}
    assert set(resources["Practitioner"]["pr-2"]) == {"resourceType", "id"}
    gp, nurse = resources["PractitionerRole"]["rl-1"], resources["PractitionerRole"]["rl-2"]
    assert gp["practitioner"] == {"reference": "Practitioner/pr-1"}
    assert gp["organization"] == {"reference": "Organization/org-p1"}
    assert gp["code"] == [{"coding": [{"system": m.STAFF_ROLE_SYSTEM, "code": "gp"}]}]
    assert "organization" not in nurse


def test_registrations(resources):
    episodes = resources["EpisodeOfCare"]
    ended, open_ = episodes["rg-1a"], episodes["rg-1b"]
    assert ended["type"] == [
        {"coding": [{"system": m.EPISODE_TYPE_SYSTEM, "code": "gp-registration"}]}
    ]
    assert ended["patient"] == {"reference": "Patient/pt-1"}
    assert ended["managingOrganization"] == {"reference": "Organization/org-p2"}
    assert ended["period"] == {"start": "1990-01-01", "end": "2010-06-30"}
    assert ended["status"] == "finished"
    assert open_["period"] == {"start": "2010-07-01"} and open_["status"] == "active"
    assert open_["meta"] == {"versionId": "1", "lastUpdated": "2025-01-02T03:04:05Z"}


def test_conditions(resources):
    onset, abated, bare = (resources["Condition"][i] for i in ("cd-1", "cd-2", "cd-3"))
    assert onset["code"] == {"coding": [{"system": CODE_SYSTEMS["snomed"], "code": "38341003"}]}
    assert onset["subject"] == {"reference": "Patient/pt-1"}
    assert onset["onsetDateTime"] == "2000-01-01" and "abatementDateTime" not in onset
    assert abated["code"]["coding"][0]["system"] == CODE_SYSTEMS["icd10"]
    assert abated["abatementDateTime"] == "2002-01-01"
    assert abated["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert "onsetDateTime" not in bare


def test_observations(resources):
    full, bare, unitless = (resources["Observation"][i] for i in ("ob-1", "ob-2", "ob-3"))
    assert full["effectiveDateTime"] == "2024-01-05"
    assert full["valueQuantity"] == {"value": 27.5, "unit": "kg/m2"}
    assert full["code"]["coding"] == [{"system": CODE_SYSTEMS["snomed"], "code": "60621009"}]
    assert bare["code"]["coding"] == [{"system": CODE_SYSTEMS["loinc"], "code": "8302-2"}]
    assert "valueQuantity" not in bare and "effectiveDateTime" not in bare
    assert unitless["valueQuantity"] == {"value": 3.0}


def test_medications_by_kind(resources):
    request, statement = (
        resources["MedicationRequest"]["md-1"],
        resources["MedicationStatement"]["md-2"],
    )
    assert request["medicationCodeableConcept"]["coding"] == [
        {"system": CODE_SYSTEMS["dmd"], "code": "39113611000001102"}
    ]
    assert request["authoredOn"] == "2023-01-01"
    assert request["dispenseRequest"] == {"validityPeriod": {"end": "2023-07-01"}}
    assert request["intent"] == "order" and request["status"] == "completed"
    assert statement["effectivePeriod"] == {"start": "2022-01-01"}
    assert statement["medicationCodeableConcept"]["coding"][0]["system"] == CODE_SYSTEMS["rxnorm"]
    assert statement["status"] == "active"
    bare_request, bare_statement = (
        resources["MedicationRequest"]["md-3"],
        resources["MedicationStatement"]["md-4"],
    )
    assert "authoredOn" not in bare_request and "dispenseRequest" not in bare_request
    assert "effectivePeriod" not in bare_statement


def test_procedures(resources):
    assert resources["Procedure"]["pc-1"]["performedDateTime"] == "2021-04-04"
    assert resources["Procedure"]["pc-1"]["subject"] == {"reference": "Patient/pt-1"}
    assert "performedDateTime" not in resources["Procedure"]["pc-2"]


def test_gp_appointment(resources):
    appointment = resources["Appointment"]["en-gp"]
    assert appointment["start"] == "2024-03-01T09:30:00Z"
    assert appointment["end"] == "2024-03-01T09:45:00Z"
    assert appointment["minutesDuration"] == 15
    assert appointment["created"] == "2024-02-28T09:30:00Z"
    assert appointment["status"] == "fulfilled"
    assert appointment["appointmentType"] == {
        "coding": [{"system": m.APPOINTMENT_MODE_SYSTEM, "code": "telephone"}]
    }
    assert [p["actor"] for p in appointment["participant"]] == [
        {"reference": "Patient/pt-1"}, {"reference": "PractitionerRole/rl-1"}
    ]  # fmt: skip
    assert appointment["extension"] == [
        {"url": m.APPOINTMENT_ORG_EXT, "valueReference": {"reference": "Organization/org-p1"}}
    ]
    assert appointment["meta"] == {"versionId": "1", "lastUpdated": "2025-01-02T03:04:05Z"}
    assert appointment["priority"] == m.PRIORITY_URGENT == 1  # asked to be seen urgently
    assert resources["Appointment"]["en-4"]["priority"] == m.PRIORITY_ROUTINE == 5
    bare = resources["Appointment"]["en-gp-min"]  # urgent_request null: no priority
    assert bare["status"] == "noshow"
    assert bare["start"] == "2024-03-02T10:00:00.123456Z"  # microseconds survive
    assert set(bare) == {"resourceType", "id", "status", "start", "participant"}
    assert resources["Appointment"]["en-4"]["status"] == "cancelled"


@pytest.mark.parametrize(
    ("id_", "act_class", "priority"),
    [("en-ae", "EMER", None), ("en-em", "IMP", "EM"), ("en-el", "IMP", "EL"),
     ("en-op", "AMB", None), ("en-cm", "HH", None)],
)  # fmt: skip
def test_encounter_class_and_priority(resources, id_, act_class, priority):
    encounter = resources["Encounter"][id_]
    assert encounter["class"] == {"system": m.ACT_CODE, "code": act_class}
    if priority is None:
        assert "priority" not in encounter
    else:
        assert encounter["priority"] == {"coding": [{"system": m.ACT_PRIORITY, "code": priority}]}


def test_encounter_fields(resources):
    admission = resources["Encounter"]["en-em"]
    assert admission["period"] == {"start": "2024-03-02T13:30:00Z", "end": "2024-03-05T13:30:00Z"}
    assert admission["status"] == "finished"
    assert admission["serviceProvider"] == {"reference": "Organization/org-trust"}
    assert admission["participant"] == [{"individual": {"reference": "PractitionerRole/rl-3"}}]
    assert admission["subject"] == {"reference": "Patient/pt-1"}
    outpatient = resources["Encounter"]["en-op"]
    assert outpatient["serviceType"] == {"coding": [{"system": m.SPECIALTY_SYSTEM, "code": "320"}]}
    assert outpatient["status"] == "cancelled" and "extension" not in outpatient
    assert outpatient["type"] == [
        {"coding": [{"system": m.APPOINTMENT_MODE_SYSTEM, "code": "face_to_face"}]},
        {"coding": [{"system": m.ATTENDANCE_TYPE_SYSTEM, "code": "follow-up"}]},
    ]
    dna = resources["Encounter"]["en-op-dna"]
    assert dna["status"] == "cancelled"
    assert dna["extension"] == [{"url": m.DID_NOT_ATTEND_EXT, "valueBoolean": True}]
    assert "type" not in dna
    assert resources["Encounter"]["en-cm"]["type"][0]["coding"][0]["code"] == "home_visit"
    assert resources["Encounter"]["en-el"]["status"] == "planned"
    assert resources["Encounter"]["en-el"]["period"] == {"start": "2024-03-09T17:30:00Z"}
    assert "serviceProvider" not in resources["Encounter"]["en-cm"]


def test_areas_csv_exact(written):
    out, _ = written
    assert (out / "areas.csv").read_bytes() == b"lsoa,imd_decile\nE01000001,1\nE01000002,10\n"


def test_bundles_hold_first_patients_as_transactions(written, resources):
    out, _ = written
    paths = sorted((out / "bundles").iterdir())
    # The sample crosses the chunk boundary: three patients in chunk 1, the fourth from chunk 2.
    assert [p.name for p in paths] == [f"Patient-pt-{n}.json" for n in (1, 2, 3, 4)]
    for path in paths:
        patient = path.stem.removeprefix("Patient-")
        bundle = orjson.loads(path.read_bytes())
        r4_validate(bundle)
        assert bundle["type"] == "transaction"
        urls = set()
        for entry in bundle["entry"]:
            resource = entry["resource"]
            url = f"{resource['resourceType']}/{resource['id']}"
            assert entry["request"] == {"method": "PUT", "url": url}
            assert entry["fullUrl"] == f"{m.FULL_URL_BASE}/{url}"
            # Same content as the NDJSON line, meta included.
            assert resource == resources[resource["resourceType"]][resource["id"]]
            urls.add(url)
        assert len(urls) == len(bundle["entry"])
        refs = re.findall(rb'"reference": "([^"]+)"', path.read_bytes())
        assert {r.decode() for r in refs} <= urls, "every reference resolves inside the bundle"
        patients = {u for u in urls if u.startswith("Patient/")}
        assert patients == {f"Patient/{patient}"}
        owned = _patient_owned(resources, patient)
        assert owned <= urls and all(
            not u.startswith(("Condition", "Observation", "Encounter", "Appointment", "Episode"))
            for u in urls - owned
        )


def _patient_owned(resources: dict, patient: str) -> set[str]:
    target = f"Patient/{patient}".encode()
    return {
        f"{kind}/{id_}"
        for kind, by_id in resources.items()
        for id_, r in by_id.items()
        if (kind == "Patient" and id_ == patient) or target in orjson.dumps(r)
    }


def test_bundle_sample_zero_writes_no_bundles(tmp_path):
    result = write_fhir(population(), tmp_path, progress=False, bundle_sample=0)
    assert not any("bundles" in f for f in result["files"])
    assert not (tmp_path / "bundles").exists()


def test_output_is_deterministic(tmp_path):
    first = write_fhir(population(), tmp_path / "a", progress=True, bundle_sample=3)
    second = write_fhir(population(), tmp_path / "b", progress=False, bundle_sample=3)
    names = [Path(f).relative_to(tmp_path / "a") for f in first["files"]]
    assert names == [Path(f).relative_to(tmp_path / "b") for f in second["files"]]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_rewrite_removes_stale_files(tmp_path):
    write_fhir(population(), tmp_path, progress=False)
    only_first = population()[:1]
    del only_first[0].tables["encounters"]
    write_fhir(only_first, tmp_path, progress=False, bundle_sample=1)
    assert not (tmp_path / "Appointment.ndjson").exists()
    assert [p.name for p in (tmp_path / "bundles").iterdir()] == ["Patient-pt-1.json"]


def _with(chunk: PopulationChunk, name: str, rows: list[dict]) -> list[PopulationChunk]:
    chunk.tables[name] = table(name, rows)
    return [chunk]


@pytest.mark.parametrize(
    ("name", "row", "message"),
    [
        ("encounters", {"id": "x", "patient_id": "pseud1", "kind": "outpatient", "start": T0,
                        "status": "attended", "org_id": "NOPE"}, "ODS code 'NOPE'"),
        ("encounters", {"id": "x", "patient_id": "pseud1", "kind": "outpatient", "start": T0,
                        "status": "no-show"}, "status 'no-show'"),
        ("encounters", {"id": "x", "patient_id": "pseud1", "kind": "outpatient", "start": T0,
                        "status": "attended", "booked_at": T0}, "booked_at is only mapped"),
        ("encounters", {"id": "x", "patient_id": "pseud1", "kind": "outpatient", "start": T0,
                        "status": "attended", "urgent_request": True},
         "urgent_request is only mapped"),
        ("conditions", {"id": "x", "patient_id": "pseud9", "system": "snomed", "code": "1"},
         "patient_id 'pseud9'"),
        ("conditions", {"id": "x", "patient_id": "pseud1", "system": "opcs", "code": "1"},
         "unknown code system 'opcs'"),
        ("conditions", {"id": "bad_id", "patient_id": "pseud1", "system": "snomed", "code": "1"},
         "'bad_id' is not a valid FHIR id"),
        ("medications", {"id": "x", "patient_id": "pseud1", "system": "dmd", "code": "1",
                         "kind": "administration"}, "kind 'administration'"),
    ],
)  # fmt: skip
def test_rows_the_contract_cannot_express_are_refused(tmp_path, name, row, message):
    chunks = _with(population()[0], name, [row])
    with pytest.raises(ValueError, match=re.escape(message)):
        write_fhir(chunks, tmp_path, progress=False)


def test_output_does_not_depend_on_slice_and_batch_sizes(tmp_path, monkeypatch):
    """Tables are converted in slices and written in batches; the boundaries must not show."""
    whole = write_fhir(population(), tmp_path / "whole", progress=False)
    monkeypatch.setattr("wraparound.sources.fhir.write._TABLE_SLICE", 2)
    monkeypatch.setattr("wraparound.sources.fhir.write._WRITE_BATCH", 3)
    sliced = write_fhir(population(), tmp_path / "sliced", progress=False)
    assert whole["resources"] == sliced["resources"]
    for name in whole["files"]:
        relative = Path(name).relative_to(tmp_path / "whole")
        assert (tmp_path / "sliced" / relative).read_bytes() == Path(name).read_bytes()


def test_patient_without_nhs_number_has_no_identifier(tmp_path):
    chunks = population()
    chunks[0].identities = chunks[0].identities.slice(1)  # pt-1 has no NHS number
    write_fhir(chunks, tmp_path, progress=False)
    first = orjson.loads((tmp_path / "Patient.ndjson").read_bytes().splitlines()[0])
    assert first["id"] == "pt-1" and "identifier" not in first
    r4_validate(first)


def test_allergy_intolerance(resources):
    full, bare = resources["AllergyIntolerance"]["al-1"], resources["AllergyIntolerance"]["al-min"]
    assert full["clinicalStatus"]["coding"][0]["code"] == "active"
    assert full["verificationStatus"]["coding"][0] == {
        "system": m.ALLERGY_VERIFICATION, "code": "confirmed",
    }  # fmt: skip
    assert full["code"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "91936005", "display": "Allergy to penicillin"}
    ]
    assert (full["type"], full["category"], full["criticality"]) == (
        "allergy", ["medication"], "high",
    )  # fmt: skip
    assert full["reaction"] == [
        {
            "manifestation": [
                {"coding": [{"system": "http://snomed.info/sct", "code": "39579001",
                             "display": "Anaphylaxis"}]}
            ],
            "severity": "severe",
        }
    ]  # fmt: skip
    assert (full["onsetDateTime"], full["recordedDate"]) == ("1990-01-01", "1995-02-03")
    assert full["patient"]["reference"] == "Patient/pt-1"
    assert bare["clinicalStatus"]["coding"][0]["code"] == "resolved"
    for absent in ("verificationStatus", "type", "category", "reaction", "recordedDate"):
        assert absent not in bare
