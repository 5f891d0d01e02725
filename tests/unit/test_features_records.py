"""Hand-built warehouses for the feature, eFI and stratification tests: a few patients with
exactly the records a test needs, written through the warehouse's own transaction."""

from __future__ import annotations

import datetime as dt
from itertools import count

import pyarrow as pa

from wraparound import clinical
from wraparound.warehouse.schema import TABLES
from wraparound.warehouse.store import Warehouse

INDEX = dt.date(2025, 4, 1)
AS_OF = INDEX - dt.timedelta(days=1)
_ids = count()


def table(name: str, rows: list[dict]) -> pa.Table:
    """Rows for a warehouse table; ids and bookkeeping filled in, other columns null."""
    schema = TABLES[name]
    filled = [{"id": f"{name}-{next(_ids)}", "batch": 1, **r} for r in rows]
    return pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in schema} for r in filled], schema=schema
    )


def person(
    pid: str, age: int, sex: str = "female", practice: str = "P1", opted_out: bool = False
) -> dict[str, list[dict]]:
    birth = dt.date(INDEX.year - age - 1, 12, 31)
    return {
        "patients": [
            {
                "patient_id": pid,
                "birth_date": birth,
                "sex": sex,
                "ethnicity": "A",
                "lsoa": "L1",
                "opted_out": opted_out,
            }
        ],
        "registrations": [
            {"patient_id": pid, "practice_id": practice, "start_date": dt.date(2000, 1, 1)}
        ],
    }


def deficit_code(deficit_id: str) -> str:
    return next(d for d in clinical.efi_deficits() if d.deficit_id == deficit_id).codes[0]


def coded_deficits(pid: str, n: int, onset: dt.date = dt.date(2020, 1, 1)) -> list[dict]:
    """``n`` distinct code-based deficits for a patient."""
    ids = [d.deficit_id for d in clinical.efi_deficits() if not d.rule][:n]
    return [
        {"patient_id": pid, "system": "snomed", "code": deficit_code(d), "onset_date": onset}
        for d in ids
    ]


def medicine(pid: str, code: str, start: dt.date) -> dict:
    return {
        "patient_id": pid,
        "system": "snomed",
        "code": code,
        "start_date": start,
        "kind": "request",
    }


def admission(
    pid: str, start: dt.datetime, end: dt.datetime | None, kind: str = "emergency_admission"
) -> dict:
    return {
        "patient_id": pid,
        "kind": kind,
        "start": start.replace(tzinfo=dt.UTC),
        "end": end.replace(tzinfo=dt.UTC) if end else None,
        "status": "attended",
    }


ORGANISATIONS = [
    {"org_id": "LOC", "kind": "locality"},
    {"org_id": "N1", "kind": "neighbourhood", "parent_id": "LOC"},
    {"org_id": "P1", "kind": "practice", "parent_id": "N1"},
    {"org_id": "P2", "kind": "practice", "parent_id": "N1"},
]


def write(root, *parts: dict[str, list[dict]]) -> Warehouse:
    """A warehouse holding the union of ``parts`` (dicts of table name -> rows)."""
    rows: dict[str, list[dict]] = {
        "organisations": list(ORGANISATIONS),
        "areas": [{"lsoa": "L1", "imd_decile": 3}],
    }
    for part in parts:
        for name, r in part.items():
            rows.setdefault(name, []).extend(r)
    wh = Warehouse(root)
    with wh.transaction({"source": "test"}) as tx:
        for name, r in rows.items():
            tx.append(name, table(name, r))
    return wh
