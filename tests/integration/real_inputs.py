"""Inputs as a real source sends them, for the end-to-end tests: a FHIR export folder and a
CSV extract (docs/csv-format.md), each holding nothing but what such a source holds.

Both are made from a synthetic locality, then the generator's own output is deleted, so the
warehouse the tests build can only have come through ``wraparound ingest``. The CSV extract
is written from a synthetic warehouse table by table, patients with their NHS numbers and
names (what a GP system's extract carries), events by ``patient_ref``.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

from wraparound.sources.csv.read import CSV_TABLES, header_spec
from wraparound.sources.synthetic.writer import write_synthetic
from wraparound.warehouse.identity import read_identity
from wraparound.warehouse.store import Warehouse

# Identity columns a GP system's patients file carries beyond NHS number and demographics.
PATIENT_IDENTITY = ("given_name", "family_name", "practice_id")


def fhir_export(root: Path, patients: int, seed: int) -> Path:
    """``root/fhir``: the FHIR files (and the areas file) of a synthetic locality, copied
    away from everything else the generator wrote, which is then removed."""
    made = root / "generated-fhir"
    write_synthetic(made, patients=patients, seed=seed, fmt="fhir", progress=False)
    out = root / "fhir"
    out.mkdir()
    for path in sorted(made.rglob("*")):
        if path.is_file() and (path.suffix in (".ndjson", ".json") or path.name == "areas.csv"):
            target = out / path.relative_to(made)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    shutil.rmtree(made)
    return out


def csv_extract(root: Path, patients: int, seed: int) -> Path:
    """``root/csv``: one ``<table>.csv`` per table of a synthetic locality, in the extract
    format; the synthetic warehouse it was read from is then removed."""
    made = root / "generated-warehouse"
    write_synthetic(made, patients=patients, seed=seed, progress=False)
    wh = Warehouse(made)
    ids = read_identity(wh)
    ref = dict(zip(ids["patient_id"].to_pylist(), ids["id"].to_pylist(), strict=True))
    out = root / "csv"
    out.mkdir()
    for table in CSV_TABLES:
        rows = wh.read(table).to_pylist()
        if table == "patients":
            _write_patients(out, rows, {r["id"]: r for r in ids.to_pylist()})
            continue
        required, optional = header_spec(table)
        header = [c for c in wh.read(table).column_names if c in required | optional]
        if "patient_id" in wh.read(table).column_names:
            header.append("patient_ref")
            for row in rows:
                row["patient_ref"] = ref[row["patient_id"]]
        _write(out / f"{table}.csv", header, rows)
    shutil.rmtree(made)
    return out


def _write_patients(out: Path, rows: list[dict], identity: dict[str, dict]) -> None:
    header = [
        "id",
        "nhs_number",
        "birth_date",
        "sex",
        "ethnicity",
        "lsoa",
        "death_date",
        "opted_out",
        "updated_at",
        "version_id",
        *PATIENT_IDENTITY,
    ]
    for row in rows:
        who = identity[row["id"]]
        row.update({c: who[c] for c in ("nhs_number", *PATIENT_IDENTITY)})
    _write(out / "patients.csv", header, rows)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _write(path: Path, header: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([_cell(row.get(c)) for c in header] for row in rows)
