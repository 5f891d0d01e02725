"""Local QOF schemes: one TOML file per scheme version in ``data/schemes/``, read into frozen
objects and checked when loaded (``docs/clinical-content.md`` describes the format).

A scheme names indicators of the indicator library (``data/indicators/``) by id; each line adds
what payment needs: thresholds, points, pounds per point, the personalised care adjustments
(exceptions) and whether the prevalence factor applies. Only patient-level proportions can be
paid on (a numerator of people over a denominator of people), as in QOF.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from wraparound import clinical
from wraparound.analytics.indicators import definition
from wraparound.analytics.indicators.definition import Indicator

LIST_SIZE_ADJUSTMENTS = ("cpi", "none")
EXCEPTION_KINDS = ("codelist", "registered_within_months", "diagnosed_within_months")
_TOP = {
    "id",
    "version",
    "title",
    "year",
    "author",
    "review_date",
    "description",
    "pounds_per_point",
    "adjustments",
    "indicators",
}
_ADJ = {"list_size", "average_list_size"}
_LINE = {
    "code",
    "indicator",
    "title",
    "lower",
    "upper",
    "points",
    "pounds_per_point",
    "prevalence_reference_pct",
    "exceptions",
    "action",
}


class SchemeError(ValueError):
    """A scheme file that does not say what a payment needs, naming the file and key."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Exception_:
    """One personalised care adjustment: ``kind`` (``EXCEPTION_KINDS``) and its argument (a
    code list id for ``codelist``, months otherwise); ``within_months`` for a code list."""

    kind: str
    arg: str | int
    within_months: int | None = None


@dataclass(frozen=True)
class Line:
    """One indicator of a scheme, as paid."""

    code: str
    indicator: Indicator
    title: str
    lower: float  # percent
    upper: float  # percent
    points: float
    pounds_per_point: float
    prevalence_reference_pct: float | None  # None: no prevalence factor (APF = 1)
    exceptions: tuple[Exception_, ...]
    action: str  # what would close the gap, for the action list


@dataclass(frozen=True)
class Scheme:
    id: str
    version: int
    title: str
    year: int  # the scheme year runs 1 April ``year`` to 31 March ``year + 1``
    author: str
    review_date: dt.date
    description: str
    list_size: str  # "cpi" or "none"
    average_list_size: float | None
    lines: tuple[Line, ...]
    sha256: str

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, 4, 1)

    @property
    def last_day(self) -> dt.date:
        return dt.date(self.year + 1, 3, 31)

    @property
    def label(self) -> str:
        return f"{self.year}/{(self.year + 1) % 100:02d}"

    @property
    def max_points(self) -> float:
        return sum(line.points for line in self.lines)


def _number(path: str, raw: dict, key: str, where: str, positive: bool = False) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemeError(path, f"{where}{key} must be a number")
    if value < 0 or (positive and value == 0):
        raise SchemeError(path, f"{where}{key} must be {'above' if positive else 'at least'} 0")
    return float(value)


def _exceptions(path: str, raw, where: str, indicator: Indicator) -> tuple[Exception_, ...]:
    if not isinstance(raw, list):
        raise SchemeError(path, f"{where}exceptions must be a list of tables")
    out = []
    codelists = set(clinical.codelist_ids())
    for i, item in enumerate(raw):
        at = f"{where}exceptions[{i}]: "
        if not isinstance(item, dict):
            raise SchemeError(path, f"{at}must be a table")
        kinds = [k for k in item if k in EXCEPTION_KINDS]
        unknown = set(item) - set(EXCEPTION_KINDS) - {"within_months"}
        if unknown or len(kinds) != 1:
            raise SchemeError(
                path, f"{at}needs exactly one of {', '.join(EXCEPTION_KINDS)} (and within_months)"
            )
        kind = kinds[0]
        if kind == "codelist":
            if item["codelist"] not in codelists:
                raise SchemeError(path, f"{at}unknown code list {item['codelist']!r}")
            months = item.get("within_months")
            if not isinstance(months, int) or isinstance(months, bool) or months < 1:
                raise SchemeError(path, f"{at}a code list needs within_months (1 or more)")
            out.append(Exception_(kind, item["codelist"], months))
            continue
        if "within_months" in item:
            raise SchemeError(path, f"{at}within_months belongs to a code list only")
        months = item[kind]
        if not isinstance(months, int) or isinstance(months, bool) or months < 1:
            raise SchemeError(path, f"{at}{kind} must be a whole number of months (1 or more)")
        if kind == "diagnosed_within_months" and not indicator.denominator.registers:
            raise SchemeError(path, f"{at}diagnosed_within_months needs a register denominator")
        out.append(Exception_(kind, months))
    return tuple(out)


def parse(text: str, path: str, library: dict[str, Indicator] | None = None) -> Scheme:
    """A scheme from its TOML text; ``path`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemeError(path, f"not valid TOML: {exc}") from exc
    library = library if library is not None else {i.id: i for i in definition.load()}
    unknown = set(raw) - _TOP
    if unknown:
        raise SchemeError(path, f"unknown key {sorted(unknown)[0]!r}")
    for key in ("id", "title", "author", "description"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise SchemeError(path, f"{key} must be a non-empty string")
    for key in ("version", "year"):
        if not isinstance(raw.get(key), int) or isinstance(raw[key], bool) or raw[key] < 1:
            raise SchemeError(path, f"{key} must be a whole number")
    if not isinstance(raw.get("review_date"), dt.date):
        raise SchemeError(path, "review_date must be a date (YYYY-MM-DD)")
    adj = raw.get("adjustments", {})
    if not isinstance(adj, dict) or set(adj) - _ADJ:
        raise SchemeError(path, f"adjustments may have only {', '.join(sorted(_ADJ))}")
    list_size = adj.get("list_size", "none")
    if list_size not in LIST_SIZE_ADJUSTMENTS:
        raise SchemeError(
            path, f"adjustments.list_size must be one of {', '.join(LIST_SIZE_ADJUSTMENTS)}"
        )
    average = None
    if list_size == "cpi":
        average = _number(path, adj, "average_list_size", "adjustments.", positive=True)
    default_ppp = raw.get("pounds_per_point")
    lines_raw = raw.get("indicators")
    if not isinstance(lines_raw, list) or not lines_raw:
        raise SchemeError(path, "indicators must be a non-empty array of tables")
    lines, codes = [], set()
    for i, item in enumerate(lines_raw):
        where = f"indicators[{i}]."
        if not isinstance(item, dict):
            raise SchemeError(path, f"indicators[{i}] must be a table")
        if set(item) - _LINE:
            raise SchemeError(path, f"{where}unknown key {sorted(set(item) - _LINE)[0]!r}")
        code = item.get("code")
        if not isinstance(code, str) or not code or code in codes:
            raise SchemeError(path, f"{where}code must be a non-empty string, unique")
        codes.add(code)
        ref = item.get("indicator")
        if ref not in library:
            raise SchemeError(path, f"{where}indicator {ref!r} is not in the indicator library")
        indicator = library[ref]
        if indicator.type != "proportion" or indicator.denominator.unit != "patients":
            raise SchemeError(
                path, f"{where}indicator {ref!r} is not a proportion of patients: cannot be paid"
            )
        lower = _number(path, item, "lower", where)
        upper = _number(path, item, "upper", where)
        if not lower < upper <= 100:
            raise SchemeError(path, f"{where}thresholds need lower < upper <= 100")
        ppp = item.get("pounds_per_point", default_ppp)
        ppp = _number(path, {"pounds_per_point": ppp}, "pounds_per_point", where)
        ref_pct = item.get("prevalence_reference_pct")
        if ref_pct is not None:
            ref_pct = _number(path, item, "prevalence_reference_pct", where, positive=True)
        action = item.get("action")
        if not isinstance(action, str) or not action.strip():
            raise SchemeError(path, f"{where}action must say what would close the gap")
        lines.append(
            Line(
                code=code,
                indicator=indicator,
                title=item.get("title") or indicator.title,
                lower=lower,
                upper=upper,
                points=_number(path, item, "points", where, positive=True),
                pounds_per_point=ppp,
                prevalence_reference_pct=ref_pct,
                exceptions=_exceptions(path, item.get("exceptions", []), where, indicator),
                action=action.strip(),
            )
        )
    return Scheme(
        id=raw["id"],
        version=raw["version"],
        title=raw["title"],
        year=raw["year"],
        author=raw["author"],
        review_date=raw["review_date"],
        description=raw["description"].strip(),
        list_size=list_size,
        average_list_size=average,
        lines=tuple(lines),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def package_dir() -> Traversable:
    return files("wraparound").joinpath("data").joinpath("schemes")


def load(directory: Traversable | Path | None = None) -> tuple[Scheme, ...]:
    """Every ``*.toml`` scheme in the directory (the packaged ones by default), by id then
    version."""
    directory = package_dir() if directory is None else directory
    found = sorted(p for p in directory.iterdir() if p.name.endswith(".toml"))
    library = {i.id: i for i in definition.load()}
    schemes = [
        parse(p.read_text(encoding="utf-8"), f"data/schemes/{p.name}", library) for p in found
    ]
    return tuple(sorted(schemes, key=lambda s: (s.id, s.version)))


def current(scheme_id: str | None = None) -> Scheme:
    """The newest version of ``scheme_id`` (or of the only scheme there is)."""
    schemes = load()
    ids = sorted({s.id for s in schemes})
    if scheme_id is None:
        if len(ids) != 1:
            raise SchemeError("data/schemes", f"name a scheme: {', '.join(ids)}")
        scheme_id = ids[0]
    versions = [s for s in schemes if s.id == scheme_id]
    if not versions:
        raise SchemeError("data/schemes", f"no scheme {scheme_id!r} (have {', '.join(ids)})")
    return versions[-1]
