"""The FHIR writer's social-care Encounters: the SNOMED CT social-services serviceType the
reader recognises, a class by mode, valid R4; and a social-care row with a specialty is
refused rather than losing it."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.extract import _social_care_service
from wraparound.sources.fhir.write_common import References
from wraparound.sources.fhir.write_events import encounters
from wraparound.warehouse import schema

T0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 10, 10, 45, tzinfo=UTC)


def _table(rows: list[dict]) -> pa.Table:
    names = schema.TABLES["encounters"].names
    full = [{n: r.get(n, 1 if n == "batch" else None) for n in names} for r in rows]
    return pa.Table.from_pylist(full, schema=schema.TABLES["encounters"])


def _refs() -> References:
    refs = References()
    refs.set_patients(["pseud1"], ["pat-1"])
    return refs


def _written(rows: list[dict]) -> list[dict]:
    built = encounters(_table(rows), _refs())
    return [r for b in built for r in b.resources]


def test_social_care_encounters_carry_the_social_services_service_type():
    out = _written(
        [
            {"id": "sc-1", "patient_id": "pseud1", "kind": "social_care", "start": T0,
             "end": T1, "status": "attended", "mode": "home_visit"},
            {"id": "sc-2", "patient_id": "pseud1", "kind": "social_care", "start": T0,
             "status": "dna", "mode": "telephone"},
            {"id": "cm-1", "patient_id": "pseud1", "kind": "community", "start": T0,
             "status": "attended", "mode": "home_visit"},
        ]
    )  # fmt: skip
    by_id = {r["id"]: r for r in out}
    home, call, nurse = by_id["sc-1"], by_id["sc-2"], by_id["cm-1"]
    service = {"system": m.SNOMED, "code": "310134006", "display": "Social services"}
    assert home["serviceType"] == {"coding": [service]} == call["serviceType"]
    assert home["class"]["code"] == "HH" and call["class"]["code"] == "AMB"
    assert _social_care_service(home["serviceType"]) and _social_care_service(call["serviceType"])
    assert "serviceType" not in nurse and nurse["class"]["code"] == "HH"
    assert not _social_care_service(nurse.get("serviceType"))
    module = importlib.import_module("fhirclient.models.encounter")
    for r in out:
        module.Encounter(r, strict=True)


def test_a_social_care_row_with_a_specialty_is_refused():
    with pytest.raises(ValueError, match="social_care 'sc-3' has a specialty"):
        _written(
            [
                {"id": "sc-3", "patient_id": "pseud1", "kind": "social_care", "start": T0,
                 "status": "attended", "specialty": "320"},
            ]
        )  # fmt: skip
