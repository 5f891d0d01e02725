"""The validation rules for warehouse rows, whatever format they arrived in.

Readers (FHIR, CSV) turn their input into warehouse-shaped row tuples (the table's columns
in schema order, without ``batch``) and then call :func:`check_row`. Keeping the rules on
the warehouse shape, not on the input shape, is what makes "the same rules and the same error
report" for every source true by construction. Rules that need other rows (references,
events before birth) run later, once the whole batch has been read
(``wraparound.sources.ingest_resolve``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wraparound.sources.ingest_values import (
    IMPOSSIBLE_DATE,
    INVALID_VALUE,
    MISSING_FIELD,
    UNKNOWN_CODE_SYSTEM,
    Clock,
    Reject,
)
from wraparound.warehouse.schema import (
    CODE_SYSTEMS,
    ENCOUNTER_KINDS,
    ORGANISATION_KINDS,
    REQUIRED,
    TABLES,
)

# Columns of each table as readers build them: schema order, minus the load's ``batch``.
COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c for c in schema.names if c != "batch") for name, schema in TABLES.items()
}
INDEX: dict[str, dict[str, int]] = {
    name: {c: i for i, c in enumerate(cols)} for name, cols in COLUMNS.items()
}

GENDERS = frozenset({"male", "female", "other", "unknown"})
ENCOUNTER_STATUSES = frozenset({"attended", "dna", "cancelled", "booked"})
MODES = frozenset({"face_to_face", "telephone", "video", "home_visit"})
MEDICATION_KINDS = frozenset({"request", "statement"})
# AllergyIntolerance's R4 value sets (docs/fhir-mapping.md). Refuted and entered-in-error
# records are skipped by the readers, so the warehouse never holds those two statuses.
ALLERGY_CLINICAL_STATUSES = frozenset({"active", "inactive", "resolved"})
ALLERGY_VERIFICATION_STATUSES = frozenset({"unconfirmed", "confirmed"})
ALLERGY_TYPES = frozenset({"allergy", "intolerance"})
ALLERGY_CATEGORIES = frozenset({"food", "medication", "environment", "biologic"})
ALLERGY_CRITICALITIES = frozenset({"low", "high", "unable-to-assess"})
REACTION_SEVERITIES = ("mild", "moderate", "severe")  # in order: the worst is kept
ETHNIC_CATEGORIES = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
IMD_DECILES = frozenset(range(1, 11))
# Encounters that have not happened yet may lie in the future.
NOT_YET = frozenset({"booked", "cancelled"})

# Reference columns the warehouse may leave empty. A reference made only of an identifier
# (FHIR Reference.identifier, e.g. an NPI or an ODS code of an organisation outside the
# export) that matches nothing is cleared in these columns and counted as the data-quality
# flag DANGLING_IDENTIFIER; in every other reference column it is rejected like any dangling
# reference. A literal reference ("Organization/x") that resolves to nothing is always
# rejected: it claims the resource exists. docs/fhir-mapping.md lists both sets.
OPTIONAL_REFERENCES = frozenset(
    {
        ("organisations", "parent_id"),
        ("practitioner_roles", "org_id"),
        ("encounters", "org_id"),
        ("encounters", "practitioner_role_id"),
        ("identity", "practice_id"),
        ("letters", "org_id"),
    }
)
DANGLING_IDENTIFIER = "dangling_identifier_reference"

# Tables whose rows belong to a patient, and the column dated "when it happened" that must not
# precede the patient's birth.
EVENT_DATE = {
    "registrations": "start_date",
    "conditions": "onset_date",
    "observations": "date",
    "medications": "start_date",
    "procedures": "date",
    "encounters": "start",
    "letters": "date",
    "allergies": "recorded_date",
}


@dataclass(frozen=True)
class Rules:
    enums: dict[str, frozenset] = field(default_factory=dict)
    not_future: tuple[str, ...] = ()
    ordered: tuple[tuple[str, str], ...] = ()


_CODED = {"system": frozenset(CODE_SYSTEMS)}

RULES: dict[str, Rules] = {
    "organisations": Rules(enums={"kind": frozenset(ORGANISATION_KINDS)}),
    "areas": Rules(enums={"imd_decile": IMD_DECILES}),
    "patients": Rules(
        enums={"sex": GENDERS, "ethnicity": ETHNIC_CATEGORIES},
        not_future=("birth_date", "death_date"),
        ordered=(("birth_date", "death_date"),),
    ),
    "registrations": Rules(not_future=("start_date",), ordered=(("start_date", "end_date"),)),
    "practitioners": Rules(),
    "practitioner_roles": Rules(),
    "conditions": Rules(
        enums=_CODED,
        not_future=("onset_date", "abatement_date"),
        ordered=(("onset_date", "abatement_date"),),
    ),
    "observations": Rules(enums=_CODED, not_future=("date",)),
    "medications": Rules(
        enums={**_CODED, "kind": MEDICATION_KINDS},
        not_future=("start_date",),
        ordered=(("start_date", "end_date"),),
    ),
    "procedures": Rules(enums=_CODED, not_future=("date",)),
    "encounters": Rules(
        enums={
            "kind": frozenset(ENCOUNTER_KINDS),
            "status": ENCOUNTER_STATUSES,
            "mode": MODES,
        },
        not_future=("booked_at",),
        ordered=(("start", "end"),),
    ),
    "letters": Rules(ordered=(("contact_start", "date"),)),
    "allergies": Rules(
        enums={
            **_CODED,
            "clinical_status": ALLERGY_CLINICAL_STATUSES,
            "verification_status": ALLERGY_VERIFICATION_STATUSES,
            "type": ALLERGY_TYPES,
            "category": ALLERGY_CATEGORIES,
            "criticality": ALLERGY_CRITICALITIES,
            "reaction_severity": frozenset(REACTION_SEVERITIES),
        },
        not_future=("onset_date", "recorded_date"),
    ),
    # Built from the same Patient/CSV row as ``patients``, whose rules already judge the
    # shared fields (sex, birth date): checking them twice would report each error twice.
    "identity": Rules(),
}

_PLAN = {
    name: (
        [(INDEX[name][c], c) for c in REQUIRED[name] if c != "batch"],
        [(INDEX[name][c], c, allowed) for c, allowed in rules.enums.items()],
        [(INDEX[name][c], c) for c in rules.not_future],
        [(INDEX[name][a], INDEX[name][b], a, b) for a, b in rules.ordered],
    )
    for name, rules in RULES.items()
}


_KIND = INDEX["encounters"]["kind"]
_URGENT = INDEX["encounters"]["urgent_request"]
_ENCOUNTER_ID = INDEX["letters"]["encounter_id"]
_CONTACT_START = INDEX["letters"]["contact_start"]


def check_row(table: str, row: tuple, clock: Clock) -> None:
    """Raise :class:`Reject` if ``row`` breaks a rule of ``table`` that needs no other rows.

    Nearly every row of a load is valid: the table's rules compiled into one expression
    (:func:`_compile`, ``VALID``) say so in about 60% of the time the rule-by-rule walk
    takes (appointments of the 300k export: 0.6 against 1.0 microseconds a row). Only a row
    they do not pass is walked rule by rule, for the first rule it breaks and its message.
    Staging calls ``VALID`` itself and comes here only for such a row."""
    try:
        if VALID[table](row, clock.now, clock.latest_date):
            return
    except TypeError:  # a value of the wrong type: the walk raises what it always raised
        pass
    _first_broken(table, row, clock)


def _first_broken(table: str, row: tuple, clock: Clock) -> None:
    """The rules of ``table`` one by one, in order: raise for the first that ``row`` breaks."""
    required, enums, not_future, ordered = _PLAN[table]
    for i, col in required:
        if row[i] is None or row[i] == "":
            raise Reject(MISSING_FIELD, f"{table}.{col} is required")
    for i, col, allowed in enums:
        value = row[i]
        if value is not None and value not in allowed:
            code = UNKNOWN_CODE_SYSTEM if col == "system" else INVALID_VALUE
            raise Reject(code, f"{table}.{col} {value!r} is not one of {sorted(allowed)}")
    for i, col in not_future:
        value = row[i]
        if value is not None:
            if col in ("booked_at",):
                clock.not_future_instant(value, col)
            else:
                clock.not_future_date(value, col)
    for i, j, a, b in ordered:
        if row[i] is not None and row[j] is not None and row[j] < row[i]:
            raise Reject(IMPOSSIBLE_DATE, f"{b} {row[j]} is before {a} {row[i]}")
    if table == "letters":
        clock.not_future_instant(row[INDEX["letters"]["date"]], "date")
        if row[_ENCOUNTER_ID] is None and row[_CONTACT_START] is None:
            raise Reject(MISSING_FIELD, "letters need an encounter_id or a contact_start")
    if table == "encounters":
        status = row[INDEX["encounters"]["status"]]
        if status not in NOT_YET:
            clock.not_future_instant(row[INDEX["encounters"]["start"]], "start")
        kind = row[_KIND]
        if row[_URGENT] is not None and kind != "gp_appointment":
            raise Reject(
                INVALID_VALUE,
                f"encounters.urgent_request is recorded only for gp_appointment, not {kind!r}",
            )


def _compile(table: str):
    """``valid(row, now, latest_date)``: True if ``row`` breaks none of ``table``'s rules,
    the same rules as :func:`_first_broken` walks, written out as one boolean expression with
    the column positions and allowed values bound in. Generated from ``_PLAN`` (the rules stay
    data); ``tests/unit/test_ingest_rules_compiled.py`` holds it to the walk."""
    required, enums, not_future, ordered = _PLAN[table]
    scope: dict = {"NOT_YET": NOT_YET}
    terms = [f"row[{i}] is not None and row[{i}] != ''" for i, _ in required]
    for k, (i, _col, allowed) in enumerate(enums):
        scope[f"ALLOWED_{k}"] = allowed
        terms.append(f"(row[{i}] is None or row[{i}] in ALLOWED_{k})")
    for i, col in not_future:
        bound = "now" if col in ("booked_at",) else "latest"
        terms.append(f"(row[{i}] is None or not row[{i}] > {bound})")
    for i, j, _a, _b in ordered:
        terms.append(f"(row[{i}] is None or row[{j}] is None or not row[{j}] < row[{i}])")
    if table == "letters":
        date = INDEX["letters"]["date"]
        terms.append(f"(row[{date}] is None or not row[{date}] > now)")
        terms.append(f"(row[{_ENCOUNTER_ID}] is not None or row[{_CONTACT_START}] is not None)")
    if table == "encounters":
        status, start = INDEX["encounters"]["status"], INDEX["encounters"]["start"]
        terms.append(
            f"(row[{status}] in NOT_YET or row[{start}] is None or not row[{start}] > now)"
        )
        terms.append(f"(row[{_URGENT}] is None or row[{_KIND}] == 'gp_appointment')")
    body = " and ".join(terms) or "True"
    source = f"def valid(row, now, latest):\n    return {body}\n"
    exec(compile(source, f"<rules of {table}>", "exec"), scope)
    return scope["valid"]


# ``VALID[table](row, clock.now, clock.latest_date)``: the fast answer, for a caller that
# checks millions of rows (``ingest_stage``) and asks :func:`check_row` only when it is False.
VALID = {name: _compile(name) for name in _PLAN}
