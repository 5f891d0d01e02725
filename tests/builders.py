"""Tiny hand-built warehouses for the spec tests: a few patients with exactly the records a
case needs, written through the warehouse's own transaction.

One builder for every test that needs a warehouse table or a whole small warehouse (the
feature, eFI, streams, registers, indicator and FHIR writer tests). ``table`` fills in what a
case does not care about and checks the result against ``schema.TABLES`` the way producers
are checked (``schema.conform``), so a case that leaves out a required column fails here, not
somewhere inside an analytic. The record helpers (``person``, ``coded_deficits``,
``medicine``, ``admission``) spell the few shapes the cases repeat.

Importable by bare name (``from builders import ...``) from any test directory: pytest puts
``tests/`` on ``sys.path`` for ``tests/conftest.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from wraparound import clinical
from wraparound.warehouse import schema
from wraparound.warehouse.store import Warehouse

INDEX = dt.date(2025, 4, 1)
"""The index date of the feature cases."""
AS_OF = INDEX - dt.timedelta(days=1)
"""The date the eFI is taken at for the feature cases' index date."""

ORGANISATIONS = [
    {"org_id": "LOC", "kind": "locality"},
    {"org_id": "N1", "kind": "neighbourhood", "parent_id": "LOC"},
    {"org_id": "P1", "kind": "practice", "parent_id": "N1"},
    {"org_id": "P2", "kind": "practice", "parent_id": "N1"},
]
"""A locality LOC with one neighbourhood N1 of two practices, P1 and P2."""
AREAS = [{"lsoa": "L1", "imd_decile": 3}]


def table(name: str, rows: list[dict]) -> pa.Table:
    """Rows for the warehouse table ``name``: columns not given are null, ``batch`` is 1 and
    a row without an ``id`` gets ``<name>-<position>`` (unique within one call, and the same
    on every run, so no tie-break by id depends on the order tests ran in)."""
    fields = schema.TABLES[name]
    filled = [{"id": f"{name}-{i}", "batch": 1, **row} for i, row in enumerate(rows)]
    columns = {f.name: [row.get(f.name) for row in filled] for f in fields}
    return schema.conform(name, pa.table(columns, schema=fields))


def write_tables(root: str | Path, tables: dict[str, list[dict]]) -> Warehouse:
    """A warehouse at ``root`` holding exactly ``tables`` (table name -> rows), committed as
    one load."""
    wh = Warehouse(root)
    with wh.transaction({"source": "test"}) as tx:
        for name, rows in tables.items():
            tx.append(name, table(name, rows))
    return wh


def write(root: str | Path, *parts: dict[str, list[dict]]) -> Warehouse:
    """A warehouse of ``ORGANISATIONS`` and ``AREAS`` and the union of ``parts`` (dicts of
    table name -> rows, as ``person`` returns)."""
    rows: dict[str, list[dict]] = {"organisations": list(ORGANISATIONS), "areas": list(AREAS)}
    for part in parts:
        for name, r in part.items():
            rows.setdefault(name, []).extend(r)
    return write_tables(root, rows)


def person(
    pid: str, age: int, sex: str = "female", practice: str = "P1", opted_out: bool = False
) -> dict[str, list[dict]]:
    """A patient aged ``age`` on ``INDEX`` (born on 31 December), registered at ``practice``
    since 2000, living in L1."""
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


def coded_deficits(
    pid: str, n: int, onset: dt.date = dt.date(2020, 1, 1), off_registers: bool = False
) -> list[dict]:
    """``n`` distinct code-based eFI deficits for a patient, as conditions. With
    ``off_registers`` only deficits whose codes are on no long-term-condition register
    (falls, dizziness, ...), so the patient's frailty grows and ``n_ltc`` stays 0."""
    on_registers = {c for r in clinical.registers() for c in r.codes} if off_registers else set()
    ids = [
        d.deficit_id
        for d in clinical.efi_deficits()
        if not d.rule and not on_registers.intersection(d.codes)
    ][:n]
    assert len(ids) == n, f"only {len(ids)} such deficits"
    return [
        {"patient_id": pid, "system": "snomed", "code": deficit_code(d), "onset_date": onset}
        for d in ids
    ]


def on_register(pid: str, register_id: str, onset: dt.date = dt.date(2020, 1, 1)) -> dict:
    """A condition coded with the register's first code."""
    register = next(r for r in clinical.registers() if r.register_id == register_id)
    return {"patient_id": pid, "system": "snomed", "code": register.codes[0], "onset_date": onset}


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
    """An attended encounter of ``kind`` (an emergency admission unless said), times in UTC."""
    return {
        "patient_id": pid,
        "kind": kind,
        "start": start.replace(tzinfo=dt.UTC),
        "end": end.replace(tzinfo=dt.UTC) if end else None,
        "status": "attended",
    }
