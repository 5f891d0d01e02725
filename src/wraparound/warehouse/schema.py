"""The warehouse event schema: the one place that knows which tables exist and their columns.

Every producer (synthetic generator, FHIR ingest, CSV ingest) emits rows in exactly these
shapes, and every consumer reads them through the engine interface. Keeping the schema as
PyArrow schemas (rather than engine DDL) means the same definition serves Parquet writing,
validation of producer output, and both engines.

Conventions shared by all tables:

* ``id`` is the source's logical id for the row (FHIR ``Resource.id`` or the CSV key). It is
  the key for de-duplication: loading a row whose ``id`` is already present replaces it only
  when the incoming row is a newer version (``updated_at`` then ``version_id``).
* ``patient_id`` is a keyed pseudonym (see ``wraparound.warehouse.pseudonym``); NHS numbers
  and names reach only the direct-care ``identity`` table (``DIRECT_CARE``), which the
  engine interface never hands to analytics.
* Clinical dates are ``date32`` (no timezone); timestamps are UTC-aware ``timestamp[us]``.
* ``batch`` is the load that last wrote the row, so later stages can ask "what is new since".
"""

from __future__ import annotations

import pyarrow as pa

from wraparound import vocabulary

SCHEMA_VERSION = 1

TS = pa.timestamp("us", tz="UTC")

_BOOKKEEPING = [
    pa.field("updated_at", TS),
    pa.field("version_id", pa.int64()),
    pa.field("batch", pa.int64(), nullable=False),
]


def _table(*fields: pa.Field) -> pa.Schema:
    return pa.schema([pa.field("id", pa.string(), nullable=False), *fields, *_BOOKKEEPING])


_DECLARED: dict[str, pa.Schema] = {
    # Organisations: locality, neighbourhoods, practices, hubs, hospital and community trusts.
    "organisations": _table(
        pa.field("org_id", pa.string(), nullable=False),  # ODS code
        pa.field("name", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("parent_id", pa.string()),  # ODS code of the parent organisation
    ),
    # Small areas and their Index of Multiple Deprivation decile (1 = most deprived).
    "areas": _table(
        pa.field("lsoa", pa.string(), nullable=False),
        pa.field("imd_decile", pa.int8(), nullable=False),
    ),
    "patients": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("birth_date", pa.date32()),
        pa.field("sex", pa.string()),  # FHIR administrative gender
        pa.field("ethnicity", pa.string()),  # NHS ethnic category code (A-Z)
        pa.field("lsoa", pa.string()),
        pa.field("death_date", pa.date32()),
        pa.field("opted_out", pa.bool_(), nullable=False),  # national data opt-out
        pa.field("dq_flags", pa.string()),  # comma-separated data-quality flags
    ),
    # GP registration history: one row per spell at a practice.
    "registrations": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("practice_id", pa.string(), nullable=False),
        pa.field("start_date", pa.date32(), nullable=False),
        pa.field("end_date", pa.date32()),
    ),
    "practitioners": _table(
        pa.field("name", pa.string()),
    ),
    "practitioner_roles": _table(
        pa.field("practitioner_id", pa.string(), nullable=False),
        pa.field("org_id", pa.string()),
        pa.field("role", pa.string(), nullable=False),
        pa.field("fte", pa.float64()),  # whole-time equivalent (1.0 = 37.5 hours a week)
    ),
    "conditions": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("system", pa.string(), nullable=False),
        pa.field("code", pa.string(), nullable=False),
        pa.field("onset_date", pa.date32()),
        pa.field("abatement_date", pa.date32()),
    ),
    "observations": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("system", pa.string(), nullable=False),
        pa.field("code", pa.string(), nullable=False),
        pa.field("date", pa.date32()),
        pa.field("value", pa.float64()),
        pa.field("unit", pa.string()),
    ),
    "medications": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("system", pa.string(), nullable=False),
        pa.field("code", pa.string(), nullable=False),
        pa.field("start_date", pa.date32()),
        pa.field("end_date", pa.date32()),
        pa.field("kind", pa.string(), nullable=False),  # request | statement
    ),
    "procedures": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("system", pa.string(), nullable=False),
        pa.field("code", pa.string(), nullable=False),
        pa.field("date", pa.date32()),
    ),
    # Every contact with a service. ``kind`` is one of ENCOUNTER_KINDS.
    "encounters": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("start", TS, nullable=False),
        pa.field("end", TS),
        pa.field("booked_at", TS),  # when the appointment was booked (GP appointments)
        pa.field("status", pa.string(), nullable=False),  # attended | dna | cancelled | booked
        pa.field("mode", pa.string()),  # face_to_face | telephone | video | home_visit
        pa.field("org_id", pa.string()),  # ODS code of the provider
        pa.field("practitioner_role_id", pa.string()),
        pa.field("specialty", pa.string()),  # outpatient treatment function
        # The patient asked to be seen urgently (within 48 hours): GP and hub appointments
        # only; null = not recorded (always null for other kinds).
        pa.field("urgent_request", pa.bool_()),
        # Outpatients: true = a first attendance, false = a follow-up (NHS Data Dictionary
        # FIRST ATTENDANCE); null = not recorded, never guessed.
        pa.field("first_attendance", pa.bool_()),
    ),
    # Clinical letters back to the GP (FHIR DocumentReference, or letters.csv): one row per
    # letter, about the contact (``encounter_id``, the encounters row's ``id``; and/or
    # ``contact_start``) a provider (``org_id``, the author organisation's ODS code) had with
    # the patient; ``date`` is when the letter was issued. The letters app measures letters
    # back within 2 operational days from these rows (apps/letters).
    "letters": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("org_id", pa.string()),  # ODS code of the author organisation
        pa.field("encounter_id", pa.string()),  # the contact the letter is about
        pa.field("contact_start", TS),  # DocumentReference.context.period.start
        pa.field("date", TS, nullable=False),  # DocumentReference.date
        pa.field("type_code", pa.string()),  # SNOMED CT code of the document type
    ),
    # Allergies and intolerances (FHIR AllergyIntolerance, or allergies.csv): one row per
    # recorded allergy, its substance or allergy code (``system``/``code``, SNOMED CT in UK
    # Core; ``display`` the code's terminology display, never free text), whether it is
    # current (``clinical_status``), how sure (``verification_status``; entered-in-error and
    # refuted records are never loaded), the worst reaction recorded. A code in the
    # ``no_known_allergies`` list (data/allergies.csv) records that the patient has none.
    "allergies": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("system", pa.string(), nullable=False),
        pa.field("code", pa.string(), nullable=False),
        pa.field("display", pa.string()),
        pa.field("clinical_status", pa.string(), nullable=False),  # active|inactive|resolved
        pa.field("verification_status", pa.string()),  # unconfirmed | confirmed
        pa.field("type", pa.string()),  # allergy | intolerance
        pa.field("category", pa.string()),  # food | medication | environment | biologic
        pa.field("criticality", pa.string()),  # low | high | unable-to-assess
        pa.field("reaction_code", pa.string()),  # SNOMED CT manifestation of the first reaction
        pa.field("reaction_display", pa.string()),
        pa.field("reaction_severity", pa.string()),  # the worst: mild | moderate | severe
        pa.field("onset_date", pa.date32()),
        pa.field("recorded_date", pa.date32()),
    ),
    # Direct care only: who each patient is, for the care app (DIRECT_CARE). One row per
    # patient, keyed like ``patients`` (same ``id``, same pseudonym), from FHIR Patient and
    # the CSV patients file, merged by the same newest-version rule in the same transaction.
    # Opted-out patients keep their row: the national data opt-out limits secondary uses,
    # not direct care.
    "identity": _table(
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("nhs_number", pa.string()),  # 10 digits; null when the source has none
        # UK Core NHS number verification status code ("01" = number present and verified)
        pa.field("nhs_number_verification", pa.string()),
        pa.field("given_name", pa.string()),  # all given names, space-separated
        pa.field("family_name", pa.string()),
        pa.field("birth_date", pa.date32()),
        pa.field("sex", pa.string()),
        pa.field("postcode", pa.string()),  # home address
        pa.field("phone", pa.string()),
        pa.field("email", pa.string()),
        pa.field("practice_id", pa.string()),  # ODS code of the registered GP practice
        pa.field("opted_out", pa.bool_(), nullable=False),
    ),
}

# Tables that hold identifiers for direct care. They live in the snapshots like every table
# (so a load is still all or nothing) but the engine interface refuses them: analytics, which
# only ever reach the warehouse through ``engine.table``, cannot see an NHS number or a name.
# The app reads them through ``warehouse/identity.py``; writers merge them like any table.
DIRECT_CARE: frozenset[str] = frozenset({"identity"})

# Tables added after the warehouse's first release: a snapshot written before one existed
# has no file for it, and reads as the empty table until a load writes it.
ADDED_TABLES: tuple[str, ...] = ("identity", "letters", "allergies")

# Columns added to a table after its first release, which snapshots written before them lack.
# Readers fill them with nulls (``upgrade``), so an older warehouse loads and merges as it is;
# only a nullable column may ever be added here.
ADDED: dict[str, tuple[str, ...]] = {
    "encounters": ("urgent_request", "first_attendance"),
    "practitioner_roles": ("fte",),
}

# Columns that must never be null, checked by ``conform``. The stored Parquet schemas mark
# every column nullable, because engines do not agree on writing nullability flags.
REQUIRED: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in schema if not f.nullable) for name, schema in _DECLARED.items()
}
TABLES: dict[str, pa.Schema] = {
    name: pa.schema([f.with_nullable(True) for f in schema]) for name, schema in _DECLARED.items()
}

ENCOUNTER_KINDS = vocabulary.ENCOUNTER_KINDS  # the kinds and their labels: wraparound/vocabulary.py

ORGANISATION_KINDS = ("locality", "neighbourhood", "practice", "hub", "trust", "community")

# Short names for code systems, and the FHIR system URIs they correspond to.
CODE_SYSTEMS: dict[str, str] = {
    "snomed": "http://snomed.info/sct",
    "dmd": "https://dmd.nhs.uk",
    "loinc": "http://loinc.org",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "icd10": "http://hl7.org/fhir/sid/icd-10",
    "read2": "http://read.info/readv2",
    "ctv3": "http://read.info/ctv3",
}
SYSTEM_BY_URI = {uri: short for short, uri in CODE_SYSTEMS.items()}


def empty(name: str) -> pa.Table:
    """An empty table with the named schema."""
    return TABLES[name].empty_table()


def upgrade(name: str, table: pa.Table) -> pa.Table:
    """``table`` as read from a snapshot, with the columns added since it was written (``ADDED``)
    filled with nulls. Other missing columns are left for ``conform`` to report."""
    for column in ADDED.get(name, ()):
        if column not in table.column_names:
            table = table.append_column(
                TABLES[name].field(column),
                pa.nulls(table.num_rows, TABLES[name].field(column).type),
            )
    return table


def conform(name: str, table: pa.Table) -> pa.Table:
    """Cast ``table`` to the named schema, column order included, or raise ValueError.

    Producers build tables column by column; this is the single check that what they built
    is what the warehouse promises its readers.
    """
    schema = TABLES[name]
    missing = [f.name for f in schema if f.name not in table.column_names]
    extra = [c for c in table.column_names if c not in schema.names]
    if missing or extra:
        raise ValueError(f"{name}: missing columns {missing}, unexpected columns {extra}")
    table = table.select(schema.names)
    try:
        table = table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"{name}: {exc}") from exc
    nulls = [c for c in REQUIRED[name] if table[c].null_count]
    if nulls:
        raise ValueError(f"{name}: required columns contain nulls: {nulls}")
    return table
