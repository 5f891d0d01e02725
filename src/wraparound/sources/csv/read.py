"""Reading the CSV extract (docs/csv-format.md): one ``<table>.csv`` per warehouse table.

Each CSV row becomes the same warehouse-shaped row the FHIR reader would build, with the
same kind of references (an NHS number becomes ``Patient?identifier=<nhs-number system>|n``,
an ODS code ``Organization?identifier=<ods system>|code``), so references, row rules and
error reports are shared with FHIR rather than re-implemented.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.extract import LOCAL_ID_SOURCE, NO_NHS_NUMBER, Context
from wraparound.sources.ingest_batch import CSV
from wraparound.sources.ingest_rules import COLUMNS
from wraparound.sources.ingest_values import (
    INVALID_VALUE,
    MALFORMED_CSV,
    MISSING_FIELD,
    UNEXPECTED_COLUMN,
    UNKNOWN_TABLE,
    UNREADABLE_FILE,
    Reject,
    normalise_nhs_number,
    parse_date,
    parse_instant,
)
from wraparound.warehouse.schema import ADDED, DIRECT_CARE, TABLES

Progress = Callable[[int], None]

PATIENT_COLUMNS = ("nhs_number", "patient_ref")
# Optional columns of patients.csv that feed only the direct-care identity table (the NHS
# number, birth date, sex and opt-out the patients row already has are shared with it).
IDENTITY_COLUMNS = (
    "nhs_number_verification",
    "given_name",
    "family_name",
    "postcode",
    "phone",
    "email",
    "practice_id",
)
# UK Core NHS number verification status codes (01 present and verified ... 08).
VERIFICATION_CODES = frozenset(f"{n:02d}" for n in range(1, 9))
# Tables never given as a CSV file of their own: identity comes with patients.csv.
NOT_A_FILE = frozenset(DIRECT_CARE)
CSV_TABLES = tuple(t for t in TABLES if t not in NOT_A_FILE)
BOOKKEEPING = ("updated_at", "version_id")
# Columns holding references, and how a CSV value becomes a FHIR reference string.
_ORG = "organisation"
REFERENCES = {
    "practice_id": _ORG,
    "parent_id": _ORG,
    "practitioner_id": "Practitioner",
    "practitioner_role_id": "PractitionerRole",
}
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n", ""})


def header_spec(table: str) -> tuple[frozenset[str], frozenset[str]]:
    """(required, optional) header columns of ``<table>.csv``. Columns added to the schema
    after its first release (``schema.ADDED``) are optional, so existing extracts stay valid."""
    added = ADDED.get(table, ())
    columns = [c for c in COLUMNS[table] if c not in BOOKKEEPING and c not in added]
    optional = set(BOOKKEEPING) | set(added)
    if table == "areas":
        return frozenset({"lsoa", "imd_decile"}), frozenset()
    if table == "patients":
        columns = [c for c in columns if c not in ("patient_id", "dq_flags")]
        columns.append("nhs_number")
        optional.add("local_id")
        optional.update(IDENTITY_COLUMNS)
    elif "patient_id" in columns:
        columns.remove("patient_id")
        optional.update(PATIENT_COLUMNS)  # at least one of them: checked separately
    return frozenset(columns), frozenset(optional)


def _parser(table: str, column: str) -> Callable[[str], object]:
    kind = TABLES[table].field(column).type
    if pa.types.is_date32(kind):
        return lambda v: parse_date(v, column)
    if pa.types.is_timestamp(kind):
        return lambda v: parse_instant(v, column)
    if pa.types.is_integer(kind):
        return lambda v: _integer(v, column)
    if pa.types.is_floating(kind):
        return lambda v: _number(v, column)
    if pa.types.is_boolean(kind):
        return lambda v: _boolean(v, column)
    if (column == "org_id" and table != "organisations") or REFERENCES.get(column) == _ORG:
        return lambda v: f"Organization?identifier={m.ODS_CODE}|{v}"
    if column in REFERENCES:
        rtype = REFERENCES[column]
        return lambda v: f"{rtype}/{v}"
    return str


def _integer(value: str, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Reject(INVALID_VALUE, f"{column} is not a whole number: {value!r}") from None


def _number(value: str, column: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise Reject(INVALID_VALUE, f"{column} is not a number: {value!r}") from None


def _boolean(value: str, column: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise Reject(INVALID_VALUE, f"{column} is not true or false: {value!r}")


def read_csv_file(path: Path, ctx: Context, advance: Progress | None = None) -> None:
    """Read one ``<table>.csv`` into ``ctx.batch``."""
    batch = ctx.batch
    file_no = batch.add_file(path, CSV)
    table = path.stem.lower()
    if table not in CSV_TABLES:
        problem = Reject(
            UNKNOWN_TABLE,
            f"{path.name}: CSV files are named <table>.csv, one of {sorted(CSV_TABLES)}"
            + (" (identity columns go in patients.csv)" if table in NOT_A_FILE else ""),
        )
        batch.file_error(file_no, problem, "file")
        return
    try:
        fh = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        batch.file_error(file_no, Reject(UNREADABLE_FILE, str(exc)), "file")
        return
    with fh:
        try:
            _read_rows(table, csv.reader(fh), file_no, ctx)
        except (csv.Error, UnicodeDecodeError) as exc:
            batch.file_error(file_no, Reject(MALFORMED_CSV, str(exc)), "file")
    if advance is not None:
        advance(path.stat().st_size)


def _read_rows(table: str, reader, file_no: int, ctx: Context) -> None:
    batch = ctx.batch
    header = next(reader, None)
    if not header:
        batch.file_error(file_no, Reject(MISSING_FIELD, "the header row is missing"), "line 1")
        return
    header = [h.strip() for h in header]
    required, optional = header_spec(table)
    unexpected = [h for h in header if h not in required | optional]
    missing = sorted(required - set(header))
    needs_patient = table != "patients" and "patient_id" in TABLES[table].names
    if needs_patient and not set(PATIENT_COLUMNS) & set(header):
        missing.append("nhs_number or patient_ref")
    if unexpected:
        batch.file_error(
            file_no, Reject(UNEXPECTED_COLUMN, f"unexpected columns {unexpected}"), "line 1"
        )
    if missing:
        batch.file_error(file_no, Reject(MISSING_FIELD, f"missing columns {missing}"), "line 1")
    if unexpected or missing:
        return
    identity = table == "patients"
    parsers = {
        c: _parser("identity" if identity and c in IDENTITY_COLUMNS else table, c)
        for c in header
        if c not in (*PATIENT_COLUMNS, "local_id")
    }
    build = _BUILDERS.get(table, _event_row)
    base = file_no << 32
    for record in reader:
        loc = base | reader.line_num
        if len(record) != len(header):
            problem = Reject(
                MALFORMED_CSV, f"{len(record)} fields where the header has {len(header)}"
            )
            batch.error(loc, problem, table, record[0] if record else None)
            continue
        values = dict(zip(header, record, strict=True))
        try:
            parsed = {
                c: (parsers[c](v) if v != "" else None) for c, v in values.items() if c in parsers
            }
            row = build(table, values, parsed, ctx)
            extra = _identity_row(values, parsed) if identity else None
        except Reject as problem:
            batch.error(loc, problem, table, values.get("id") or values.get("lsoa"))
            continue
        batch.add(table, row, loc)
        if extra is not None:
            batch.add("identity", extra, loc)
        batch.files[file_no].resources += 1


def _row(table: str, parsed: dict) -> list:
    return [parsed.get(c) for c in COLUMNS[table]]


def _event_row(table: str, values: dict, parsed: dict, ctx: Context) -> list:
    nhs, ref = values.get("nhs_number", ""), values.get("patient_ref", "")
    if nhs and ref:
        raise Reject(INVALID_VALUE, "give nhs_number or patient_ref, not both")
    if nhs:
        parsed["patient_id"] = f"Patient?identifier={m.NHS_NUMBER}|{normalise_nhs_number(nhs)}"
    elif ref:
        parsed["patient_id"] = f"Patient/{ref}"
    return _row(table, parsed)


def _patient_row(table: str, values: dict, parsed: dict, ctx: Context) -> list:
    batch = ctx.batch
    rid = parsed.get("id")
    if not rid:
        raise Reject(MISSING_FIELD, "patients.id is required")
    nhs = values.get("nhs_number", "")
    if nhs:
        parsed["patient_id"] = ctx.pseudo.nhs_number(normalise_nhs_number(nhs))
    else:
        local = values.get("local_id") or rid
        parsed["patient_id"] = ctx.pseudo.local_id(LOCAL_ID_SOURCE, local)
        parsed["dq_flags"] = NO_NHS_NUMBER
        batch.data_quality[NO_NHS_NUMBER] += 1
    if parsed.get("opted_out") is None:
        parsed["opted_out"] = False
    batch.patients[rid] = parsed["patient_id"]
    batch.births[parsed["patient_id"]] = parsed.get("birth_date")
    return _row(table, parsed)


def _identity_row(values: dict, parsed: dict) -> list:
    """The direct-care identity row beside a patients.csv row (``_patient_row`` has set the
    pseudonym and judged the NHS number); identity columns left out of the file are null."""
    nhs = values.get("nhs_number", "")
    parsed = {
        **parsed,
        "nhs_number": normalise_nhs_number(nhs) if nhs else None,
    }
    status = parsed.get("nhs_number_verification")
    if status is not None and status not in VERIFICATION_CODES:
        raise Reject(
            INVALID_VALUE,
            f"nhs_number_verification {status!r} is not a UK Core code (01 to 08)",
        )
    return _row("identity", parsed)


def _organisation_row(table: str, values: dict, parsed: dict, ctx: Context) -> list:
    row = _row(table, parsed)
    if parsed.get("id") and parsed.get("org_id"):
        ctx.batch.orgs[parsed["id"]] = parsed["org_id"]
        ctx.batch.org_kinds[parsed["org_id"]] = parsed.get("kind")
    return row


def _area_row(table: str, values: dict, parsed: dict, ctx: Context) -> list:
    parsed["id"] = parsed.get("lsoa")
    return _row(table, parsed)


def _practitioner_row(table: str, values: dict, parsed: dict, ctx: Context) -> list:
    if parsed.get("id"):
        ctx.batch.practitioners.add(parsed["id"])
    return _row(table, parsed)


def _role_row(table: str, values: dict, parsed: dict, ctx: Context) -> list:
    if parsed.get("id"):
        ctx.batch.roles.add(parsed["id"])
    return _row(table, parsed)


_BUILDERS = {
    "patients": _patient_row,
    "organisations": _organisation_row,
    "areas": _area_row,
    "practitioners": _practitioner_row,
    "practitioner_roles": _role_row,
}
