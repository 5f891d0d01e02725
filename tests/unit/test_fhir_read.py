"""Read-side building blocks: value parsing, reference parsing, codings, per-resource mapping."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest

from wraparound.clinical import ClinicalContentError
from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.admission import admission_methods
from wraparound.sources.fhir.extract import (
    Context,
    coded,
    extract,
    nhs_number_verification,
    reference_type,
)
from wraparound.sources.fhir.read import (
    EXPORT_ERRORS,
    EXPORT_LOG,
    EXPORT_MANIFEST,
    read_fhir_file,
)
from wraparound.sources.fhir.validate import structural_problems
from wraparound.sources.ingest_batch import Batch
from wraparound.sources.ingest_resolve import parse_reference
from wraparound.sources.ingest_rules import INDEX
from wraparound.sources.ingest_values import (
    Clock,
    Reject,
    normalise_nhs_number,
    parse_date,
    parse_instant,
    parse_version,
)
from wraparound.warehouse.pseudonym import Pseudonymiser

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def ctx() -> Context:
    return Context(Batch(Clock(NOW)), Pseudonymiser(b"test-key"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", date(2024, 2, 29)),
        ("2024-03-01T23:30:00-05:00", date(2024, 3, 1)),  # the date as written, not UTC's
        ("2024-05", date(2024, 5, 1)),
        ("1950", date(1950, 1, 1)),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text, "x") == expected


@pytest.mark.parametrize("text", ["2023-02-29", "2024-13-01", "yesterday", "", "20240101"])
def test_parse_date_rejects(text):
    with pytest.raises(Reject) as exc:
        parse_date(text, "x")
    assert exc.value.code == "impossible_date"


def test_parse_instant_converts_to_utc():
    assert parse_instant("2024-07-01T10:00:00+01:00", "x") == datetime(2024, 7, 1, 9, tzinfo=UTC)
    assert parse_instant("2024-07-01T10:00:00Z", "x") == datetime(2024, 7, 1, 10, tzinfo=UTC)
    assert parse_instant("2024-07-01", "x") == datetime(2024, 7, 1, tzinfo=UTC)
    assert parse_instant("2024-07-01T10:00:00", "x") == datetime(2024, 7, 1, 10, tzinfo=UTC)


def test_parse_version_only_integers():
    assert parse_version("3") == 3 and parse_version(4) == 4
    assert parse_version('W/"3"') is None and parse_version(None) is None


def test_normalise_nhs_number():
    assert normalise_nhs_number("943 476 5919") == "9434765919"
    with pytest.raises(Reject) as exc:
        normalise_nhs_number("9434765918")
    assert exc.value.code == "invalid_nhs_number"


def test_clock_allows_dates_that_are_today_somewhere():
    clock = Clock(datetime(2026, 1, 1, 12, tzinfo=UTC))
    clock.not_future_date(date(2026, 1, 2), "x")  # already 2 Jan east of UTC+12
    with pytest.raises(Reject):
        clock.not_future_date(date(2026, 1, 3), "x")


def test_parse_reference_forms():
    batch = Batch(Clock(NOW))
    batch.full_urls["urn:uuid:abc"] = ("Patient", "p1")
    assert parse_reference("Patient/p1", batch) == ("Patient", "p1", None)
    assert parse_reference("https://x.nhs.uk/fhir/Patient/p1/_history/2", batch) == (
        "Patient", "p1", None,
    )  # fmt: skip
    assert parse_reference("urn:uuid:abc", batch) == ("Patient", "p1", None)
    assert parse_reference("Organization?identifier=https://s|X1", batch) == (
        "Organization", None, ("https://s", "X1"),
    )  # fmt: skip
    for bad, code in [
        ("urn:uuid:nope", "dangling_reference"),
        ("p1", "invalid_reference"),
        ("Patient?name=x", "invalid_reference"),
    ]:
        with pytest.raises(Reject) as exc:
            parse_reference(bad, batch)
        assert exc.value.code == code
    assert reference_type("PractitionerRole?identifier=a|b", batch) == "PractitionerRole"


def test_coded_takes_the_first_known_system():
    concept = {
        "coding": [
            {"system": "http://example.org", "code": "x"},
            {"system": "http://snomed.info/sct", "code": "38341003"},
        ]
    }
    assert coded(concept, "code") == ("snomed", "38341003")
    with pytest.raises(Reject) as exc:
        coded({"coding": [{"system": "http://example.org", "code": "x"}]}, "code")
    assert exc.value.code == "unknown_code_system"


def test_observation_components_become_rows():
    c = ctx()
    extract({
        "resourceType": "Observation", "id": "bp", "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": "2024-01-01T10:00:00Z",
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": 80, "unit": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 120, "unit": "mm[Hg]"}},
        ],
    }, 0, c)  # fmt: skip
    rows = c.batch.rows["observations"]
    assert [(r[0], r[3], r[5]) for r in rows] == [
        ("bp-0", "8462-4", 80.0), ("bp-1", "8480-6", 120.0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "priority", "kind"),
    [
        ("EMER", None, "ae_attendance"),
        ("IMP", "EM", "emergency_admission"),
        ("IMP", "EL", "elective_admission"),
        ("IMP", None, "elective_admission"),
        ("HH", None, "community"),
        ("AMB", None, "outpatient"),
    ],
)
def test_encounter_kinds(cls, priority, kind):
    c = ctx()
    enc = {
        "resourceType": "Encounter",
        "id": "e",
        "status": "finished",
        "class": {"code": cls},
        "subject": {"reference": "Patient/p"},
        "period": {"start": "2024-01-01T10:00:00Z"},
    }
    if priority:
        enc["priority"] = {"coding": [{"code": priority}]}
    extract(enc, 0, c)
    assert c.batch.rows["encounters"][0][2] == kind


def test_unsupported_types_are_counted():
    c = ctx()
    extract({"resourceType": "Claim", "id": "c"}, 0, c)
    assert c.batch.skipped_types == {"Claim": 1}
    assert c.batch.rows["conditions"] == []


def test_meta_gives_updated_at_and_version():
    c = ctx()
    extract(
        {
            "resourceType": "Practitioner",
            "id": "pr",
            "name": [{"text": "Dr A"}],
            "meta": {"versionId": "7", "lastUpdated": "2025-01-01T00:00:00+01:00"},
        },
        0,
        c,
    )
    assert c.batch.rows["practitioners"][0] == [
        "pr", "Dr A", datetime(2024, 12, 31, 23, tzinfo=UTC), 7,
    ]  # fmt: skip


def test_encounter_mode_and_did_not_attend():
    from wraparound.sources.fhir import mapping as m

    c = ctx()
    extract({
        "resourceType": "Encounter", "id": "e", "status": "cancelled",
        "extension": [{"url": m.DID_NOT_ATTEND_EXT, "valueBoolean": True}],
        "class": {"code": "AMB"}, "subject": {"reference": "Patient/p"},
        "type": [{"coding": [{"system": m.APPOINTMENT_MODE_SYSTEM, "code": "telephone"}]}],
        "period": {"start": "2024-01-01T10:00:00Z"},
    }, 0, c)  # fmt: skip
    row = c.batch.rows["encounters"][0]
    assert (row[6], row[7]) == ("dna", "telephone")


def _appointment(**fields) -> dict:
    return {
        "resourceType": "Appointment", "id": "a", "status": "fulfilled",
        "start": "2024-01-01T10:00:00Z", "participant": [{"actor": {"reference": "Patient/p"}}],
        **fields,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("priority", "urgent"),
    [(None, None), (0, None), (1, True), (4, True), (5, False), (9, False)],
)
def test_appointment_priority_is_the_urgent_request(priority, urgent):
    """iCalendar scale (R4 Appointment.priority): 0 undefined, 1-4 high, 5-9 medium/low."""
    c = ctx()
    extract(_appointment(**({} if priority is None else {"priority": priority})), 0, c)
    row = c.batch.rows["encounters"][0]
    assert row[INDEX["encounters"]["urgent_request"]] is urgent


@pytest.mark.parametrize("priority", [10, -1, 1.5, "1", True])
def test_appointment_priority_outside_the_scale_is_rejected(priority):
    with pytest.raises(Reject, match=r"Appointment\.priority") as err:
        extract(_appointment(priority=priority), 0, ctx())
    assert err.value.code == "invalid_value"


def test_encounter_never_carries_an_urgent_request():
    c = ctx()
    extract({
        "resourceType": "Encounter", "id": "e", "status": "finished", "class": {"code": "AMB"},
        "subject": {"reference": "Patient/p"}, "period": {"start": "2024-01-01T10:00:00Z"},
        "priority": {"coding": [{"code": "UR"}]},
    }, 0, c)  # fmt: skip
    assert c.batch.rows["encounters"][0][INDEX["encounters"]["urgent_request"]] is None


# --- issue 10: real-world FHIR R4 ---------------------------------------------------------

UKCORE = Path(__file__).parents[1] / "fixtures" / "ukcore"
AM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdmissionMethodEngland"


def _role(**fields) -> dict:
    return {
        "resourceType": "PractitionerRole",
        "id": "r",
        "code": [{"coding": [{"code": "gp"}]}],
        **fields,
    }


def test_reference_by_identifier_becomes_a_conditional_reference():
    c = ctx()
    extract(_role(
        practitioner={"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "99"}},
        organization={"type": "Organization",
                      "identifier": {"system": m.ODS_CODE, "value": "P81001"}},
    ), 0, c)  # fmt: skip
    row = c.batch.rows["practitioner_roles"][0]
    assert row[1] == "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|99"
    assert row[2] == f"Organization?identifier={m.ODS_CODE}|P81001"
    assert c.batch.identifier_refs == {row[1], row[2]}


def test_reference_type_names_the_target_and_a_reference_wins_over_an_identifier():
    c = ctx()
    extract(_role(
        practitioner={"reference": "Practitioner/p1",
                      "identifier": {"system": "s", "value": "v"}},
        organization={"type": "http://hl7.org/fhir/StructureDefinition/Location",
                      "identifier": {"system": "s", "value": "v"}},
    ), 0, c)  # fmt: skip
    row = c.batch.rows["practitioner_roles"][0]
    assert row[1] == "Practitioner/p1"
    assert row[2] == "Location?identifier=s|v"  # the resolver refuses it: wrong type


def test_an_identifier_without_system_is_refused_where_required_and_counted_where_optional():
    c = ctx()
    with pytest.raises(Reject) as exc:
        extract(_role(practitioner={"identifier": {"value": "99"}}), 0, c)
    assert exc.value.code == "missing_field" and "system and a value" in exc.value.reason
    extract(_role(practitioner={"reference": "Practitioner/p"},
                  organization={"identifier": {"value": "X"}}), 0, c)  # fmt: skip
    assert c.batch.rows["practitioner_roles"][0][2] is None
    assert c.batch.data_quality == {"dangling_identifier_reference": 1}


def test_contained_resource_with_an_identifier_is_referenced_by_it():
    c = ctx()
    extract({
        "resourceType": "Encounter", "id": "e", "status": "finished",
        "class": {"code": "IMP"}, "subject": {"reference": "Patient/p"},
        "period": {"start": "2024-01-01T10:00:00Z"},
        "contained": [
            {"resourceType": "Organization", "id": "o",
             "identifier": [{"system": "x", "value": "1"}, {"system": m.ODS_CODE, "value": "RR8"}]},
        ],
        "serviceProvider": {"reference": "#o"},
    }, 0, c)  # fmt: skip
    assert c.batch.rows["encounters"][0][8] == f"Organization?identifier={m.ODS_CODE}|RR8"


def test_contained_resource_without_an_identifier():
    enc = {
        "resourceType": "Encounter", "id": "e", "status": "finished",
        "class": {"code": "IMP"}, "subject": {"reference": "#pat"},
        "period": {"start": "2024-01-01T10:00:00Z"},
        "contained": [{"resourceType": "Patient", "id": "pat"},
                      {"resourceType": "Organization", "id": "o"}],
    }  # fmt: skip
    with pytest.raises(Reject) as exc:
        extract(enc, 0, ctx())
    assert exc.value.code == "invalid_reference" and "#pat" in exc.value.reason
    c = ctx()
    extract({**enc, "subject": {"reference": "Patient/p"}, "serviceProvider": {"reference": "#o"}},
            0, c)  # fmt: skip
    assert c.batch.rows["encounters"][0][8] is None
    assert c.batch.data_quality == {"contained_reference_without_identifier": 1}


def _ukcore(name: str) -> dict:
    return orjson.loads((UKCORE / name).read_bytes())


def _kind(enc: dict) -> str:
    c = ctx()
    extract({"subject": {"reference": "Patient/p"},
             "period": {"start": "2024-01-01T10:00:00Z"}, **enc}, 0, c)  # fmt: skip
    return c.batch.rows["encounters"][0][2]


def _hospitalization(system: str, code: str, where: str = "extension") -> dict:
    concept = {"coding": [{"system": system, "code": code}]}
    if where == "extension":
        return {"extension": [{"url": m.ADMISSION_METHOD_EXT, "valueCodeableConcept": concept}]}
    return {"admitSource": concept}


def test_ukcore_admission_method_example_is_elective():
    assert _kind(_ukcore("extensions/Extension-UKCore-AdmissionMethod-Example.json")) == (
        "elective_admission"
    )


@pytest.mark.parametrize(
    ("hospitalization", "priority", "kind"),
    [
        (_hospitalization(AM, "21"), "EL", "emergency_admission"),  # the method wins
        (_hospitalization(AM, "2D"), None, "emergency_admission"),
        (_hospitalization(AM, "13"), "EM", "elective_admission"),
        (_hospitalization(AM, "31"), "EM", "elective_admission"),  # maternity: not emergency
        (_hospitalization(AM, "82"), None, "elective_admission"),  # other: not emergency
        (_hospitalization(AM, "99"), "EM", "emergency_admission"),  # not known: priority
        (_hospitalization(AM, "99"), None, "elective_admission"),
        (_hospitalization(AM, "24", "admitSource"), None, "emergency_admission"),
        (_hospitalization("http://terminology.hl7.org/CodeSystem/admit-source", "emd",
                          "admitSource"), None, "emergency_admission"),
        (_hospitalization("http://terminology.hl7.org/CodeSystem/admit-source", "gp",
                          "admitSource"), "EM", "emergency_admission"),
        ({}, None, "elective_admission"),  # silent source: today's rule
    ],
)  # fmt: skip
def test_admission_method_tells_emergency_from_elective(hospitalization, priority, kind):
    enc = _ukcore("examples/UKCore-Encounter-InpatientEncounter-Example.json")
    enc["hospitalization"] = hospitalization
    if priority:
        enc["priority"] = {"coding": [{"system": m.ACT_PRIORITY, "code": priority}]}
    assert _kind(enc) == kind


def test_admission_method_file_is_checked(tmp_path):
    (tmp_path / "admission_methods.csv").write_text(
        "system,code,group,kind,meaning\ns,11,elective,emergency,Elective\n"
    )
    with pytest.raises(ClinicalContentError) as exc:
        admission_methods(tmp_path)
    assert "admission_methods.csv:2" in str(exc.value) and "kind" in str(exc.value)
    (tmp_path / "admission_methods.csv").write_text(
        "system,code,group,kind,meaning\ns,11,elective,elective_admission,A\n"
        "s,11,elective,elective_admission,B\n"
    )
    with pytest.raises(ClinicalContentError, match="duplicate"):
        admission_methods(tmp_path)


def test_ethnic_category_and_nhs_number_verification_status():
    c = ctx()
    patient = _ukcore("examples/UKCore-Patient-RichardSmith-Example.json")
    extract(patient, 0, c)
    assert c.batch.rows["patients"][0][INDEX["patients"]["ethnicity"]] == "G"
    assert c.batch.data_quality == {}  # "01": present and verified
    fragment = _ukcore("extensions/Extension-UKCore-NHSNumberVerificationStatus-Example.json")
    assert nhs_number_verification(fragment["identifier"][0]) == "01"
    coding = patient["identifier"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]
    coding["code"] = "02"  # present but not traced
    extract(patient, 0, c)
    assert c.batch.data_quality == {"nhs_number_not_verified": 1}
    patient["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "99"  # not known
    extract(patient, 0, c)
    assert c.batch.rows["patients"][-1][INDEX["patients"]["ethnicity"]] is None


def _read(path: Path, **kw) -> Batch:
    c = Context(Batch(Clock(NOW)), Pseudonymiser(b"test-key"), **kw)
    read_fhir_file(path, c)
    return c.batch


CONDITION = {
    "resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p"},
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
}  # fmt: skip


def test_gzipped_ndjson_and_json_are_read(tmp_path):
    line = orjson.dumps(CONDITION) + b"\n"
    (tmp_path / "Condition.ndjson.gz").write_bytes(gzip.compress(line * 3))
    batch = _read(tmp_path / "Condition.ndjson.gz")
    assert len(batch.rows["conditions"]) == 3 and batch.files[0].resources == 3
    (tmp_path / "one.json.gz").write_bytes(gzip.compress(orjson.dumps(CONDITION)))
    assert len(_read(tmp_path / "one.json.gz").rows["conditions"]) == 1


def test_corrupt_gzip_is_an_error_not_a_traceback(tmp_path):
    data = gzip.compress((orjson.dumps(CONDITION) + b"\n") * 2000)
    (tmp_path / "cut.ndjson.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.ndjson.gz").write_bytes(b"not gzip at all")
    for name in ("cut.ndjson.gz", "junk.ndjson.gz"):
        batch = _read(tmp_path / name)
        assert [e["code"] for e in batch.errors] == ["unreadable_file"], name


def test_bulk_export_files_are_recognised(tmp_path):
    (tmp_path / "log.ndjson").write_bytes(
        b'{"exportId": "e1", "timestamp": "2024-08-06T14:11:57Z", "eventId": "kickoff"}\n'
    )
    (tmp_path / "manifest.json").write_bytes(orjson.dumps({
        "transactionTime": "2024-08-06T18:12:57Z", "request": "https://x/$export",
        "requiresAccessToken": False, "output": [{"type": "Patient", "url": "https://x/1"}],
        "error": [],
    }))  # fmt: skip
    issue = {"severity": "error", "code": "processing", "diagnostics": "Patient/9 not exported"}
    outcome = {"resourceType": "OperationOutcome", "issue": [issue]}
    (tmp_path / "OperationOutcome.ndjson").write_bytes(orjson.dumps(outcome) + b"\n")
    c = ctx()
    for name in ("log.ndjson", "manifest.json", "OperationOutcome.ndjson"):
        read_fhir_file(tmp_path / name, c)
    assert [(Path(f["file"]).name, f["reason"]) for f in c.batch.skipped_files] == [
        ("log.ndjson", EXPORT_LOG),
        ("manifest.json", EXPORT_MANIFEST),
        ("OperationOutcome.ndjson", EXPORT_ERRORS),
    ]
    assert c.batch.errors == [] and c.batch.files == []


def test_an_ndjson_line_without_resource_type_is_still_an_error(tmp_path):
    (tmp_path / "x.ndjson").write_bytes(b'{"id": "a"}\n')
    assert [e["code"] for e in _read(tmp_path / "x.ndjson").errors] == ["missing_field"]
    (tmp_path / "log.ndjson").write_bytes(b'{"level": "info", "message": "export started"}\n')
    batch = _read(tmp_path / "log.ndjson")  # an exporter's log by name
    assert batch.errors == [] and batch.skipped_files[0]["reason"] == EXPORT_LOG


def _bundle(*entries) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_delete_entries_are_recorded(tmp_path):
    (tmp_path / "b.json").write_bytes(orjson.dumps(_bundle(
        {"request": {"method": "DELETE", "url": "Condition/c1"}},
        {"request": {"method": "DELETE", "url": "https://x.nhs.uk/fhir/Patient/p9"}},
        {"request": {"method": "DELETE", "url": "Claim/x"}},
        {"request": {"method": "GET", "url": "Patient/p9"}},
        {"resource": CONDITION, "request": {"method": "PUT", "url": "Condition/c1"}},
    )))  # fmt: skip
    batch = _read(tmp_path / "b.json")
    assert [(t, i) for t, i, _ in batch.deletions] == [
        ("conditions", "c1"),
        *[(t, "p9") for t in m.DELETE_TABLES["Patient"]],
    ]
    assert batch.position(batch.deletions[0][2]) == (str(tmp_path / "b.json"), "entry[0]")
    assert batch.skipped == {"DELETE of a Claim (type not loaded)": 1,
                             "Bundle entry without a resource": 1}  # fmt: skip
    assert len(batch.rows["conditions"]) == 1 and batch.errors == []


@pytest.mark.parametrize("url", ["Condition?identifier=s|v", "Condition", None])
def test_a_delete_must_name_one_resource(tmp_path, url):
    (tmp_path / "b.json").write_bytes(
        orjson.dumps(_bundle({"request": {"method": "DELETE", "url": url}}))
    )
    batch = _read(tmp_path / "b.json")
    assert [(e["code"], e["position"]) for e in batch.errors] == [("invalid_reference", "entry[0]")]
    assert batch.deletions == []


def test_a_resource_of_the_wrong_shape_is_rejected_with_the_r4_reason(tmp_path):
    bad = {**CONDITION, "identifier": {"system": "s", "value": "v"}, "code": "38341003"}
    (tmp_path / "c.ndjson").write_bytes(orjson.dumps(bad) + b"\n")
    [error] = _read(tmp_path / "c.ndjson").errors
    assert error["position"] == "line 1" and error["id"] == "c1"
    assert "CodeableConcept" in error["reason"] and "(R4 structure:" in error["reason"]
    patient = {"resourceType": "Patient", "id": "p", "identifier": {"system": "s"}}
    (tmp_path / "p.ndjson").write_bytes(orjson.dumps(patient) + b"\n")
    [error] = _read(tmp_path / "p.ndjson").errors
    assert error["code"] == "invalid_resource"
    assert "identifier" in error["reason"] and "list" in error["reason"]


def test_strict_mode_validates_every_loaded_resource(tmp_path):
    odd = {**CONDITION, "onsetDate": "2020-01-01"}  # not an R4 element (onsetDateTime is)
    (tmp_path / "c.ndjson").write_bytes(orjson.dumps(odd) + b"\n")
    assert _read(tmp_path / "c.ndjson").errors == []
    [error] = _read(tmp_path / "c.ndjson", strict=True).errors
    assert error["code"] == "invalid_resource" and "onsetDate" in error["reason"]
    assert structural_problems(CONDITION) is None
