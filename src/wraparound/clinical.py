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

Every content type is a ``ContentType``: its file, its exact columns, the checks each row must
pass (uniqueness, identifier patterns, allowed values, SNOMED CT concept ids...), how a row
becomes a value and a check over the whole file. One loader, ``load``, reads them all, so
every file gets the same header, field-count, duplicate and error-message handling.

Every public reader takes an optional ``data_dir``. Production code leaves it out and reads the
package's own data; tests pass a temporary copy to check that broken files are rejected.
Cached results are shared, so callers must not mutate what they get back: the loaders return
tuples and frozen dataclasses for that reason, and ``codelist`` returns a fresh list.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Generic, TypeVar

T = TypeVar("T")

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


Row = dict[str, str]
Check = Callable[[int, Row], "str | None"]
"""A row check: given the line number and the row, the problem with it, or ``None``."""


@dataclass(frozen=True)
class ContentType(Generic[T]):
    """How one kind of content file is read: where it is, its exact columns, the checks each
    row must pass (in order; the first problem is the one reported), how a checked row becomes
    a value, and a check over the whole file.

    ``checks`` is called once per load, with the ``data_dir``, so that checks may look at other
    content (a register's code lists must exist) and keep state (duplicates) for one load only.
    ``whole`` gets the values and the last line read and returns ``(line, problem)`` or ``None``.
    """

    relative: str
    columns: tuple[str, ...]
    checks: Callable[[Traversable | None], list[Check]]
    build: Callable[[Row, Traversable | None], T]
    whole: Callable[[list[T], int], tuple[int | None, str] | None] = lambda _values, _line: None

    @property
    def name(self) -> str:
        return f"data/{self.relative}"


@functools.cache
def load(content: ContentType[T], data_dir: Traversable | None = None) -> tuple[T, ...]:
    """Every row of one content file, checked and built, in file order (parsed once per
    process and content type). The one reader of every CSV content type below."""
    checks = content.checks(data_dir)
    out: list[T] = []
    last_line = 1
    for line, row in _rows(_resolve(data_dir), content.relative, content.columns):
        last_line = line
        for check in checks:
            problem = check(line, row)
            if problem is not None:
                raise ClinicalContentError(content.name, line, problem)
        out.append(content.build(row, data_dir))
    problem = content.whole(out, last_line)
    if problem is not None:
        raise ClinicalContentError(content.name, *problem)
    return tuple(out)


def unique(*columns: str, message: str) -> Check:
    """No two rows share these columns' values. ``message`` is formatted with the row's fields
    (``{code}``, ``{code!r}``) and followed by where the first one was."""
    seen: dict[tuple[str, ...], int] = {}

    def check(line: int, row: Row) -> str | None:
        key = tuple(row[c] for c in columns)
        if key in seen:
            return f"{message.format(**row)} (first on line {seen[key]})"
        seen[key] = line
        return None

    return check


def matches(column: str, pattern: re.Pattern, message: str) -> Check:
    """The column's value matches ``pattern``; else ``message`` formatted with the row."""
    return lambda _line, row: None if pattern.match(row[column]) else message.format(**row)


def one_of(column: str, allowed: frozenset[str], message: str) -> Check:
    """The column's value is one of ``allowed``; ``message`` may name ``{allowed}``."""
    return lambda _line, row: (
        None if row[column] in allowed else message.format(allowed=sorted(allowed), **row)
    )


def concept(column: str, message: str = "{code!r} is not a valid SNOMED CT concept id") -> Check:
    """The column's value is a SNOMED CT concept id (``is_concept_id``)."""
    return lambda _line, row: None if is_concept_id(row[column]) else message.format(**row)


def present(*columns: str, message: str) -> Check:
    """None of these columns is empty."""
    return lambda _line, row: None if all(row[c] for c in columns) else message.format(**row)


def rule(predicate: Callable[[Row], bool], message: str) -> Check:
    """Any other row rule: ``predicate`` true means the row is bad."""
    return lambda _line, row: message.format(**row) if predicate(row) else None


def _codelists_exist(data_dir: Traversable | None) -> Check:
    """Every code list named in the row's ``codelists`` has a file."""

    def check(_line: int, row: Row) -> str | None:
        known = set(codelist_ids(data_dir))
        for codelist_id in _split_ids(row["codelists"]):
            if codelist_id not in known:
                return (
                    f"unknown code list {codelist_id!r} "
                    f"(no file data/{_CODELIST_DIR}/{codelist_id}.csv)"
                )
        return None

    return check


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
    return load(_codelist_content(f"{_CODELIST_DIR}/{codelist_id}.csv"), data_dir)


@functools.cache
def _codelist_content(relative: str) -> ContentType[CodelistEntry]:
    return ContentType(
        relative,
        ("code", "term"),
        lambda _data_dir: [
            concept(
                "code",
                "{code!r} is not a valid SNOMED CT concept id "
                "(digits, partition 00 or 10, Verhoeff check digit)",
            ),
            present("term", message="code {code} has an empty term"),
            unique("code", message="duplicate code {code}"),
        ],
        lambda row, _data_dir: CodelistEntry(row["code"], row["term"]),
    )


def codelist(codelist_id: str, data_dir: Traversable | None = None) -> list[str]:
    """The SNOMED CT concept ids in code list ``codelist_id`` (a fresh list each call)."""
    return [entry.code for entry in codelist_entries(codelist_id, data_dir)]


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


def _register_numbers_bad(row: Row) -> str | None:
    try:
        min_age = int(row["min_age"])
        prevalence = float(row["prevalence_pct"])
    except ValueError as exc:
        return f"min_age/prevalence_pct: {exc}"
    if min_age < 0 or not 0 <= prevalence <= 100:
        return "min_age must be >= 0 and prevalence_pct between 0 and 100"
    return None


def _register(row: Row, data_dir: Traversable | None) -> Register:
    ids = _split_ids(row["codelists"])
    return Register(
        register_id=row["register_id"],
        name=row["name"],
        codelists=ids,
        rule=row["rule"],
        min_age=int(row["min_age"]),
        prevalence_pct=float(row["prevalence_pct"]),
        prevalence_source=row["prevalence_source"],
        checked=row["checked"] == "true",
        codes=_resolve_codes(ids, data_dir),
    )


REGISTERS = ContentType(
    "registers.csv",
    REGISTER_COLUMNS,
    lambda data_dir: [
        matches("register_id", _ID_PATTERN, "invalid register_id {register_id!r}"),
        unique("register_id", message="duplicate register_id {register_id!r}"),
        one_of("rule", REGISTER_RULES, "unknown rule {rule!r}; expected one of {allowed}"),
        rule(
            lambda row: row["rule"] == "codes" and not _split_ids(row["codelists"]),
            "rule 'codes' needs at least one code list",
        ),
        _codelists_exist(data_dir),
        lambda _line, row: _register_numbers_bad(row),
        one_of(
            "checked",
            frozenset({"true", "false"}),
            "checked must be 'true' or 'false', not {checked!r}",
        ),
    ],
    _register,
)


def registers(data_dir: Traversable | None = None) -> list[Register]:
    """Every condition register in ``data/registers.csv``, with its code lists resolved."""
    return list(load(REGISTERS, data_dir))


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


def _deficit_rule_bad(row: Row) -> str | None:
    deficit_id, rule_name = row["deficit_id"], row["rule"]
    ids = _split_ids(row["codelists"])
    if rule_name:
        if rule_name not in EFI_DEFICIT_RULES:
            return f"unknown rule {rule_name!r}; expected one of {sorted(EFI_DEFICIT_RULES)}"
        if ids:
            return f"deficit {deficit_id!r} has rule {rule_name!r} and code lists; give one"
    elif not ids:
        return f"deficit {deficit_id!r} has neither code lists nor a rule"
    return None


def _deficit(row: Row, data_dir: Traversable | None) -> Deficit:
    ids = _split_ids(row["codelists"])
    return Deficit(
        deficit_id=row["deficit_id"],
        name=row["name"],
        codelists=ids,
        rule=row["rule"],
        codes=_resolve_codes(ids, data_dir),
    )


def _thirty_six(deficits: list[Deficit], last_line: int) -> tuple[int, str] | None:
    if len(deficits) == EFI_DEFICIT_COUNT:
        return None
    return (
        last_line,
        f"{len(deficits)} deficits; the electronic Frailty Index has exactly {EFI_DEFICIT_COUNT}",
    )


EFI_DEFICITS = ContentType(
    "efi_deficits.csv",
    EFI_COLUMNS,
    lambda data_dir: [
        matches("deficit_id", _ID_PATTERN, "invalid deficit_id {deficit_id!r}"),
        unique("deficit_id", message="duplicate deficit_id {deficit_id!r}"),
        lambda _line, row: _deficit_rule_bad(row),
        _codelists_exist(data_dir),
    ],
    _deficit,
    _thirty_six,
)


def efi_deficits(data_dir: Traversable | None = None) -> list[Deficit]:
    """The 36 eFI deficits from ``data/efi_deficits.csv``, with their codes resolved."""
    return list(load(EFI_DEFICITS, data_dir))


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


def _indications(data_dir: Traversable | None) -> Check:
    indications = {r.register_id for r in load(REGISTERS, data_dir)} | {GENERAL_INDICATION}
    return one_of(
        "indication",
        frozenset(indications),
        "unknown indication {indication!r}; expected a register_id from "
        f"data/registers.csv or {GENERAL_INDICATION!r}",
    )


MEDICATIONS = ContentType(
    "medications.csv",
    MEDICATION_COLUMNS,
    lambda data_dir: [
        one_of("system", MEDICATION_SYSTEMS, "unknown system {system!r}; expected {allowed}"),
        concept("code"),
        unique("code", message="duplicate code {code}"),
        present("term", message="code {code} has an empty term"),
        _indications(data_dir),
    ],
    lambda row, _data_dir: Medication(row["code"], row["term"], row["system"], row["indication"]),
)


def medications(data_dir: Traversable | None = None) -> list[Medication]:
    """The medicines in ``data/medications.csv``."""
    return list(load(MEDICATIONS, data_dir))


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


OBSERVATION_CODES = ContentType(
    "observation_codes.csv",
    OBSERVATION_COLUMNS,
    lambda _data_dir: [
        matches("observation_id", _ID_PATTERN, "invalid observation_id {observation_id!r}"),
        unique("observation_id", message="duplicate observation_id {observation_id!r}"),
        concept("code"),
        unique("code", message="duplicate code {code}"),
        present("term", "unit", message="term and unit must not be empty"),
    ],
    lambda row, _data_dir: ObservationCode(
        row["observation_id"], row["code"], row["term"], row["unit"]
    ),
)


def observation_codes(data_dir: Traversable | None = None) -> dict[str, ObservationCode]:
    """The observation codes in ``data/observation_codes.csv``, keyed by ``observation_id``."""
    return {o.observation_id: o for o in load(OBSERVATION_CODES, data_dir)}


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


def _share_bad(row: Row) -> str | None:
    try:
        share = float(row["england_share_pct"])
    except ValueError:
        return f"england_share_pct {row['england_share_pct']!r} is not a number"
    if not 0 <= share <= 100:
        return "england_share_pct must be between 0 and 100"
    return None


def _shares_sum_to_100(out: list[Ethnicity], last_line: int) -> tuple[int, str] | None:
    total = sum(e.england_share_pct for e in out)
    if out and not 99.0 <= total <= 101.0:
        return last_line, f"england_share_pct sums to {total:.2f}; expected about 100"
    return None


ETHNICITIES = ContentType(
    "ethnicity.csv",
    ETHNICITY_COLUMNS,
    lambda _data_dir: [
        matches("code", _ETHNICITY_CODE, "code {code!r} is not a single capital letter"),
        unique("code", message="duplicate code {code!r}"),
        lambda _line, row: _share_bad(row),
    ],
    lambda row, _data_dir: Ethnicity(
        row["code"], row["name"], row["group"], float(row["england_share_pct"])
    ),
    _shares_sum_to_100,
)


def ethnicities(data_dir: Traversable | None = None) -> list[Ethnicity]:
    """The ethnic categories in ``data/ethnicity.csv``, in file order."""
    return list(load(ETHNICITIES, data_dir))


# ---------------------------------------------------------------------------------------------
# Treatment functions (outpatient specialties)
# ---------------------------------------------------------------------------------------------

TREATMENT_FUNCTION_COLUMNS = ("code", "name")
_TREATMENT_FUNCTION_CODE = re.compile(r"^[0-9]{3}$")


TREATMENT_FUNCTIONS = ContentType(
    "treatment_functions.csv",
    TREATMENT_FUNCTION_COLUMNS,
    lambda _data_dir: [
        matches("code", _TREATMENT_FUNCTION_CODE, "code {code!r} is not three digits"),
        unique("code", message="duplicate code {code!r}"),
        present("name", message="code {code!r} has no name"),
    ],
    lambda row, _data_dir: (row["code"], row["name"]),
)


def treatment_functions(data_dir: Traversable | None = None) -> dict[str, str]:
    """NHS treatment function code -> name (``data/treatment_functions.csv``): the names of
    the outpatient specialties the indicators break down by."""
    return dict(load(TREATMENT_FUNCTIONS, data_dir))


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


def _one_label() -> Check:
    """Every row of one result has the same label."""
    labels: dict[str, str] = {}

    def check(_line: int, row: Row) -> str | None:
        result_id = row["result_id"]
        if labels.setdefault(result_id, row["label"]) != row["label"]:
            return f"result {result_id!r} has two labels: {labels[result_id]!r}"
        return None

    return check


def _code_of_system(_line: int, row: Row) -> str | None:
    system, code = row["system"], row["code"]
    if system == "snomed" and not is_concept_id(code):
        return f"{code!r} is not a valid SNOMED CT concept id"
    if system == "loinc" and not _LOINC_CODE.match(code):
        return f"{code!r} is not a LOINC code (NNNNN-N)"
    return None


def _components_pair(out: list[RecordResultCode], _last_line: int) -> tuple[None, str] | None:
    components: dict[str, set[str]] = {}
    for r in out:
        components.setdefault(r.result_id, set()).add(r.component)
    for result_id, parts in components.items():
        if parts not in ({"value"}, {"systolic", "diastolic"}):
            return (
                None,
                f"result {result_id!r} has components {sorted(parts)}; expected 'value' "
                "alone or 'systolic' with 'diastolic'",
            )
    return None


RECORD_RESULTS = ContentType(
    "record_results.csv",
    RECORD_RESULT_COLUMNS,
    lambda _data_dir: [
        matches("result_id", _ID_PATTERN, "invalid result_id {result_id!r}"),
        present("label", "unit", message="label and unit must not be empty"),
        _one_label(),
        one_of(
            "component",
            RECORD_RESULT_COMPONENTS,
            "unknown component {component!r}; expected one of {allowed}",
        ),
        one_of("system", RECORD_RESULT_SYSTEMS, "system {system!r} is not one of {allowed}"),
        _code_of_system,
        unique("system", "code", message="duplicate {system} code {code}"),
    ],
    lambda row, _data_dir: RecordResultCode(
        row["result_id"], row["label"], row["component"], row["system"], row["code"], row["unit"]
    ),
    _components_pair,
)


def record_results(data_dir: Traversable | None = None) -> list[RecordResultCode]:
    """The observation codes shown as recent results on the patient page
    (``data/record_results.csv``), in file order: the order the page lists them."""
    return list(load(RECORD_RESULTS, data_dir))


# ---------------------------------------------------------------------------------------------
# Allergies
# ---------------------------------------------------------------------------------------------

ALLERGY_COLUMNS = (
    "group",
    "code",
    "term",
    "category",
    "type",
    "criticality",
    "reaction_code",
    "reaction_term",
    "reaction_severity",
    "adult_percent",
    "child_percent",
)
NO_KNOWN_ALLERGY_GROUP = "no_known"
"""The group of codes that record that the patient has no known allergies (a finding the
practice recorded), as against no allergy being recorded at all."""
_ALLERGY_CATEGORIES = frozenset({"food", "medication", "environment", "biologic"})
_ALLERGY_TYPES = frozenset({"allergy", "intolerance"})
_ALLERGY_CRITICALITIES = frozenset({"low", "high", "unable-to-assess"})
_SEVERITIES = frozenset({"mild", "moderate", "severe"})


@dataclass(frozen=True, slots=True)
class AllergyCode:
    """A SNOMED CT allergy code: its group (a drug class, a food, ``no_known``), term, the
    FHIR category, type and criticality it is recorded with, a typical reaction, and the
    share of adults and of children (under 18) the synthetic locality records it for (for
    ``no_known`` codes: the share of those with no allergy)."""

    group: str
    code: str
    term: str
    category: str
    type: str
    criticality: str
    reaction_code: str
    reaction_term: str
    reaction_severity: str
    adult_percent: float
    child_percent: float

    @property
    def no_known(self) -> bool:
        return self.group == NO_KNOWN_ALLERGY_GROUP


def _allergy_row_bad(row: Row) -> str | None:
    for column in ("adult_percent", "child_percent"):
        try:
            value = float(row[column])
        except ValueError:
            return f"{column} {row[column]!r} is not a number"
        if not 0 <= value <= 100:
            return f"{column} {value} is not a percentage (0 to 100)"
    if row["group"] == NO_KNOWN_ALLERGY_GROUP:
        filled = [c for c in ALLERGY_COLUMNS[3:9] if row[c]]
        return f"a no_known code has no {', '.join(filled)}" if filled else None
    checks = (
        ("category", _ALLERGY_CATEGORIES),
        ("type", _ALLERGY_TYPES),
        ("criticality", _ALLERGY_CRITICALITIES),
        ("reaction_severity", _SEVERITIES),
    )
    for column, allowed in checks:
        if row[column] not in allowed:
            return f"{column} {row[column]!r} is not one of {sorted(allowed)}"
    if not is_concept_id(row["reaction_code"]) or not row["reaction_term"]:
        return f"reaction {row['reaction_code']!r} needs a SNOMED CT concept id and a term"
    return None


def _no_known_shares(out: list[AllergyCode], last_line: int) -> tuple[int, str] | None:
    for column in ("adult_percent", "child_percent"):
        total = sum(getattr(a, column) for a in out if a.no_known)
        if total > 100:
            return last_line, f"no_known codes' {column} add up to {total}, over 100"
    return None


ALLERGIES = ContentType(
    "allergies.csv",
    ALLERGY_COLUMNS,
    lambda _data_dir: [
        matches("group", _ID_PATTERN, "invalid group {group!r}"),
        concept("code"),
        unique("code", message="duplicate code {code}"),
        present("term", message="code {code} has an empty term"),
        lambda _line, row: _allergy_row_bad(row),
    ],
    lambda row, _data_dir: AllergyCode(
        *(row[c] for c in ALLERGY_COLUMNS[:9]),
        float(row["adult_percent"]),
        float(row["child_percent"]),
    ),
    _no_known_shares,
)


def allergies(data_dir: Traversable | None = None) -> list[AllergyCode]:
    """The allergy codes in ``data/allergies.csv``, in file order: their terms for the record,
    which codes mean "no known allergies", and the synthetic locality's shares."""
    return list(load(ALLERGIES, data_dir))
