"""Letters back to the GP at ingest (issue 14): a FHIR DocumentReference (subject, author
organisation, context encounter and period, date) and the same letter in letters.csv load
to the same pseudonymised ``letters`` row; a re-run changes nothing; a bad letter rejects
the whole batch with the reason and leaves the warehouse as it was."""

from __future__ import annotations

import pytest
from ingest_data import NHS, NOW, contents, locality, tree, write_csv, write_ndjson

from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.store import Warehouse

LETTER_TYPE = "371531000"  # SNOMED CT: report of clinical encounter


def letter(rid, pat, encounter, start, date, org="org-t1", status="current"):
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "status": status,
        "type": {"coding": [{"system": "http://snomed.info/sct", "code": LETTER_TYPE}]},
        "subject": {"reference": f"Patient/{pat}"},
        "date": date,
        "author": [{"reference": f"Organization/{org}"}],
        "content": [{"attachment": {"contentType": "application/pdf", "url": "letter.pdf"}}],
        "context": {
            "encounter": [{"reference": f"Encounter/{encounter}"}],
            "period": {"start": start},
        },
    }


LETTERS = [
    letter("let-1", "pat-3", "enc-1", "2025-02-20T22:00:00Z", "2025-02-21T09:30:00Z"),
    letter("let-2", "pat-2", "enc-3", "2024-07-01T10:00:00+01:00", "2024-07-08T16:00:00+01:00"),
]


def ingest(paths, wh):
    return run_ingest([str(p) for p in paths], wh, progress=False, now=NOW)


def test_fhir_and_csv_letters_load_alike_and_a_rerun_changes_nothing(tmp_path):
    fhir_wh, csv_wh = tmp_path / "fhir_wh", tmp_path / "csv_wh"
    ingest([write_ndjson(tmp_path / "fhir", locality() + LETTERS)], fhir_wh)
    rows = contents(fhir_wh)["letters"]
    pseudo = Pseudonymiser()
    assert [(r["id"], r["patient_id"], r["org_id"], r["encounter_id"]) for r in rows] == [
        ("let-1", pseudo.nhs_number(NHS[2]), "RX101", "enc-1"),
        ("let-2", pseudo.nhs_number(NHS[1]), "RX101", "enc-3"),
    ]
    assert rows[0]["type_code"] == LETTER_TYPE
    assert rows[1]["date"].isoformat() == "2024-07-08T15:00:00+00:00"
    assert NHS[2] not in str(rows)  # pseudonymised
    # the same letters as letters.csv, beside the rest of the locality in FHIR
    folder = tmp_path / "csv"
    write_csv(folder / "letters.csv", [
        "id", "nhs_number", "org_id", "encounter_id", "contact_start", "date", "type_code",
    ], [
        ["let-1", NHS[2], "RX101", "enc-1", "2025-02-20T22:00:00Z", "2025-02-21T09:30:00Z",
         LETTER_TYPE],
        ["let-2", NHS[1], "RX101", "enc-3", "2024-07-01T10:00:00+01:00",
         "2024-07-08T16:00:00+01:00", LETTER_TYPE],
    ])  # fmt: skip
    ingest([write_ndjson(tmp_path / "fhir_rest", locality()), folder / "letters.csv"], csv_wh)
    drop = ("batch", "updated_at", "version_id")
    assert contents(csv_wh, drop)["letters"] == contents(fhir_wh, drop)["letters"]
    # idempotent: the same input again leaves the same rows
    before = contents(fhir_wh)["letters"]
    ingest([write_ndjson(tmp_path / "fhir", locality() + LETTERS)], fhir_wh)
    assert [{k: v for k, v in r.items() if k != "batch"} for r in contents(fhir_wh)["letters"]] == [
        {k: v for k, v in r.items() if k != "batch"} for r in before
    ]


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"status": "preliminary"}, "DocumentReference.status 'preliminary' is not mapped"),
        ({"date": None}, "DocumentReference.date is missing"),
        ({"context": {}}, "context needs an encounter or a period.start"),
        ({"date": "2024-06-01T00:00:00Z"}, "before contact_start"),
        ({"subject": {"reference": "Patient/nobody"}}, "Patient/nobody"),
    ],
)
def test_a_bad_letter_rejects_the_batch_and_changes_nothing(tmp_path, bad, reason):
    wh = tmp_path / "wh"
    ingest([write_ndjson(tmp_path / "first", locality())], wh)
    before = tree(wh / "snapshots")
    broken = letter("let-9", "pat-2", "enc-3", "2024-07-01T10:00:00+01:00", "2024-07-02T09:00Z")
    broken.update(bad)
    if broken.get("date") is None:
        broken.pop("date")
    result = ingest([write_ndjson(tmp_path / "second", [*locality(), broken])], wh)
    assert not result.ok
    errors = result.report["errors"]
    assert any(reason in e["reason"] for e in errors), errors
    assert tree(wh / "snapshots") == before
    assert Warehouse(wh).read("letters").num_rows == 0


def test_a_bad_letters_csv_is_refused_with_the_reason(tmp_path):
    wh = tmp_path / "wh"
    ingest([write_ndjson(tmp_path / "first", locality())], wh)
    before = tree(wh / "snapshots")
    folder = tmp_path / "csv"
    write_csv(folder / "letters.csv", ["id", "nhs_number", "org_id", "encounter_id",
                                       "contact_start", "date", "type_code"], [
        ["let-a", NHS[1], "RX101", "", "", "2024-07-08T16:00:00Z", ""],
        ["let-b", NHS[1], "RX101", "enc-3", "", "next week", ""],
    ])  # fmt: skip
    result = ingest([folder / "letters.csv"], wh)
    assert not result.ok
    reasons = sorted(e["reason"] for e in result.report["errors"])
    assert any("letters need an encounter_id or a contact_start" in r for r in reasons), reasons
    assert any("date" in r and "next week" in r for r in reasons), reasons
    assert tree(wh / "snapshots") == before
