"""Second pass over a staged batch, in DuckDB: resolve references, apply the row rules.

The staged rows (``ingest_stage``) still hold FHIR reference strings. Reference strings
repeat heavily (every event of a patient names the same Patient), so the distinct ones are
parsed once, in Python, with the very rules of ``ingest_resolve.parse_reference`` (and a
Patient's NHS number pseudonymised); then everything that needs the whole batch is a join:

* each parsed reference is looked up in the batch's own index tables (its staged patients,
  organisations, practitioners, roles, identifiers, Medications) and then the warehouse as it
  stands; what is found nowhere is a ``dangling_reference`` (an anti-join, not a dictionary);
* each staged row is joined to the resolved references, and to the births of its patient for
  the before-birth check; the first failure of the row (a Medication that codes nothing, then
  each reference in column order, then the row rule judged while staging, then the birth
  check) is its error, with file, position and reason, exactly as the rules always ordered
  them (docs/ingest.md).

The result of each table is materialised in DuckDB's own file in the staging directory (so
memory stays bounded whatever the batch), where the write path takes it from. An event table
is judged in slices of its patients (``SLICE_PATIENTS``), so the hash table of the patients
its rows are joined to stays small whatever the region.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.extract import coded
from wraparound.sources.ingest_batch import BUNDLE, RESOURCE
from wraparound.sources.ingest_resolve import REFERENCE_COLUMNS, parse_reference
from wraparound.sources.ingest_rules import COLUMNS, EVENT_DATE
from wraparound.sources.ingest_stage import INDEXES, staged_schema
from wraparound.sources.ingest_values import (
    INVALID_REFERENCE,
    Reject,
    normalise_nhs_number,
)
from wraparound.warehouse.merge import current_sql, duckdb_connection
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.schema import TABLES, TS
from wraparound.warehouse.store import Warehouse

try:  # H1's optional identifier references (issue 10); absent in older trees
    from wraparound.sources.ingest_rules import DANGLING_IDENTIFIER, OPTIONAL_REFERENCES
except ImportError:  # pragma: no cover
    OPTIONAL_REFERENCES, DANGLING_IDENTIFIER = frozenset(), "dangling_identifier_reference"

# The FHIR resource type behind a row of each table, for error reports.
_RESOURCE_TYPE = {
    "organisations": "'Organization'",
    "patients": "'Patient'",
    "identity": "'Patient'",
    "registrations": "'EpisodeOfCare'",
    "practitioners": "'Practitioner'",
    "practitioner_roles": "'PractitionerRole'",
    "conditions": "'Condition'",
    "observations": "'Observation'",
    "procedures": "'Procedure'",
    "letters": "'DocumentReference'",
    "allergies": "'AllergyIntolerance'",
    "areas": "'areas'",
    "medications": "CASE WHEN s.kind = 'request' THEN 'MedicationRequest' "
    "ELSE 'MedicationStatement' END",
    "encounters": "CASE WHEN s.kind = 'gp_appointment' THEN 'Appointment' ELSE 'Encounter' END",
}
_PARSE_CHUNK = 65_536
# Patients per slice when the check judges a table (``check_staged``). A million was at the
# edge of DuckDB's 1 GB: a 1M export (under a million patient references, so one slice) ran
# out of memory judging its encounters in four loads of six.
SLICE_PATIENTS = 500_000


@dataclass
class Checked:
    """What the second pass found: errors (the first ``limit``), counts, and flags."""

    errors: list[dict] = field(default_factory=list)
    error_counts: Counter = field(default_factory=Counter)
    rejected: int = 0
    data_quality: Counter = field(default_factory=Counter)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def open_check(stage: Path, on_disk: bool = True) -> duckdb.DuckDBPyConnection:
    """DuckDB for the second pass. ``on_disk``: on a database file inside the staging
    directory, so what it materialises lives on disk (a large batch); else in memory (a
    small one, where a file's writes would cost more than the work). Either way the memory
    limit (``WRAPAROUND_DUCKDB_MEMORY_LIMIT``, default 1GB for ingest) bounds the rest,
    spilling to the staging directory."""
    return duckdb_connection(stage / "check.duckdb" if on_disk else ":memory:", stage / "spill")


def register_stage(con, stage: Path) -> None:
    """Views ``s_<table>`` over each table's staged files, and ``x<index>`` over the indexes."""
    for table in TABLES:
        _view(con, f"s_{table}", stage / table, staged_schema(table))
    for name, schema in INDEXES.items():
        _view(con, f"x{name}", stage / name, schema, filename=True)


def _view(con, name: str, folder: Path, schema: pa.Schema, filename: bool = False) -> None:
    if any(folder.glob("*.parquet")):
        extra = ", filename = true" if filename else ""
        source = f"read_parquet({_lit(str(folder / '*.parquet'))}{extra})"
    else:
        empty = schema.empty_table()
        if filename:
            empty = empty.append_column("filename", pa.array([], pa.string()))
        con.register(f"{name}_empty", empty)
        source = f"{name}_empty"
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}")


def _indexes(con, wh: Warehouse) -> None:
    """The lookups references resolve against: the batch's (last one read wins, as a
    dictionary's assignment would) and the warehouse's as it stands."""
    last = "QUALIFY row_number() OVER (PARTITION BY {k} ORDER BY {o} DESC) = 1"
    rows, idx = "_loc DESC, _sub", "filename DESC, _sub"
    views = {
        "b_patients": f"SELECT id, patient_id FROM s_patients {last.format(k='id', o=rows)}",
        "b_births": "SELECT patient_id, birth_date FROM s_patients "
        + last.format(k="patient_id", o=rows),
        "b_orgs": f"SELECT id, org_id FROM s_organisations {last.format(k='id', o=rows)}",
        "b_org_kinds": "SELECT org_id, kind FROM s_organisations "
        + last.format(k="org_id", o=rows),
        "b_practitioners": "SELECT DISTINCT id FROM s_practitioners",
        "b_roles": "SELECT DISTINCT id FROM s_practitioner_roles",
        "b_ident": "SELECT rtype, system, value, rid FROM x_identifiers "
        + last.format(k="rtype, system, value", o=idx),
        "b_urls": f"SELECT url, rtype, rid FROM x_full_urls {last.format(k='url', o=idx)}",
        "b_meds": f"SELECT rid, concept FROM x_medications {last.format(k='rid', o=idx)}",
    }
    for name, sql in views.items():
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
    for table, alias in [
        ("patients", "w_patients"),
        ("organisations", "w_orgs"),
        ("practitioners", "w_practitioners"),
        ("practitioner_roles", "w_roles"),
    ]:
        con.execute(f"CREATE OR REPLACE VIEW {alias} AS {current_sql(wh, table)}")
    # One row per patient and per organisation, so that no join multiplies a staged row: two
    # records of one patient (or two Organizations with one ODS code) could disagree.
    con.execute(
        "CREATE OR REPLACE VIEW w_births AS SELECT patient_id, min(birth_date) AS birth_date "
        "FROM w_patients GROUP BY patient_id"
    )
    con.execute(
        "CREATE OR REPLACE VIEW w_org_kinds AS SELECT org_id, CASE WHEN bool_or(kind = "
        "'practice') THEN 'practice' ELSE min(kind) END AS kind FROM w_orgs GROUP BY org_id"
    )


def _distinct_refs(con) -> None:
    parts = []
    for table, refs in REFERENCE_COLUMNS.items():
        if table not in TABLES:
            continue
        for col, want in refs:
            parts.append(
                f"SELECT {q(col)} AS ref, {_lit(want)} AS want FROM s_{table} "
                f"WHERE {q(col)} IS NOT NULL"
            )
    parts.append(
        "SELECT _med_ref AS ref, 'Medication' AS want FROM s_medications WHERE _med_ref IS NOT NULL"
    )
    con.execute(
        "CREATE OR REPLACE TABLE refs AS SELECT r.ref, r.want, u.rtype AS u_type, "
        "u.rid AS u_id, u.url IS NOT NULL AS has_url FROM (SELECT DISTINCT ref, want FROM ("
        + " UNION ALL ".join(parts)
        + ")) r LEFT JOIN b_urls u ON u.url = r.ref"
    )


class _OneUrl:
    """A stand-in batch for ``parse_reference`` that knows the one fullUrl it may ask for."""

    __slots__ = ("full_urls",)

    def __init__(self):
        self.full_urls: dict = {}


_PARSED = pa.schema(
    [("ref", pa.string()), ("want", pa.string()), ("mode", pa.string()), ("key", pa.string()),
     ("system", pa.string()), ("err_code", pa.string()), ("err_reason", pa.string())]
)  # fmt: skip


def _parse_refs(con, stage: Path, pseudo: Pseudonymiser) -> None:
    """Parse every distinct reference once, in chunks, with ``parse_reference``'s rules."""
    path = stage / "parsed_refs.parquet"
    one = _OneUrl()
    reader = con.sql("SELECT ref, want, u_type, u_id, has_url FROM refs").to_arrow_reader(
        _PARSE_CHUNK
    )
    with pq.ParquetWriter(path, _PARSED, compression="lz4") as writer:
        for chunk in reader:
            cols = [chunk.column(i).to_pylist() for i in range(5)]
            out = [[] for _ in _PARSED]
            for ref, want, u_type, u_id, has_url in zip(*cols, strict=True):
                one.full_urls = {ref: (u_type, u_id)} if has_url else {}
                mode = key = system = code = reason = None
                try:
                    rtype, rid, ident = parse_reference(ref, one)
                    if rtype != want:
                        raise Reject(
                            INVALID_REFERENCE, f"{ref} should refer to a {want}, not a {rtype}"
                        )
                    mode, key, system = _lookup(want, rid, ident, pseudo)
                except Reject as problem:
                    code, reason = problem.code, problem.reason
                for column, value in zip(
                    out, (ref, want, mode, key, system, code, reason), strict=True
                ):
                    column.append(value)
            writer.write_table(pa.Table.from_arrays(out, schema=_PARSED))
    con.execute(f"CREATE OR REPLACE TABLE parsed AS SELECT * FROM read_parquet({_lit(str(path))})")


def _lookup(want: str, rid, ident, pseudo: Pseudonymiser) -> tuple[str, str | None, str | None]:
    """(how to look the target up, key, identifier system), as ``ingest_resolve.Resolver``."""
    if ident is None:
        return "id", rid, None
    system, value = ident
    if want == "Patient" and system == m.NHS_NUMBER:
        return "pid", pseudo.nhs_number(normalise_nhs_number(value)), None
    if want == "Organization" and system == m.ODS_CODE:
        return "ods", value, None
    if want == "Medication":
        return "none", None, None
    return "ident", value, system


def _resolve(con) -> None:
    """``resolved(ref, want, value, err_code, err_reason)``: a key, or why there is none."""
    con.execute("""
        CREATE OR REPLACE TABLE resolved AS
        SELECT p.ref, p.want, p.err_code, p.err_reason,
          CASE
            WHEN p.err_code IS NOT NULL THEN NULL
            WHEN p.want = 'Patient' AND p.mode = 'id' THEN coalesce(bp.patient_id, wp.patient_id)
            WHEN p.want = 'Patient' AND p.mode = 'pid' THEN
              CASE WHEN bb.patient_id IS NOT NULL OR wb.patient_id IS NOT NULL THEN p.key END
            WHEN p.want = 'Patient' AND p.mode = 'ident' THEN bpi.patient_id
            WHEN p.want = 'Organization' AND p.mode = 'id' THEN coalesce(bo.org_id, wo.org_id)
            WHEN p.want = 'Organization' AND p.mode = 'ods' THEN
              CASE WHEN bk.org_id IS NOT NULL OR wk.org_id IS NOT NULL THEN p.key END
            WHEN p.want = 'Organization' AND p.mode = 'ident' THEN coalesce(boi.org_id, wov.org_id)
            WHEN p.want = 'Practitioner' AND p.mode = 'id' THEN
              CASE WHEN bpr.id IS NOT NULL OR wpr.id IS NOT NULL THEN p.key END
            WHEN p.want = 'PractitionerRole' AND p.mode = 'id' THEN
              CASE WHEN brl.id IS NOT NULL OR wrl.id IS NOT NULL THEN p.key END
            WHEN p.want IN ('Practitioner', 'PractitionerRole') AND p.mode = 'ident' THEN bi.rid
            WHEN p.want = 'Medication' AND p.mode = 'id' THEN bm.concept
          END AS value
        FROM parsed p
        LEFT JOIN b_patients bp ON p.mode = 'id' AND p.want = 'Patient' AND bp.id = p.key
        LEFT JOIN (SELECT DISTINCT id, patient_id FROM w_patients) wp
          ON p.mode = 'id' AND p.want = 'Patient' AND wp.id = p.key
        LEFT JOIN b_births bb ON p.mode = 'pid' AND bb.patient_id = p.key
        LEFT JOIN (SELECT DISTINCT patient_id FROM w_patients) wb
          ON p.mode = 'pid' AND wb.patient_id = p.key
        LEFT JOIN b_ident bi
          ON p.mode = 'ident' AND bi.rtype = p.want AND bi.system = p.system AND bi.value = p.key
        LEFT JOIN b_patients bpi ON p.want = 'Patient' AND bpi.id = bi.rid
        LEFT JOIN b_orgs boi ON p.want = 'Organization' AND boi.id = bi.rid
        LEFT JOIN b_orgs bo ON p.mode = 'id' AND p.want = 'Organization' AND bo.id = p.key
        LEFT JOIN (SELECT DISTINCT id, org_id FROM w_orgs) wo
          ON p.mode = 'id' AND p.want = 'Organization' AND wo.id = p.key
        LEFT JOIN (SELECT DISTINCT id, org_id FROM w_orgs) wov
          ON p.mode = 'ident' AND p.want = 'Organization' AND wov.id = p.key
        LEFT JOIN b_org_kinds bk ON p.mode = 'ods' AND bk.org_id = p.key
        LEFT JOIN (SELECT DISTINCT org_id FROM w_orgs) wk ON p.mode = 'ods' AND wk.org_id = p.key
        LEFT JOIN b_practitioners bpr
          ON p.mode = 'id' AND p.want = 'Practitioner' AND bpr.id = p.key
        LEFT JOIN (SELECT DISTINCT id FROM w_practitioners) wpr
          ON p.mode = 'id' AND p.want = 'Practitioner' AND wpr.id = p.key
        LEFT JOIN b_roles brl ON p.mode = 'id' AND p.want = 'PractitionerRole' AND brl.id = p.key
        LEFT JOIN (SELECT DISTINCT id FROM w_roles) wrl
          ON p.mode = 'id' AND p.want = 'PractitionerRole' AND wrl.id = p.key
        LEFT JOIN b_meds bm ON p.mode = 'id' AND p.want = 'Medication' AND bm.rid = p.key
    """)
    # The Medications found are coded in Python (``extract.coded``), once per reference.
    rows = con.execute(
        "SELECT ref, value FROM resolved WHERE want = 'Medication' AND value IS NOT NULL"
    ).fetchall()
    out = {"ref": [], "system": [], "code": [], "err_code": [], "err_reason": []}
    for ref, concept in rows:
        system = code = err_code = err_reason = None
        try:
            system, code = coded(orjson.loads(concept), f"{ref}.code")
        except Reject as problem:
            err_code, err_reason = problem.code, problem.reason
        for k, v in zip(out, (ref, system, code, err_code, err_reason), strict=True):
            out[k].append(v)
    con.register(
        "med_coded_arrow", pa.table(out, schema=pa.schema([(k, pa.string()) for k in out]))
    )
    con.execute("CREATE OR REPLACE TABLE med_coded AS SELECT * FROM med_coded_arrow")
    # Each Patient reference with the birth date of the patient it resolves to (the batch's,
    # else the warehouse's), so an event table is judged with one join on its patient
    # reference, not three: a region's events then probe one hash table of its patients,
    # small enough to stay in memory, rather than spilling every event row to disk to join
    # them with several. A warehouse holding two records of one patient (the same NHS
    # number) with different birth dates gives the earliest: the rule rejects only what is
    # before every birth date it knows.
    con.execute("""
        CREATE OR REPLACE TABLE patient_refs AS
        SELECT r.ref, r.value, r.err_code, r.err_reason,
          CASE WHEN bb.patient_id IS NOT NULL THEN bb.birth_date ELSE wb.birth_date END
            AS birth_date
        FROM resolved r
        LEFT JOIN b_births bb ON bb.patient_id = r.value
        LEFT JOIN w_births wb ON bb.patient_id IS NULL AND wb.patient_id = r.value
        WHERE r.want = 'Patient'
    """)


def _files_table(con, files: list[tuple[str, str]]) -> None:
    con.register(
        "files_arrow",
        pa.table(
            {
                "file_no": pa.array(range(len(files)), pa.int64()),
                "path": pa.array([f[0] for f in files], pa.string()),
                "format": pa.array([f[1] for f in files], pa.string()),
            }
        ),
    )
    con.execute("CREATE OR REPLACE TABLE files AS SELECT * FROM files_arrow")


def _fmt(column: str, kind: pa.DataType) -> str:
    """SQL text of a date or UTC instant as Python's ``str`` writes it."""
    if kind == TS:
        us = f"((epoch_us({column}) % 1000000) + 1000000) % 1000000"
        return (
            f"strftime(CAST({column} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S') || "
            f"CASE WHEN {us} <> 0 THEN '.' || lpad(CAST({us} AS VARCHAR), 6, '0') ELSE '' END"
            " || '+00:00'"
        )
    return f"strftime({column}, '%Y-%m-%d')"


def _judge(con, table: str, order: int, irefs: bool) -> bool:
    """``j_<table>``: each staged row with its references resolved and its first error; and
    ``j_<table>_slice(k, n)``, the rows of slice ``k`` of ``n`` of the patients. Returns
    whether the table is sliced (else every slice is the whole table)."""
    schema = TABLES[table]
    refs = [(c, w) for c, w in REFERENCE_COLUMNS.get(table, ()) if c in COLUMNS[table]]
    joins, checks, values, cleared = [], [], {}, []
    if table == "medications":
        joins.append(
            "LEFT JOIN resolved rm ON rm.ref = s._med_ref AND rm.want = 'Medication' "
            "LEFT JOIN med_coded mc ON mc.ref = s._med_ref"
        )
        checks.append(
            (
                "CASE WHEN s._med_ref IS NULL THEN NULL WHEN rm.err_code IS NOT NULL THEN "
                "rm.err_code WHEN rm.value IS NULL THEN 'dangling_reference' ELSE mc.err_code END",
                "CASE WHEN s._med_ref IS NULL THEN NULL WHEN rm.err_code IS NOT NULL THEN "
                "rm.err_reason WHEN rm.value IS NULL THEN s._med_ref || "
                "' does not resolve to a Medication in this batch or the warehouse' "
                "ELSE mc.err_reason END",
            )
        )
        values["system"] = "CASE WHEN s._med_ref IS NULL THEN s.system ELSE mc.system END"
        values["code"] = "CASE WHEN s._med_ref IS NULL THEN s.code ELSE mc.code END"
    birth = None
    source = f"s_{table}"
    for i, (col, want) in enumerate(refs):
        r, c = f"r{i}", f"s.{q(col)}"
        if col == "patient_id" and want == "Patient":
            # One slice of the patients (``_slice``): the same slice of both sides.
            source = f"(SELECT * FROM s_{table} WHERE hash(patient_id) % _n = _k)"
            joins.append(
                f"LEFT JOIN (SELECT * FROM patient_refs WHERE hash(ref) % _n = _k) {r} "
                f"ON {r}.ref = {c}"
            )
            birth = f"{r}.birth_date"
        else:
            joins.append(
                f"LEFT JOIN (SELECT ref, value, err_code, err_reason FROM resolved "
                f"WHERE want = {_lit(want)}) {r} ON {r}.ref = {c}"
            )
        dangling = f"({c} IS NOT NULL AND {r}.err_code IS NULL AND {r}.value IS NULL)"
        dangling_code = f"({dangling} OR {r}.err_code = 'dangling_reference')"
        clear = "FALSE"
        if irefs and (table, col) in OPTIONAL_REFERENCES:
            clear = f"({dangling_code} AND {c} IN (SELECT ref FROM irefs))"
        cleared.append(clear)
        checks.append(
            (
                f"CASE WHEN {c} IS NULL OR {clear} THEN NULL WHEN {r}.err_code IS NOT NULL "
                f"THEN {r}.err_code WHEN {r}.value IS NULL THEN 'dangling_reference' END",
                f"CASE WHEN {c} IS NULL OR {clear} THEN NULL WHEN {r}.err_code IS NOT NULL "
                f"THEN {r}.err_reason WHEN {r}.value IS NULL THEN {c} || "
                f"' does not resolve to a {want} in this batch or the warehouse' END",
            )
        )
        values[col] = f"CASE WHEN {c} IS NULL OR {clear} THEN NULL ELSE {r}.value END"
    checks.append(("s._code", "s._reason"))
    if table in EVENT_DATE:
        event = EVENT_DATE[table]
        if birth is None:  # a patient_id that is not a reference: looked up as it is
            joins.append(
                "LEFT JOIN b_births bb ON bb.patient_id = s.patient_id "
                "LEFT JOIN w_births wb ON bb.patient_id IS NULL AND wb.patient_id = s.patient_id"
            )
            birth = "CASE WHEN bb.patient_id IS NOT NULL THEN bb.birth_date ELSE wb.birth_date END"
        when = f"s.{q(event)}"
        if schema.field(event).type == TS:
            before = f"CAST({when} AS TIMESTAMP) < CAST({birth} AS TIMESTAMP) - INTERVAL 14 HOUR"
        else:
            before = f"{when} < {birth}"
        checks.append(
            (
                f"CASE WHEN {when} IS NOT NULL AND {birth} IS NOT NULL AND {before} "
                "THEN 'impossible_date' END",
                f"CASE WHEN {when} IS NOT NULL AND {birth} IS NOT NULL AND {before} THEN "
                f"{_fmt(when, schema.field(event).type)} || ' is before the patient''s birth "
                f"date ' || strftime({birth}, '%Y-%m-%d') END",
            )
        )
    if table == "encounters":
        org = values.get("org_id", "s.org_id")
        joins.append(
            f"LEFT JOIN b_org_kinds ok ON ok.org_id = {org} "
            f"LEFT JOIN w_org_kinds wok "
            f"ON ok.org_id IS NULL AND wok.org_id = {org}"
        )
        values["kind"] = (
            f"CASE WHEN s._amb AND {org} IS NOT NULL AND coalesce(ok.kind, wok.kind) = 'practice'"
            " THEN 'gp_appointment' ELSE s.kind END"
        )
    select = [f"{values.get(c, 's.' + q(c))} AS {q(c)}" for c in COLUMNS[table]]
    code = "coalesce(" + ", ".join(c for c, _ in checks) + ")" if len(checks) > 1 else checks[0][0]
    reason = (
        "coalesce(" + ", ".join(r for _, r in checks) + ")" if len(checks) > 1 else checks[0][1]
    )
    first_med = "FALSE"
    if table == "medications":
        first_med = f"({checks[0][0]}) IS NOT NULL"
    n_cleared = " + ".join(f"CAST({c} AS INTEGER)" for c in cleared) or "0"
    con.execute(f"""
        CREATE OR REPLACE MACRO j_{table}_slice(_k, _n) AS TABLE
        SELECT {", ".join(select)}, s._loc, s._sub, {code} AS _err_code, {reason} AS _err_reason,
          CASE WHEN {first_med} THEN -1 ELSE {order} END AS _ord,
          {_RESOURCE_TYPE.get(table, _lit(table))} AS _rtype, {_lit(table)} AS _table,
          {n_cleared} AS _cleared
        FROM {source} s {" ".join(joins)}
    """)
    con.execute(f"CREATE OR REPLACE VIEW j_{table} AS SELECT * FROM j_{table}_slice(0, 1)")
    return source != f"s_{table}"


def check_staged(
    con,
    stage: Path,
    wh: Warehouse,
    pseudo: Pseudonymiser,
    files: list[tuple[str, str]],
    identifier_refs: set[str],
    tables: list[str],
    limit: int,
) -> Checked:
    """Resolve and judge every staged row of ``tables``; the first ``limit`` errors in full."""
    register_stage(con, stage)
    _indexes(con, wh)
    _distinct_refs(con)
    _parse_refs(con, stage, pseudo)
    _resolve(con)
    _files_table(con, files)
    con.register("irefs_arrow", pa.table({"ref": pa.array(sorted(identifier_refs), pa.string())}))
    con.execute("CREATE OR REPLACE TABLE irefs AS SELECT * FROM irefs_arrow")
    order = {t: i for i, t in enumerate(TABLES)}
    sliced = {t for t in tables if _judge(con, t, order[t], bool(identifier_refs))}
    checked = Checked()
    if not tables:
        return checked
    # One pass over each table's judged rows (a view: its joins are cheaper to compute
    # again for the merge than to store): the rows with an error, or a cleared reference.
    # One statement per table, not one UNION ALL of them all: DuckDB would then hold every
    # table's join hash tables at once, and a 300k locality's export ran out of its memory
    # limit here.
    # And each table in slices of its patients, both sides of the join on the patient
    # reference sliced alike, so no hash table holds more than ``SLICE_PATIENTS`` patients:
    # a region's 3M were at the edge of DuckDB's limit in one (an Out of Memory Error).
    (patients,) = con.execute("SELECT count(*) FROM patient_refs").fetchall()[0]
    slices = max(1, -(-patients // SLICE_PATIENTS))
    flagged = (
        "SELECT _ord, _loc, _sub, id, _err_code, _err_reason, _rtype, _table, _cleared "
        "FROM j_{t}_slice({k}, {n}) WHERE _err_code IS NOT NULL OR _cleared > 0"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE flagged AS {flagged.format(t=tables[0], k=0, n=1)} LIMIT 0"
    )
    for t in tables:
        _flag(con, flagged, t, slices if t in sliced else 1, t in sliced)
    con.execute("CREATE OR REPLACE TABLE errs AS SELECT * FROM flagged WHERE _err_code IS NOT NULL")
    for code, n in con.execute("SELECT _err_code, count(*) FROM errs GROUP BY 1").fetchall():
        checked.error_counts[code] = n
    checked.rejected = con.execute("SELECT count(DISTINCT (_loc, id)) FROM errs").fetchall()[0][0]
    n = con.execute("SELECT coalesce(sum(_cleared), 0) FROM flagged").fetchall()[0][0]
    if n:
        checked.data_quality[DANGLING_IDENTIFIER] += int(n)
    if limit > 0 and checked.error_counts:
        rows = con.execute(f"""
            SELECT f.path, f.format, e._loc & 4294967295,
                   CASE WHEN f.format = 'csv' THEN e._table ELSE e._rtype END, e.id,
                   e._err_code, e._err_reason
            FROM errs e JOIN files f ON f.file_no = e._loc >> 32
            ORDER BY e._ord, e._loc, e._sub LIMIT {int(limit)}
        """).fetchall()
        for path, fmt, pos, rtype, rid, code, reason in rows:
            checked.errors.append(
                {
                    "file": path,
                    "position": _position(fmt, pos),
                    "resource_type": rtype,
                    "id": rid,
                    "code": code,
                    "reason": reason,
                }
            )
    return checked


# How much finer the slices of a table are made after DuckDB ran out of memory judging it.
RETRY_FINER = 4


def _flag(con, flagged: str, table: str, n: int, sliceable: bool) -> None:
    """Insert into ``flagged`` the rows of ``table`` with an error or a cleared reference, in
    ``n`` slices of its patients. A whole-locality batch is judged near DuckDB's memory
    limit: a 1M export ran out of it judging its encounters in some loads and not in others
    of the same files. If it does, the table is judged again from the start on one thread
    (each thread holds buffers of its own) and, where the table can be sliced, in
    ``RETRY_FINER`` times as many slices. A failed statement changes nothing, and the
    slices already inserted are deleted first, so no row is flagged twice."""
    try:
        for k in range(n):
            con.execute(f"INSERT INTO flagged {flagged.format(t=table, k=k, n=n)}")
        return
    except duckdb.OutOfMemoryException:
        pass
    con.execute(f"DELETE FROM flagged WHERE _table = {_lit(table)}")
    (threads,) = con.execute("SELECT current_setting('threads')").fetchall()[0]
    finer = n * RETRY_FINER if sliceable else n
    con.execute("SET threads = 1")
    try:
        for k in range(finer):
            con.execute(f"INSERT INTO flagged {flagged.format(t=table, k=k, n=finer)}")
    finally:
        con.execute(f"SET threads = {int(threads)}")


def _position(fmt: str, pos: int) -> str:
    if fmt == BUNDLE:
        return f"entry[{pos}]"
    if fmt == RESOURCE:
        return "resource"
    return f"line {pos}"


def resolved_sql(table: str) -> str:
    """The judged rows of ``table`` ready to merge: warehouse columns, ``_loc``, ``_sub``."""
    cols = ", ".join(q(c) for c in COLUMNS[table])
    return f"SELECT {cols}, _loc, _sub FROM j_{table}"


def staged_ids_sql(table: str) -> str:
    """The ``id`` of every row ``resolved_sql(table)`` yields, read from the staged files
    alone: judging resolves references and never changes an id, nor adds or drops a row
    (each join finds at most one match), so the merge's search for repeated ids need not
    compute the joins (``merge._newest``)."""
    return f"SELECT id FROM s_{table}"
