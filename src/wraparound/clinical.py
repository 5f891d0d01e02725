"""Clinical content: code lists, registers, eFI deficits, medicines, observations, ethnicity,
treatment functions.

Clinical content is data, never Python. Everything a clinician or commissioner might want to
change (which SNOMED CT concepts count as "falls", which register a medicine is for, the
England ethnic mix) lives in CSV files under ``wraparound/data/`` and ships inside the wheel.
This module is the only reader of those files, so that:

- every consumer sees the same parsed, validated content (no second CSV parser drifting away
  from this one);
- a malformed edit fails loudly and specifically, naming the file and line, the first time the
  content is read, rather than silently dropping patients from a register;
- the content is parsed once per process (``functools.cache``): the population pipeline asks
  for the same code lists millions of times.

The file formats are documented in ``docs/clinical-content.md``.

Every loader takes an optional ``data_dir``. Production code leaves it out and reads the
package's own data; tests pass a temporary copy to check that broken files are rejected.
Cached results are shared, so callers must not mutate what they get back: the loaders return
tuples and frozen dataclasses for that reason, and ``codelist`` returns a fresh list.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

EFI_DEFICIT_COUNT = 36
"""Clegg et al. (2016): the eFI score is the number of deficits present divided by 36."""

EFI_DEFICIT_RULES = frozenset({"polypharmacy"})
"""Deficits defined by a rule over other data rather than by code lists."""

POLYPHARMACY_MIN_DISTINCT_MEDICATIONS = 5
"""Polypharmacy deficit: at least this many distinct medicines issued in the look-back."""

POLYPHARMACY_LOOKBACK_DAYS = 365
"""Polypharmacy deficit: issues in the 12 months up to and including the index date count."""

GENERAL_INDICATION = "general"
"""Medicines not tied to one register (analgesics, PPIs, primary-prevention statins...)."""

MEDICATION_SYSTEMS = frozenset({"snomed"})

_ID_PATTERN = re.compile(r"^[a-z0-9_]+$")
_CODELIST_DIR = "codelists"


class ClinicalContentError(ValueError):
    """A clinical content file is missing, has the wrong columns, or has a bad row.

    The message starts with ``<file>:<line>:`` so that whoever edited the file can go straight
    to the problem; ``path`` and ``line`` carry the same information for programs.
    """

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


# ---------------------------------------------------------------------------------------------
# SNOMED CT identifiers
# ---------------------------------------------------------------------------------------------

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)


def _verhoeff_permutations() -> tuple[tuple[int, ...], ...]:
    # The position permutations are powers of one permutation; deriving them avoids the
    # transcription slips that hand-typed tables are prone to.
    base = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)
    rows = [tuple(range(10))]
    for _ in range(7):
        rows.append(tuple(base[d] for d in rows[-1]))
    return tuple(rows)


_VERHOEFF_P = _verhoeff_permutations()


def verhoeff_valid(digits: str) -> bool:
    """True if the last digit of ``digits`` is the Verhoeff check digit of the rest.

    SNOMED CT uses the Verhoeff (dihedral group D5) scheme because, unlike Modulus 11, it
    catches every single-digit error and every transposition of adjacent digits: exactly the
    slips made when an identifier is copied by hand into a code list.
    """
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][int(digit)]]
    return check == 0


def is_concept_id(code: str) -> bool:
    """True if ``code`` is a well-formed SNOMED CT concept identifier (SCTID).

    An SCTID is 6 to 18 digits with no leading zero; the last digit is a Verhoeff check digit
    and the two before it are the partition identifier, which for a concept is ``00`` (core
    "short" format) or ``10`` (extension "long" format with a namespace, e.g. the UK's
    ``...1000000...`` identifiers). Description and relationship ids (``01``, ``02``,
    ``11``, ``12``) are valid SCTIDs but never belong in a code list.
    """
    if not (6 <= len(code) <= 18) or not code.isascii() or not code.isdigit():
        return False
    if code[0] == "0":
        return False
    partition = code[-3:-1]
    if partition not in ("00", "10"):
        return False
    if partition == "10" and len(code) < 11:
        return False
    return verhoeff_valid(code)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def package_data_dir() -> Traversable:
    """The ``data`` folder shipped inside the installed ``wraparound`` package."""
    return files("wraparound").joinpath("data")


def _resolve(data_dir: Traversable | None) -> Traversable:
    return package_data_dir() if data_dir is None else data_dir


def _rows(
    data_dir: Traversable, relative: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` for a CSV whose header must be exactly ``columns``.

    The header is compared exactly (same names, same order) so that a renamed or reordered
    column is an error rather than a silently empty field. Every row must have as many fields
    as the header. Leading and trailing spaces are stripped from values; blank lines are
    skipped.
    """
    resource = data_dir
    for part in relative.split("/"):
        resource = resource.joinpath(part)
    name = f"data/{relative}"  # relative to the data folder: the path the editor knows
    if not resource.is_file():
        raise ClinicalContentError(name, None, "file not found")
    text = resource.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise ClinicalContentError(name, 1, "file is empty; expected a header row")
    header = [h.strip() for h in header]
    if tuple(header) != columns:
        raise ClinicalContentError(
            name,
            1,
            f"wrong columns {','.join(header)!r}; expected exactly {','.join(columns)!r}",
        )
    for record in reader:
        line = reader.line_num
        if not record or all(not field.strip() for field in record):
            continue
        if len(record) != len(columns):
            raise ClinicalContentError(
                name, line, f"{len(record)} fields; expected {len(columns)} ({','.join(columns)})"
            )
        yield line, {c: v.strip() for c, v in zip(columns, record, strict=True)}


def _split_ids(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(";") if part.strip())


# ---------------------------------------------------------------------------------------------
# Code lists
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodelistEntry:
    """One concept in a code list: the SNOMED CT concept id and a human-readable term."""

    code: str
    term: str


@functools.cache
def codelist_ids(data_dir: Traversable | None = None) -> tuple[str, ...]:
    """The ids of every code list present (file names under ``data/codelists`` minus ``.csv``)."""
    folder = _resolve(data_dir).joinpath(_CODELIST_DIR)
    if not folder.is_dir():
        return ()
    return tuple(
        sorted(
            entry.name[: -len(".csv")]
            for entry in folder.iterdir()
            if entry.is_file() and entry.name.endswith(".csv")
        )
    )


@functools.cache
def codelist_entries(
    codelist_id: str, data_dir: Traversable | None = None
) -> tuple[CodelistEntry, ...]:
    """The concepts of one code list, in file order, each checked to be a SNOMED CT concept id.

    Codes are checked here, at load time, rather than trusted: a mistyped id matches no
    patient, so without this check a typo silently shrinks a register.
    """
    if not _ID_PATTERN.match(codelist_id):
        raise ClinicalContentError(
            f"data/{_CODELIST_DIR}/", None, f"invalid code list id {codelist_id!r}"
        )
    relative = f"{_CODELIST_DIR}/{codelist_id}.csv"
    name = f"data/{relative}"
    seen: dict[str, int] = {}
    entries: list[CodelistEntry] = []
    for line, row in _rows(_resolve(data_dir), relative, ("code", "term")):
        code, term = row["code"], row["term"]
        if not is_concept_id(code):
            raise ClinicalContentError(
                name,
                line,
                f"{code!r} is not a valid SNOMED CT concept id "
                "(digits, partition 00 or 10, Verhoeff check digit)",
            )
        if not term:
            raise ClinicalContentError(name, line, f"code {code} has an empty term")
        if code in seen:
            raise ClinicalContentError(
                name, line, f"duplicate code {code} (first on line {seen[code]})"
            )
        seen[code] = line
        entries.append(CodelistEntry(code, term))
    return tuple(entries)


def codelist(codelist_id: str, data_dir: Traversable | None = None) -> list[str]:
    """The SNOMED CT concept ids in code list ``codelist_id`` (a fresh list each call)."""
    return [entry.code for entry in codelist_entries(codelist_id, data_dir)]


def _check_codelists_exist(
    ids: tuple[str, ...], data_dir: Traversable | None, name: str, line: int
) -> None:
    known = set(codelist_ids(data_dir))
    for codelist_id in ids:
        if codelist_id not in known:
            raise ClinicalContentError(
                name,
                line,
                f"unknown code list {codelist_id!r} "
                f"(no file data/{_CODELIST_DIR}/{codelist_id}.csv)",
            )


def _resolve_codes(ids: tuple[str, ...], data_dir: Traversable | None) -> tuple[str, ...]:
    codes: dict[str, None] = {}
    for codelist_id in ids:
        for entry in codelist_entries(codelist_id, data_dir):
            codes.setdefault(entry.code, None)
    return tuple(codes)


# ---------------------------------------------------------------------------------------------
# Registers
# ---------------------------------------------------------------------------------------------

REGISTER_COLUMNS = (
    "register_id",
    "name",
    "codelists",
    "rule",
    "min_age",
    "prevalence_pct",
    "prevalence_source",
    "checked",
)

REGISTER_RULES = frozenset({"codes", "bmi30"})
"""``codes``: any code from the lists on or before the date. ``bmi30``: latest BMI >= 30."""


@dataclass(frozen=True, slots=True)
class Register:
    """A condition register (QOF-style): who is on it and how common it is expected to be.

    ``prevalence_pct`` is the expected share of the list (England, with its source) that the
    synthetic generator aims for and that analysts compare observed prevalence against;
    ``checked`` says whether that figure was checked against the published source (``False``
    marks an approximation).
    """

    register_id: str
    name: str
    codelists: tuple[str, ...]
    rule: str
    min_age: int
    prevalence_pct: float
    prevalence_source: str
    checked: bool
    codes: tuple[str, ...]


@functools.cache
def _registers(data_dir: Traversable | None) -> tuple[Register, ...]:
    name = "data/registers.csv"
    seen: dict[str, int] = {}
    out: list[Register] = []
    for line, row in _rows(_resolve(data_dir), "registers.csv", REGISTER_COLUMNS):
        register_id = row["register_id"]
        if not _ID_PATTERN.match(register_id):
            raise ClinicalContentError(name, line, f"invalid register_id {register_id!r}")
        if register_id in seen:
            raise ClinicalContentError(
                name,
                line,
                f"duplicate register_id {register_id!r} (first on line {seen[register_id]})",
            )
        seen[register_id] = line
        rule = row["rule"]
        if rule not in REGISTER_RULES:
            raise ClinicalContentError(
                name, line, f"unknown rule {rule!r}; expected one of {sorted(REGISTER_RULES)}"
            )
        ids = _split_ids(row["codelists"])
        if rule == "codes" and not ids:
            raise ClinicalContentError(name, line, "rule 'codes' needs at least one code list")
        _check_codelists_exist(ids, data_dir, name, line)
        try:
            min_age = int(row["min_age"])
            prevalence = float(row["prevalence_pct"])
        except ValueError as exc:
            raise ClinicalContentError(name, line, f"min_age/prevalence_pct: {exc}") from None
        if min_age < 0 or not 0 <= prevalence <= 100:
            raise ClinicalContentError(
                name, line, "min_age must be >= 0 and prevalence_pct between 0 and 100"
            )
        if row["checked"] not in ("true", "false"):
            raise ClinicalContentError(
                name, line, f"checked must be 'true' or 'false', not {row['checked']!r}"
            )
        out.append(
            Register(
                register_id=register_id,
                name=row["name"],
                codelists=ids,
                rule=rule,
                min_age=min_age,
                prevalence_pct=prevalence,
                prevalence_source=row["prevalence_source"],
                checked=row["checked"] == "true",
                codes=_resolve_codes(ids, data_dir),
            )
        )
    return tuple(out)


def registers(data_dir: Traversable | None = None) -> list[Register]:
    """Every condition register in ``data/registers.csv``, with its code lists resolved."""
    return list(_registers(data_dir))


# ---------------------------------------------------------------------------------------------
# Electronic Frailty Index
# ---------------------------------------------------------------------------------------------

EFI_COLUMNS = ("deficit_id", "name", "codelists", "rule")


@dataclass(frozen=True, slots=True)
class Deficit:
    """One of the 36 eFI deficits.

    A code-based deficit (``rule == ""``) is present when any concept in ``codes`` (the union
    of its code lists) was recorded on or before the index date. A rule-based deficit has no
    codes; its ``rule`` names the calculation (only ``polypharmacy``: at least
    ``POLYPHARMACY_MIN_DISTINCT_MEDICATIONS`` distinct medicines issued in the
    ``POLYPHARMACY_LOOKBACK_DAYS`` up to the index date).
    """

    deficit_id: str
    name: str
    codelists: tuple[str, ...]
    rule: str
    codes: tuple[str, ...]


@functools.cache
def _efi_deficits(data_dir: Traversable | None) -> tuple[Deficit, ...]:
    name = "data/efi_deficits.csv"
    seen: dict[str, int] = {}
    out: list[Deficit] = []
    last_line = 1
    for line, row in _rows(_resolve(data_dir), "efi_deficits.csv", EFI_COLUMNS):
        last_line = line
        deficit_id = row["deficit_id"]
        if not _ID_PATTERN.match(deficit_id):
            raise ClinicalContentError(name, line, f"invalid deficit_id {deficit_id!r}")
        if deficit_id in seen:
            raise ClinicalContentError(
                name,
                line,
                f"duplicate deficit_id {deficit_id!r} (first on line {seen[deficit_id]})",
            )
        seen[deficit_id] = line
        ids = _split_ids(row["codelists"])
        rule = row["rule"]
        if rule:
            if rule not in EFI_DEFICIT_RULES:
                raise ClinicalContentError(
                    name,
                    line,
                    f"unknown rule {rule!r}; expected one of {sorted(EFI_DEFICIT_RULES)}",
                )
            if ids:
                raise ClinicalContentError(
                    name, line, f"deficit {deficit_id!r} has rule {rule!r} and code lists; give one"
                )
        elif not ids:
            raise ClinicalContentError(
                name, line, f"deficit {deficit_id!r} has neither code lists nor a rule"
            )
        _check_codelists_exist(ids, data_dir, name, line)
        out.append(
            Deficit(
                deficit_id=deficit_id,
                name=row["name"],
                codelists=ids,
                rule=rule,
                codes=_resolve_codes(ids, data_dir),
            )
        )
    if len(out) != EFI_DEFICIT_COUNT:
        raise ClinicalContentError(
            name,
            last_line,
            f"{len(out)} deficits; the electronic Frailty Index has exactly {EFI_DEFICIT_COUNT}",
        )
    return tuple(out)


def efi_deficits(data_dir: Traversable | None = None) -> list[Deficit]:
    """The 36 eFI deficits from ``data/efi_deficits.csv``, with their codes resolved."""
    return list(_efi_deficits(data_dir))


# ---------------------------------------------------------------------------------------------
# Medicines
# ---------------------------------------------------------------------------------------------

MEDICATION_COLUMNS = ("code", "term", "system", "indication")


@dataclass(frozen=True, slots=True)
class Medication:
    """A commonly prescribed primary-care medicine (a dm+d VMP concept) and what it treats.

    ``indication`` is a ``register_id`` or ``general``. The synthetic generator uses it to give
    patients on a register plausible repeat prescriptions, which in turn lets older
    multimorbid patients reach the eFI polypharmacy threshold.
    """

    code: str
    term: str
    system: str
    indication: str


@functools.cache
def _medications(data_dir: Traversable | None) -> tuple[Medication, ...]:
    name = "data/medications.csv"
    indications = {r.register_id for r in _registers(data_dir)} | {GENERAL_INDICATION}
    seen: dict[str, int] = {}
    out: list[Medication] = []
    for line, row in _rows(_resolve(data_dir), "medications.csv", MEDICATION_COLUMNS):
        code = row["code"]
        if row["system"] not in MEDICATION_SYSTEMS:
            raise ClinicalContentError(
                name,
                line,
                f"unknown system {row['system']!r}; expected {sorted(MEDICATION_SYSTEMS)}",
            )
        if not is_concept_id(code):
            raise ClinicalContentError(name, line, f"{code!r} is not a valid SNOMED CT concept id")
        if code in seen:
            raise ClinicalContentError(
                name, line, f"duplicate code {code} (first on line {seen[code]})"
            )
        seen[code] = line
        if not row["term"]:
            raise ClinicalContentError(name, line, f"code {code} has an empty term")
        if row["indication"] not in indications:
            raise ClinicalContentError(
                name,
                line,
                f"unknown indication {row['indication']!r}; expected a register_id from "
                f"data/registers.csv or {GENERAL_INDICATION!r}",
            )
        out.append(Medication(code, row["term"], row["system"], row["indication"]))
    return tuple(out)


def medications(data_dir: Traversable | None = None) -> list[Medication]:
    """The medicines in ``data/medications.csv``."""
    return list(_medications(data_dir))


# ---------------------------------------------------------------------------------------------
# Observations
# ---------------------------------------------------------------------------------------------

OBSERVATION_COLUMNS = ("observation_id", "code", "term", "unit")


@dataclass(frozen=True, slots=True)
class ObservationCode:
    """The SNOMED CT concept used to record one kind of numeric observation, and its unit."""

    observation_id: str
    code: str
    term: str
    unit: str


@functools.cache
def _observation_codes(data_dir: Traversable | None) -> tuple[ObservationCode, ...]:
    name = "data/observation_codes.csv"
    seen_ids: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    out: list[ObservationCode] = []
    for line, row in _rows(_resolve(data_dir), "observation_codes.csv", OBSERVATION_COLUMNS):
        observation_id, code = row["observation_id"], row["code"]
        if not _ID_PATTERN.match(observation_id):
            raise ClinicalContentError(name, line, f"invalid observation_id {observation_id!r}")
        if observation_id in seen_ids:
            raise ClinicalContentError(
                name,
                line,
                f"duplicate observation_id {observation_id!r} "
                f"(first on line {seen_ids[observation_id]})",
            )
        if not is_concept_id(code):
            raise ClinicalContentError(name, line, f"{code!r} is not a valid SNOMED CT concept id")
        if code in seen_codes:
            raise ClinicalContentError(
                name, line, f"duplicate code {code} (first on line {seen_codes[code]})"
            )
        if not row["term"] or not row["unit"]:
            raise ClinicalContentError(name, line, "term and unit must not be empty")
        seen_ids[observation_id] = line
        seen_codes[code] = line
        out.append(ObservationCode(observation_id, code, row["term"], row["unit"]))
    return tuple(out)


def observation_codes(data_dir: Traversable | None = None) -> dict[str, ObservationCode]:
    """The observation codes in ``data/observation_codes.csv``, keyed by ``observation_id``."""
    return {o.observation_id: o for o in _observation_codes(data_dir)}


# ---------------------------------------------------------------------------------------------
# Ethnicity
# ---------------------------------------------------------------------------------------------

ETHNICITY_COLUMNS = ("code", "name", "group", "england_share_pct")
_ETHNICITY_CODE = re.compile(r"^[A-Z]$")


@dataclass(frozen=True, slots=True)
class Ethnicity:
    """An NHS Data Dictionary ethnic category (A-S, Z) and its approximate share of England."""

    code: str
    name: str
    group: str
    england_share_pct: float


@functools.cache
def _ethnicities(data_dir: Traversable | None) -> tuple[Ethnicity, ...]:
    name = "data/ethnicity.csv"
    seen: dict[str, int] = {}
    out: list[Ethnicity] = []
    last_line = 1
    for line, row in _rows(_resolve(data_dir), "ethnicity.csv", ETHNICITY_COLUMNS):
        last_line = line
        code = row["code"]
        if not _ETHNICITY_CODE.match(code):
            raise ClinicalContentError(name, line, f"code {code!r} is not a single capital letter")
        if code in seen:
            raise ClinicalContentError(
                name, line, f"duplicate code {code!r} (first on line {seen[code]})"
            )
        seen[code] = line
        try:
            share = float(row["england_share_pct"])
        except ValueError:
            raise ClinicalContentError(
                name, line, f"england_share_pct {row['england_share_pct']!r} is not a number"
            ) from None
        if not 0 <= share <= 100:
            raise ClinicalContentError(name, line, "england_share_pct must be between 0 and 100")
        out.append(Ethnicity(code, row["name"], row["group"], share))
    total = sum(e.england_share_pct for e in out)
    if out and not 99.0 <= total <= 101.0:
        raise ClinicalContentError(
            name, last_line, f"england_share_pct sums to {total:.2f}; expected about 100"
        )
    return tuple(out)


def ethnicities(data_dir: Traversable | None = None) -> list[Ethnicity]:
    """The ethnic categories in ``data/ethnicity.csv``, in file order."""
    return list(_ethnicities(data_dir))


# ---------------------------------------------------------------------------------------------
# Treatment functions (outpatient specialties)
# ---------------------------------------------------------------------------------------------

TREATMENT_FUNCTION_COLUMNS = ("code", "name")
_TREATMENT_FUNCTION_CODE = re.compile(r"^[0-9]{3}$")


@functools.cache
def _treatment_functions(data_dir: Traversable | None) -> tuple[tuple[str, str], ...]:
    name = "data/treatment_functions.csv"
    seen: dict[str, int] = {}
    out: list[tuple[str, str]] = []
    for line, row in _rows(
        _resolve(data_dir), "treatment_functions.csv", TREATMENT_FUNCTION_COLUMNS
    ):
        code = row["code"]
        if not _TREATMENT_FUNCTION_CODE.match(code):
            raise ClinicalContentError(name, line, f"code {code!r} is not three digits")
        if code in seen:
            raise ClinicalContentError(
                name, line, f"duplicate code {code!r} (first on line {seen[code]})"
            )
        if not row["name"]:
            raise ClinicalContentError(name, line, f"code {code!r} has no name")
        seen[code] = line
        out.append((code, row["name"]))
    return tuple(out)


def treatment_functions(data_dir: Traversable | None = None) -> dict[str, str]:
    """NHS treatment function code -> name (``data/treatment_functions.csv``): the names of
    the outpatient specialties the indicators break down by."""
    return dict(_treatment_functions(data_dir))


# ---------------------------------------------------------------------------------------------
# Results on the single patient view
# ---------------------------------------------------------------------------------------------

RECORD_RESULT_COLUMNS = ("result_id", "label", "component", "system", "code", "unit")
RECORD_RESULT_COMPONENTS = frozenset({"value", "systolic", "diastolic"})
"""``value`` for a single measurement; ``systolic`` and ``diastolic`` together for a blood
pressure, shown as one reading (systolic/diastolic) per date."""
RECORD_RESULT_SYSTEMS = frozenset({"snomed", "loinc"})
_LOINC_CODE = re.compile(r"^[0-9]{1,7}-[0-9]$")


@dataclass(frozen=True, slots=True)
class RecordResultCode:
    """One observation code that counts as a result shown on the patient page, and the unit
    assumed when a record carries none."""

    result_id: str
    label: str
    component: str
    system: str
    code: str
    unit: str


@functools.cache
def _record_results(data_dir: Traversable | None) -> tuple[RecordResultCode, ...]:
    name = "data/record_results.csv"
    seen: dict[tuple[str, str], int] = {}
    labels: dict[str, str] = {}
    components: dict[str, set[str]] = {}
    out: list[RecordResultCode] = []
    for line, row in _rows(_resolve(data_dir), "record_results.csv", RECORD_RESULT_COLUMNS):
        result_id, component, system, code = (
            row["result_id"], row["component"], row["system"], row["code"]
        )  # fmt: skip
        if not _ID_PATTERN.match(result_id):
            raise ClinicalContentError(name, line, f"invalid result_id {result_id!r}")
        if not row["label"] or not row["unit"]:
            raise ClinicalContentError(name, line, "label and unit must not be empty")
        if labels.setdefault(result_id, row["label"]) != row["label"]:
            raise ClinicalContentError(
                name, line, f"result {result_id!r} has two labels: {labels[result_id]!r}"
            )
        if component not in RECORD_RESULT_COMPONENTS:
            raise ClinicalContentError(
                name,
                line,
                f"unknown component {component!r}; "
                f"expected one of {sorted(RECORD_RESULT_COMPONENTS)}",
            )
        if system not in RECORD_RESULT_SYSTEMS:
            raise ClinicalContentError(
                name, line, f"system {system!r} is not one of {sorted(RECORD_RESULT_SYSTEMS)}"
            )
        if system == "snomed" and not is_concept_id(code):
            raise ClinicalContentError(name, line, f"{code!r} is not a valid SNOMED CT concept id")
        if system == "loinc" and not _LOINC_CODE.match(code):
            raise ClinicalContentError(name, line, f"{code!r} is not a LOINC code (NNNNN-N)")
        if (system, code) in seen:
            raise ClinicalContentError(
                name, line, f"duplicate {system} code {code} (first on line {seen[system, code]})"
            )
        seen[system, code] = line
        components.setdefault(result_id, set()).add(component)
        out.append(RecordResultCode(result_id, row["label"], component, system, code, row["unit"]))
    for result_id, parts in components.items():
        if parts not in ({"value"}, {"systolic", "diastolic"}):
            raise ClinicalContentError(
                name,
                None,
                f"result {result_id!r} has components {sorted(parts)}; expected 'value' "
                "alone or 'systolic' with 'diastolic'",
            )
    return tuple(out)


def record_results(data_dir: Traversable | None = None) -> list[RecordResultCode]:
    """The observation codes shown as recent results on the patient page
    (``data/record_results.csv``), in file order: the order the page lists them."""
    return list(_record_results(data_dir))
