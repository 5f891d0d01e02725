"""Read-side building blocks: value parsing, reference parsing, codings, per-resource mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from wraparound.sources.fhir.extract import Context, coded, extract, reference_type
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
