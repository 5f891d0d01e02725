"""Bad input: each kind is reported with its stable code and position, and changes nothing.

Every case loads on top of a warehouse that already holds a good batch, so each also shows
that a failed batch after a successful one leaves the first intact, byte for byte.
"""

from __future__ import annotations

import shutil

import pytest
from ingest_data import (
    BAD_NHS,
    NHS,
    NOW,
    appointment,
    condition,
    contents,
    encounter,
    locality,
    patient,
    tree,
    write_bundle,
    write_csv,
    write_lines,
    write_ndjson,
)

from wraparound.sources.ingest import run_ingest

PAT = patient("pat-9", "9434765870", "1990-01-01")  # NHS[1], as in the good batch


@pytest.fixture(scope="module")
def first_load(tmp_path_factory):
    """A good first batch, loaded once for the module (each test gets its own copy)."""
    root = tmp_path_factory.mktemp("first-load")
    wh = root / "wh"
    first = run_ingest([write_ndjson(root / "good", locality())], wh, progress=False, now=NOW)
    assert first.ok
    return wh


@pytest.fixture
def loaded(first_load, tmp_path):
    wh = tmp_path / "wh"
    shutil.copytree(first_load, wh)
    return wh


def _bad(name, make, code, position, resource_type=None, rid=None, reason=None):
    return pytest.param(make, code, position, resource_type, rid, reason, id=name)


def _write(path, text):
    path.write_text(text)
    return path


def _ndjson(*lines):
    return lambda d: write_lines(d / "bad.ndjson", list(lines))


START, END, CREATED = "2024-03-01T09:00:00Z", "2024-03-01T09:10:00Z", "2024-02-27T15:30:00Z"


def _csv_encounter(kind, org, urgent):
    """encounters.csv with one row of ``kind`` at ``org`` whose urgent_request is ``urgent``."""
    header = ["id", "patient_ref", "kind", "start", "end", "booked_at", "status", "mode"]
    header += ["org_id", "practitioner_role_id", "specialty", "urgent_request"]
    row = ["e1", "pat-1", kind, START, "", "", "attended", "", org, "", "", urgent]
    return lambda d: write_csv(d / "encounters.csv", header, [row])


def _cond(**fields):
    c = condition("c-bad", "pat-1", "38341003", "2020-01-01")
    for key, value in fields.items():
        if value is None:
            c.pop(key, None)
        else:
            c[key] = value
    return c


CASES = [
    _bad(
        "malformed_json_ndjson",
        _ndjson(PAT, b'{"resourceType": "Patient", "id": }'),
        "malformed_json",
        "line 2, column 35",
    ),
    _bad(
        "malformed_json_bundle",
        lambda d: _write(d / "b.json", '{\n  "resourceType": "Bundle",\n  "entry": [,]\n}'),
        "malformed_json",
        "line 3, column 13",
    ),
    _bad(
        "invalid_nhs_number",
        _ndjson(PAT, patient("pat-8", BAD_NHS, "1990-01-01")),
        "invalid_nhs_number",
        "line 2",
        "Patient",
        "pat-8",
    ),
    _bad(
        "unparseable_date",
        _ndjson(_cond(onsetDateTime="2021-02-30")),
        "impossible_date",
        "line 1",
        "Condition",
        "c-bad",
        "onsetDateTime",
    ),
    _bad(
        "future_birth",
        _ndjson(patient("pat-8", NHS[0], "2031-01-01")),
        "impossible_date",
        "line 1",
        "Patient",
        "pat-8",
        "future",
    ),
    _bad(
        "death_before_birth",
        _ndjson(patient("pat-8", NHS[0], "1990-01-01", death="1989-12-31")),
        "impossible_date",
        "line 1",
        "Patient",
        "pat-8",
        "before birth_date",
    ),
    _bad(
        "abatement_before_onset",
        _ndjson(_cond(abatementDateTime="2019-01-01")),
        "impossible_date",
        "line 1",
        "Condition",
        "c-bad",
        "abatement_date",
    ),
    _bad(
        "event_before_birth",
        _ndjson(_cond(onsetDateTime="1949-01-01")),  # pat-1 was born in 1950
        "impossible_date",
        "line 1",
        "Condition",
        "c-bad",
        "birth date",
    ),
    _bad(
        "encounter_end_before_start",
        _ndjson(
            encounter("e-bad", "pat-1", "EMER", "2024-01-02T10:00:00Z", "2024-01-02T09:00:00Z")
        ),
        "impossible_date",
        "line 1",
        "Encounter",
        "e-bad",
        "before start",
    ),
    _bad(
        "dangling_reference",
        _ndjson(_cond(subject={"reference": "Patient/nobody"})),
        "dangling_reference",
        "line 1",
        "Condition",
        "c-bad",
        "Patient/nobody",
    ),
    _bad(
        "dangling_urn_reference",
        _ndjson(_cond(subject={"reference": "urn:uuid:1d6b6c1e-0000-4000-8000-00000000abcd"})),
        "dangling_reference",
        "line 1",
        "Condition",
        "c-bad",
        "fullUrl",
    ),
    _bad(
        "wrong_reference_type",
        _ndjson(_cond(subject={"reference": "Organization/org-p1"})),
        "invalid_reference",
        "line 1",
        "Condition",
        "c-bad",
    ),
    _bad(
        "unknown_code_system",
        _ndjson(_cond(code={"coding": [{"system": "http://example.org/codes", "code": "x"}]})),
        "unknown_code_system",
        "line 1",
        "Condition",
        "c-bad",
        "http://example.org/codes",
    ),
    _bad(
        "missing_subject",
        _ndjson(_cond(subject=None)),
        "missing_field",
        "line 1",
        "Condition",
        "c-bad",
        "Condition.subject",
    ),
    _bad(
        "missing_encounter_start",
        _ndjson({**encounter("e-bad", "pat-1", "EMER", "2024-01-02T10:00:00Z"), "period": {}}),
        "missing_field",
        "line 1",
        "Encounter",
        "e-bad",
        "period.start",
    ),
    _bad(
        "missing_id",
        _ndjson({**_cond(), "id": None}),
        "missing_field",
        "line 1",
        "Condition",
        None,
        "id",
    ),
    _bad(
        "bad_entry_in_bundle",
        lambda d: write_bundle(d / "b.json", [PAT, PAT, _cond(subject=None)], "transaction"),
        "missing_field",
        "entry[2]",
        "Condition",
        "c-bad",
    ),
    _bad(
        "invalid_enum",
        _ndjson(
            {**encounter("e-bad", "pat-1", "EMER", "2024-01-02T10:00:00Z"), "status": "teleported"}
        ),
        "invalid_value",
        "line 1",
        "Encounter",
        "e-bad",
        "teleported",
    ),
    _bad(
        "csv_invalid_nhs_number",
        lambda d: write_csv(
            d / "patients.csv",
            [
                "id",
                "nhs_number",
                "birth_date",
                "sex",
                "ethnicity",
                "lsoa",
                "death_date",
                "opted_out",
            ],
            [
                ["p1", NHS[0], "1950-01-01", "female", "A", "E01000001", "", "false"],
                ["p2", BAD_NHS, "1950-01-01", "male", "A", "E01000001", "", ""],
            ],
        ),
        "invalid_nhs_number",
        "line 3",
        "patients",
        "p2",
    ),
    _bad(
        "csv_impossible_date",
        lambda d: write_csv(
            d / "conditions.csv",
            ["id", "nhs_number", "system", "code", "onset_date", "abatement_date"],
            [["c1", NHS[0], "snomed", "38341003", "2020-13-01", ""]],
        ),
        "impossible_date",
        "line 2",
        "conditions",
        "c1",
    ),
    _bad(
        "csv_unknown_code_system",
        lambda d: write_csv(
            d / "conditions.csv",
            ["id", "patient_ref", "system", "code", "onset_date", "abatement_date"],
            [["c1", "pat-1", "icd11", "BA00", "2020-01-01", ""]],
        ),
        "unknown_code_system",
        "line 2",
        "conditions",
        "c1",
        "icd11",
    ),
    _bad(
        "csv_dangling_reference",
        lambda d: write_csv(
            d / "conditions.csv",
            ["id", "patient_ref", "system", "code", "onset_date", "abatement_date"],
            [["c1", "nobody", "snomed", "38341003", "2020-01-01", ""]],
        ),
        "dangling_reference",
        "line 2",
        "conditions",
        "c1",
    ),
    _bad(
        "appointment_priority_outside_the_scale",
        _ndjson({**appointment("a-bad", "pat-1", START, END, CREATED), "priority": 12}),
        "invalid_value",
        "line 1",
        "Appointment",
        "a-bad",
        "Appointment.priority 12",
    ),
    _bad(
        "csv_urgent_request_not_a_boolean",
        _csv_encounter("gp_appointment", "P81001", "maybe"),
        "invalid_value",
        "line 2",
        "encounters",
        "e1",
        "urgent_request is not true or false: 'maybe'",
    ),
    _bad(
        "csv_urgent_request_on_a_hospital_encounter",
        _csv_encounter("ae_attendance", "RX101", "true"),
        "invalid_value",
        "line 2",
        "encounters",
        "e1",
        "recorded only for gp_appointment",
    ),
    _bad(
        "csv_unexpected_column",
        lambda d: write_csv(
            d / "areas.csv", ["lsoa", "imd_decile", "name"], [["E01000001", "3", "x"]]
        ),
        "unexpected_column",
        "line 1",
    ),
    _bad(
        "csv_missing_column",
        lambda d: write_csv(d / "areas.csv", ["lsoa"], [["E01000001"]]),
        "missing_field",
        "line 1",
        reason="imd_decile",
    ),
    _bad(
        "csv_ragged_row",
        lambda d: _write(d / "areas.csv", "lsoa,imd_decile\nE01000001,3,9\n"),
        "malformed_csv",
        "line 2",
        "areas",
        "E01000001",
    ),
    _bad(
        "csv_unknown_table",
        lambda d: write_csv(d / "horoscopes.csv", ["id"], [["a1"]]),
        "unknown_table",
        "file",
    ),
    _bad(
        "unsupported_file", lambda d: _write(d / "notes.txt", "hello"), "unsupported_file", "file"
    ),
]


@pytest.mark.parametrize(("make", "code", "position", "resource_type", "rid", "reason"), CASES)
def test_bad_input_is_reported_and_changes_nothing(
    tmp_path, loaded, make, code, position, resource_type, rid, reason
):
    before_tree, before_rows = tree(loaded), contents(loaded)
    folder = tmp_path / "bad"
    folder.mkdir()
    path = make(folder)
    result = run_ingest([path], loaded, progress=False, now=NOW)
    assert not result.ok
    errors = result.report["errors"]
    assert len(errors) == 1, errors
    error = errors[0]
    assert (error["code"], error["position"], error["file"]) == (code, position, str(path))
    if resource_type:
        assert (error["resource_type"], error["id"]) == (resource_type, rid)
    if reason:
        assert reason in error["reason"]
    assert result.report["error_counts"] == {code: 1}
    assert result.report["batch"] is None
    assert tree(loaded) == before_tree
    assert contents(loaded) == before_rows


def test_one_bad_resource_rejects_the_whole_batch(tmp_path, loaded):
    before = tree(loaded)
    good = write_ndjson(tmp_path / "more", [patient("pat-new", "4010232137", "1999-09-09")])
    bad = write_lines(tmp_path / "bad.ndjson", [_cond(subject={"reference": "Patient/nobody"})])
    result = run_ingest([good, bad], loaded, progress=False, now=NOW)
    assert not result.ok and result.report["rejected"] == 1
    assert result.summary_line.startswith("Rejected: 1 errors in 1 resources/rows")
    assert tree(loaded) == before


def test_first_load_that_fails_creates_nothing(tmp_path):
    bad = write_lines(tmp_path / "bad.ndjson", [patient("p", BAD_NHS, "1990-01-01")])
    result = run_ingest([bad], tmp_path / "wh", progress=False, now=NOW)
    assert not result.ok
    assert not (tmp_path / "wh").exists()


def test_every_error_is_reported_not_just_the_first(tmp_path, loaded):
    lines = [
        patient("p1", BAD_NHS, "1990-01-01"),
        b"not json",
        _cond(onsetDateTime="yesterday"),
        _cond(subject={"reference": "Patient/nobody"}),
    ]
    result = run_ingest(
        [write_lines(tmp_path / "x.ndjson", lines)], loaded, progress=False, now=NOW
    )
    assert [(e["position"], e["code"]) for e in result.report["errors"]] == [
        ("line 1", "invalid_nhs_number"),
        ("line 2, column 1", "malformed_json"),
        ("line 3", "impossible_date"),
        ("line 4", "dangling_reference"),
    ]
