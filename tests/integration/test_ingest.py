"""Loading good input: bundles of every type, NDJSON, Synthea output, repeated and newer
loads, references across batches, and the CLI's exit status and report."""

from __future__ import annotations

import json

import pytest
from ingest_data import (
    NHS,
    NOW,
    condition,
    contents,
    locality,
    organisation,
    patient,
    tree,
    write_bundle,
    write_lines,
    write_ndjson,
)
from typer.testing import CliRunner

from wraparound.cli import app
from wraparound.sources.fhir.extract import LOCAL_ID_SOURCE
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.store import Warehouse


def ingest(paths, wh, **kw):
    return run_ingest([str(p) for p in paths], wh, progress=False, now=NOW, **kw)


@pytest.fixture(scope="module")
def ndjson_load(tmp_path_factory):
    """The locality loaded once from NDJSON, shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("ndjson")
    src = write_ndjson(root / "in", locality())
    result = ingest([src], root / "wh")
    assert result.ok, result.report["errors"]
    return result, root / "wh"


def test_ndjson_loads_every_table(ndjson_load):
    result, wh = ndjson_load
    rows = result.report["rows"]
    assert rows == {
        "organisations": 3, "patients": 3, "registrations": 3, "practitioners": 1,
        "practitioner_roles": 1, "conditions": 2, "observations": 1, "medications": 2,
        "procedures": 1, "encounters": 4, "identity": 3,
    }  # fmt: skip
    assert Warehouse(wh).manifest.batch == 1
    assert result.report["tables"]["patients"] == {"inserted": 3, "replaced": 0, "unchanged": 0}


def test_patients_are_keyed_by_pseudonym_and_nhs_numbers_only_in_identity(ndjson_load):
    _, wh = ndjson_load
    pseudo = Pseudonymiser()
    data = contents(wh)
    assert {p["id"]: p["patient_id"] for p in data["patients"]} == {
        f"pat-{i + 1}": pseudo.nhs_number(n) for i, n in enumerate(NHS)
    }
    assert {c["patient_id"] for c in data["conditions"]} == {
        pseudo.nhs_number(NHS[0]),
        pseudo.nhs_number(NHS[2]),
    }
    # NHS numbers are in the direct-care identity table (which analytics cannot read) and in
    # no other file of the warehouse.
    assert sorted(r["nhs_number"] for r in data["identity"]) == sorted(NHS)
    holding = {
        path.name for path in wh.rglob("*") if path.is_file() and any(
            n.encode() in path.read_bytes() for n in NHS
        )
    }  # fmt: skip
    assert holding == {"identity.parquet"}


def test_mapped_values(ndjson_load):
    _, wh = ndjson_load
    data = contents(wh)
    patients = {p["id"]: p for p in data["patients"]}
    assert patients["pat-2"]["opted_out"] is True
    assert patients["pat-1"]["opted_out"] is False
    assert patients["pat-2"]["ethnicity"] == "M"
    assert patients["pat-3"]["death_date"].isoformat() == "2025-03-01"
    assert patients["pat-1"]["dq_flags"] is None
    orgs = {o["id"]: o for o in data["organisations"]}
    assert orgs["org-p1"]["org_id"] == "P81001" and orgs["org-p1"]["parent_id"] == "QX1"
    assert {r["id"]: r["practice_id"] for r in data["registrations"]}["reg-1"] == "P81001"
    enc = {e["id"]: e for e in data["encounters"]}
    assert enc["appt-1"]["kind"] == "gp_appointment"
    assert enc["appt-1"]["status"] == "attended"
    assert enc["appt-1"]["practitioner_role_id"] == "role-1"
    assert enc["appt-1"]["org_id"] == "P81001"
    assert enc["appt-1"]["booked_at"].isoformat() == "2024-02-27T15:30:00+00:00"
    assert enc["appt-1"]["urgent_request"] is True  # Appointment.priority 1
    assert enc["enc-1"]["urgent_request"] is None
    assert enc["enc-1"]["kind"] == "ae_attendance"
    assert enc["enc-2"]["kind"] == "emergency_admission"
    assert enc["enc-3"]["kind"] == "outpatient"  # AMB at a trust
    assert enc["enc-3"]["start"].isoformat() == "2024-07-01T09:00:00+00:00"  # to UTC
    assert enc["enc-3"]["specialty"] == "110"
    meds = {m["id"]: m for m in data["medications"]}
    assert meds["med-1"]["kind"] == "request" and meds["med-1"]["system"] == "dmd"
    assert meds["med-2"]["kind"] == "statement"


@pytest.mark.parametrize("kind", ["collection", "transaction", "batch", "searchset"])
def test_bundles_of_each_type_load_like_ndjson(tmp_path, kind, ndjson_load):
    _, ndjson_wh = ndjson_load
    bundle = write_bundle(tmp_path / "in" / f"{kind}.json", locality(), kind=kind)
    result = ingest([bundle], tmp_path / "wh")
    assert result.ok, result.report["errors"]
    assert result.report["files"] == [{"file": str(bundle), "format": "bundle", "resources": 21}]
    assert contents(tmp_path / "wh") == contents(ndjson_wh)


def test_loading_the_same_data_twice_adds_nothing(tmp_path):
    src = write_ndjson(tmp_path / "in", locality())
    assert ingest([src], tmp_path / "wh").ok
    once = contents(tmp_path / "wh")
    again = ingest([src], tmp_path / "wh")
    assert again.ok
    assert contents(tmp_path / "wh") == once  # batch numbers included: nothing was replaced
    assert all(s["inserted"] == s["replaced"] == 0 for s in again.report["tables"].values())
    assert again.report["tables"]["patients"]["unchanged"] == 3


def test_newer_version_replaces_older_whatever_the_order(tmp_path):
    old = condition("c1", "pat-1", "38341003", "2015-06-01", updated="2024-01-01T00:00:00Z")
    new = condition("c1", "pat-1", "44054006", "2015-06-01", updated="2025-01-01T00:00:00Z")
    base = [patient("pat-1", NHS[0], "1950-04-02")]
    wh = tmp_path / "wh"
    assert ingest([write_ndjson(tmp_path / "a", [*base, old])], wh).ok
    result = ingest([write_ndjson(tmp_path / "b", [new])], wh)
    assert result.report["tables"]["conditions"] == {"inserted": 0, "replaced": 1, "unchanged": 0}
    assert ingest([write_ndjson(tmp_path / "c", [old])], wh).ok  # the old one again
    assert [c["code"] for c in contents(wh)["conditions"]] == ["44054006"]
    both = ingest([write_lines(tmp_path / "d" / "x.ndjson", [*base, new, old])], tmp_path / "wh2")
    assert both.ok  # within one batch too: newest wins, not last
    assert [c["code"] for c in contents(tmp_path / "wh2")["conditions"]] == ["44054006"]


def test_version_id_orders_versions_without_timestamps(tmp_path):
    v1 = condition("c1", "pat-1", "38341003", "2015-06-01", version=1)
    v2 = condition("c1", "pat-1", "44054006", "2015-06-01", version=2)
    src = write_lines(tmp_path / "in.ndjson", [patient("pat-1", NHS[0], "1950-04-02"), v2, v1])
    assert ingest([src], tmp_path / "wh").ok
    rows = contents(tmp_path / "wh")["conditions"]
    assert [(c["code"], c["version_id"]) for c in rows] == [("44054006", 2)]


def test_references_resolve_against_earlier_batches(tmp_path):
    wh = tmp_path / "wh"
    first = [r for r in locality() if r["resourceType"] in ("Organization", "Patient")]
    assert ingest([write_ndjson(tmp_path / "a", first)], wh).ok
    later = [r for r in locality() if r["resourceType"] not in ("Organization", "Patient")]
    result = ingest([write_ndjson(tmp_path / "b", later)], wh)
    assert result.ok, result.report["errors"]
    data = contents(wh)
    pseudo = Pseudonymiser()
    assert {c["id"]: c["patient_id"] for c in data["conditions"]}["cond-1"] == pseudo.nhs_number(
        NHS[0]
    )
    assert {e["id"]: e["org_id"] for e in data["encounters"]}["appt-1"] == "P81001"
    assert {e["id"]: e["kind"] for e in data["encounters"]}["enc-3"] == "outpatient"


def test_unknown_resource_types_are_counted_and_skipped(tmp_path):
    extra = [
        {"resourceType": "Immunization", "id": "i1", "status": "completed"},
        {"resourceType": "Claim", "id": "c1"},
        {"resourceType": "Claim", "id": "c2"},
    ]
    src = write_lines(tmp_path / "in.ndjson", [*locality(), *extra])
    result = ingest([src], tmp_path / "wh")
    assert result.ok
    assert result.report["skipped_types"] == {"Claim": 2, "Immunization": 1}
    assert result.report["resources_read"] == len(locality()) + 3


def test_reference_forms_absolute_urn_and_conditional(tmp_path):
    """Relative, absolute, urn:uuid (bundle fullUrl) and NHS-number conditional references."""
    pat = patient("pat-1", NHS[0], "1950-04-02")
    conds = [
        condition("c-abs", "x", "38341003", "2015-06-01"),
        condition("c-urn", "x", "38341003", "2015-06-01"),
        condition("c-nhs", "x", "38341003", "2015-06-01"),
        condition("c-hist", "x", "38341003", "2015-06-01"),
    ]
    conds[0]["subject"] = {"reference": "https://fhir.example.nhs.uk/R4/Patient/pat-1"}
    conds[1]["subject"] = {"reference": "urn:uuid:0b7b3a1e-0000-4000-8000-000000000001"}
    conds[2]["subject"] = {
        "reference": f"Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|{NHS[0]}"
    }
    conds[3]["subject"] = {"reference": "Patient/pat-1/_history/3"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b7b3a1e-0000-4000-8000-000000000001",
                "resource": pat,
                "request": {"method": "POST", "url": "Patient"},
            },
            *(
                {
                    "fullUrl": f"urn:uuid:{c['id']}",
                    "resource": c,
                    "request": {"method": "POST", "url": "Condition"},
                }
                for c in conds
            ),
        ],
    }
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    result = ingest([path], tmp_path / "wh")
    assert result.ok, result.report["errors"]
    expected = Pseudonymiser().nhs_number(NHS[0])
    assert {c["patient_id"] for c in contents(tmp_path / "wh")["conditions"]} == {expected}


def test_first_load_of_an_empty_folder_initialises_the_warehouse(tmp_path):
    (tmp_path / "in").mkdir()
    result = ingest([tmp_path / "in"], tmp_path / "wh")
    assert result.ok
    assert Warehouse(tmp_path / "wh").manifest.batch == 1
    assert all(rows == [] for rows in contents(tmp_path / "wh").values())


def test_organisation_without_ods_code_falls_back_to_id_with_a_flag(tmp_path):
    org = organisation("org-x", "IGNORED", "trust")
    del org["identifier"]
    result = ingest([write_lines(tmp_path / "o.ndjson", [org])], tmp_path / "wh")
    assert result.ok
    assert result.report["data_quality"] == {"organisation_without_ods_code": 1}
    assert contents(tmp_path / "wh")["organisations"][0]["org_id"] == "org-x"


def test_local_id_patients_get_a_pseudonym_and_a_flag(tmp_path):
    pat = patient("local-7", None, "1970-01-01")
    result = ingest([write_lines(tmp_path / "p.ndjson", [pat])], tmp_path / "wh")
    assert result.ok
    row = contents(tmp_path / "wh")["patients"][0]
    assert row["patient_id"] == Pseudonymiser().local_id(LOCAL_ID_SOURCE, "local-7")
    assert row["dq_flags"] == "no_nhs_number"


def test_cli_exit_status_and_report(tmp_path):
    runner = CliRunner()
    good = write_ndjson(tmp_path / "good", locality())
    report = tmp_path / "report.json"
    ok = runner.invoke(
        app,
        [
            "ingest",
            str(good),
            "--warehouse",
            str(tmp_path / "wh"),
            "--report",
            str(report),
            "--quiet",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(report.read_text())["ok"] is True
    bad = write_lines(tmp_path / "bad" / "Patient.ndjson", [b'{"resourceType": "Patient",'])
    before = tree(tmp_path / "wh")
    failed = runner.invoke(
        app,
        [
            "ingest",
            str(bad),
            "--warehouse",
            str(tmp_path / "wh"),
            "--report",
            str(report),
            "--quiet",
        ],
    )
    assert failed.exit_code == 1
    written = json.loads(report.read_text())
    assert written["ok"] is False
    assert [e["code"] for e in written["errors"]] == ["malformed_json"]
    assert tree(tmp_path / "wh") == before


def test_progress_bar_can_be_on(tmp_path):
    src = write_ndjson(tmp_path / "in", locality())
    result = run_ingest([src], tmp_path / "wh", progress=True, now=NOW)
    assert result.ok
    assert result.summary_line.startswith("Loaded batch 1")
