"""Outreach cohorts as data (``data/outreach/*.toml``; format in docs/clinical-content.md,
"Outreach cohorts"), read and checked.

A cohort is a population (registered and alive on the build date, ``min_age``/``max_age``,
``registers``: any of, ids of data/registers.csv) and ``[[criteria]]``, every one of which
must hold. Criteria over the warehouse (compiled to Ibis through the engine, ``build.py``):

- ``{ no_procedure = CODELIST, since = "season", season_start = "MM-DD" }`` or
  ``{ no_procedure = CODELIST, within_months = N }``: no procedure of the code list in the
  window (``season``: since the latest ``season_start`` on or before the build date);
- ``{ medication_issued = CODELIST, within_months = N }``: an issue of a code of the list;
- ``{ missed_appointments = N, within_months = M }``: at least N GP or hub appointments not
  attended in M months, the warehouse's and the app's own hub appointments together.

Criteria over the app's state (after the warehouse query, in the app database):

- ``{ risk_stream = [STREAM, ...] }``: in one of the streams in the current register run;
- ``{ no_care_plan = true }``: no agreed care-plan version in the app.

``direct_care = true`` says the outreach is for the patient's own care (an invitation to a
vaccination, screening, a medicine review, a care plan), which the national data opt-out
does not restrict; ``false`` leaves opted-out patients out of the list.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from dataclasses import dataclass, field

from wraparound import clinical, vocabulary
from wraparound.clinical import package_data_dir

KINDS = ("vaccination", "screening", "medicine_review", "recall", "care_planning")
WAREHOUSE_OPS = ("no_procedure", "medication_issued", "missed_appointments")
APP_OPS = ("risk_stream", "no_care_plan")
ID = re.compile(r"^[a-z][a-z0-9_]{2,60}$")
TOP_KEYS = {
    "id",
    "version",
    "title",
    "description",
    "kind",
    "direct_care",
    "what",
    "how_to_book",
    "author",
    "review_date",
    "population",
    "criteria",
}


class CohortError(ValueError):
    """A cohort file is malformed, or no cohort has the id asked for."""


@dataclass(frozen=True)
class Criterion:
    op: str
    arg: object
    within_months: int | None = None
    season_start: tuple[int, int] | None = None

    def window_start(self, on: dt.date) -> dt.date | None:
        """The first day the criterion looks back to, on the build date ``on``."""
        if self.season_start is not None:
            month, day = self.season_start
            start = dt.date(on.year, month, day)
            return start if start <= on else dt.date(on.year - 1, month, day)
        if self.within_months is not None:
            total = on.year * 12 + on.month - 1 - self.within_months
            year, month = divmod(total, 12)
            return dt.date(year, month + 1, min(on.day, 28))
        return None


@dataclass(frozen=True)
class Cohort:
    id: str
    version: int
    title: str
    description: str
    kind: str
    direct_care: bool
    what: str
    how_to_book: str
    min_age: int | None = None
    max_age: int | None = None
    registers: tuple[str, ...] = ()
    criteria: tuple[Criterion, ...] = field(default_factory=tuple)

    @property
    def warehouse_criteria(self) -> list[Criterion]:
        return [c for c in self.criteria if c.op in WAREHOUSE_OPS]

    @property
    def app_criteria(self) -> list[Criterion]:
        return [c for c in self.criteria if c.op in APP_OPS]


def _months(value, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 120:
        raise CohortError(f"{where}: within_months must be 1 to 120")
    return value


def _criterion(raw: dict, where: str) -> Criterion:
    if not isinstance(raw, dict):
        raise CohortError(f"{where}: a criterion is a table")
    ops = [k for k in raw if k in WAREHOUSE_OPS + APP_OPS]
    if len(ops) != 1:
        known = ", ".join(WAREHOUSE_OPS + APP_OPS)
        raise CohortError(f"{where}: exactly one operator of {known} (got {sorted(raw)})")
    op = ops[0]
    arg = raw[op]
    allowed = {op}
    within = season = None
    if op in ("no_procedure", "medication_issued"):
        if not isinstance(arg, str) or arg not in clinical.codelist_ids():
            raise CohortError(f"{where}: {op}: unknown code list {arg!r}")
        allowed |= {"within_months"}
        if op == "no_procedure":
            allowed |= {"since", "season_start"}
        if raw.get("since") is not None:
            if raw["since"] != "season":
                raise CohortError(f'{where}: since must be "season"')
            text = raw.get("season_start")
            match = re.fullmatch(r"(\d\d)-(\d\d)", text) if isinstance(text, str) else None
            try:
                dt.date(2001, int(match[1]), int(match[2]))
            except (TypeError, ValueError):
                raise CohortError(f"{where}: season_start must be MM-DD") from None
            season = (int(match[1]), int(match[2]))
            if "within_months" in raw:
                raise CohortError(f"{where}: give since or within_months, not both")
        else:
            within = _months(raw.get("within_months"), where)
    elif op == "missed_appointments":
        if not isinstance(arg, int) or isinstance(arg, bool) or not 1 <= arg <= 50:
            raise CohortError(f"{where}: missed_appointments must be 1 to 50")
        allowed |= {"within_months"}
        within = _months(raw.get("within_months"), where)
    elif op == "risk_stream":
        streams = tuple(vocabulary.STREAMS)
        if not isinstance(arg, list) or not arg or any(s not in streams for s in arg):
            raise CohortError(f"{where}: risk_stream must list streams of {streams}")
        arg = tuple(arg)
    elif op == "no_care_plan" and arg is not True:
        raise CohortError(f"{where}: no_care_plan must be true")
    extra = set(raw) - allowed
    if extra:
        raise CohortError(f"{where}: unknown key {sorted(extra)[0]!r} for {op}")
    return Criterion(op, arg, within, season)


def parse(data: dict, name: str) -> Cohort:
    where = f"data/outreach/{name}.toml"
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise CohortError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    if data.get("id") != name or not ID.match(name):
        raise CohortError(f"{where}: id must equal the file name")
    for key in ("title", "description", "what", "how_to_book"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise CohortError(f"{where}: {key} is required")
    if data.get("kind") not in KINDS:
        raise CohortError(f"{where}: kind must be one of {KINDS}")
    if not isinstance(data.get("direct_care"), bool):
        raise CohortError(f"{where}: direct_care must be true or false")
    pop = data.get("population") or {}
    bad = set(pop) - {"min_age", "max_age", "registers"}
    if bad:
        raise CohortError(f"{where}: [population] unknown key {sorted(bad)[0]!r}")
    for key in ("min_age", "max_age"):
        v = pop.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 120):
            raise CohortError(f"{where}: [population] {key} must be 0 to 120")
    known = {r.register_id for r in clinical.registers()}
    regs = pop.get("registers") or []
    if not isinstance(regs, list) or any(r not in known for r in regs):
        raise CohortError(f"{where}: [population] registers must be ids of data/registers.csv")
    criteria = tuple(
        _criterion(c, f"{where}: criteria[{i}]") for i, c in enumerate(data.get("criteria") or [])
    )
    if not criteria and not regs and pop.get("min_age") is None:
        raise CohortError(f"{where}: a cohort needs at least one criterion or a population limit")
    return Cohort(
        id=name,
        version=int(data.get("version", 1)),
        title=data["title"].strip(),
        description=data["description"].strip(),
        kind=data["kind"],
        direct_care=data["direct_care"],
        what=data["what"].strip(),
        how_to_book=data["how_to_book"].strip(),
        min_age=pop.get("min_age"),
        max_age=pop.get("max_age"),
        registers=tuple(regs),
        criteria=criteria,
    )


@functools.cache
def library() -> dict[str, Cohort]:
    """Every cohort in data/outreach/, by id."""
    folder = package_data_dir().joinpath("outreach")
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            name = entry.name[: -len(".toml")]
            with entry.open("rb") as f:
                try:
                    data = tomllib.load(f)
                except tomllib.TOMLDecodeError as exc:
                    raise CohortError(f"data/outreach/{entry.name}: {exc}") from None
            out[name] = parse(data, name)
    return out


def get(cohort_id: str) -> Cohort:
    try:
        return library()[cohort_id]
    except KeyError:
        raise CohortError(
            f"no outreach cohort {cohort_id!r} (known: {', '.join(library()) or 'none'})"
        ) from None
