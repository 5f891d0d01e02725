"""Interventions as data: ``data/interventions/*.toml`` (format: docs/clinical-content.md).

An intervention says what was done, where (practices, or whole neighbourhoods), when each
place started (a rollout may be staggered), for whom (the group it targets, by eFI category
and registers at the cohort date), its logic model (inputs, activities, outputs and outcomes,
each outcome linked to the measures that show it) and, for synthetic localities only, the
effect the generator should simulate. The evaluation (``analytics/evaluation.py``) and the
generator (``sources/synthetic``) both read it through ``load``, so the group the generator
treats is the group the evaluation follows.

This module sits beside ``clinical.py`` in the layers: it imports only the standard library
and ``vocabulary``, so sources, analytics and the apps may all use it.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from wraparound.vocabulary import EFI_CATEGORIES

OUTCOME_MEASURES = {
    "emergency_admissions": "Emergency admissions",
    "ae_attendances": "A&E attendances",
    "excess_bed_days": "Excess bed days",
}
"""The outcomes the evaluation measures from encounters, per 1,000 patients of the group a
month; any indicator id (``data/indicators/``) may be named besides."""

LOGIC_STAGES = ("inputs", "activities", "outputs", "outcomes")

_ID = re.compile(r"^[a-z0-9_]+$")
_PRACTICE = re.compile(r"^[A-Z][A-Z0-9]{4,7}$")


class InterventionError(ValueError):
    """An intervention file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class LogicOutcome:
    id: str
    name: str
    measures: tuple[str, ...]  # outcome measures or indicator ids


@dataclass(frozen=True)
class Intervention:
    id: str
    version: str
    name: str
    description: str
    practices: tuple[str, ...]
    neighbourhoods: tuple[str, ...]
    start: dt.date
    rollout: tuple[tuple[str, dt.date], ...]  # (practice or neighbourhood code, start)
    efi_categories: tuple[str, ...]
    registers: tuple[str, ...]
    inputs: tuple[str, ...]
    activities: tuple[str, ...]
    outputs: tuple[str, ...]
    outcomes: tuple[LogicOutcome, ...]
    simulated_change: float | None  # relative change in the emergency-admission hazard
    source: str

    @property
    def cohort_date(self) -> dt.date:
        """The date the group is fixed on: the earliest start, so treated and comparison
        practices follow the same kind of patient from the same day."""
        return min([self.start, *(d for _, d in self.rollout)])

    def start_of(self, practice: str, neighbourhood: str | None) -> dt.date | None:
        """When ``practice`` (in ``neighbourhood``) started, or None if it is not treated."""
        for code, day in self.rollout:
            if code == practice:
                return day
        for code, day in self.rollout:
            if code == neighbourhood:
                return day
        if practice in self.practices or (neighbourhood and neighbourhood in self.neighbourhoods):
            return self.start
        return None

    @property
    def measures(self) -> tuple[str, ...]:
        """Every outcome measure the logic model names, in order, each once."""
        seen: list[str] = []
        for outcome in self.outcomes:
            for m in outcome.measures:
                if m not in seen:
                    seen.append(m)
        return tuple(seen)


def _fail(where: str, problem: str):
    raise InterventionError(f"{where}: {problem}")


def _strings(data: dict, key: str, where: str, required: bool = False) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        _fail(where, f"{key} must be a list of strings")
    if required and not value:
        _fail(where, f"{key} must name at least one entry")
    return tuple(value)


def _date(value, where: str, key: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        _fail(where, f"{key} must be a date (YYYY-MM-DD), not {value!r}")


def parse(text: str, where: str) -> Intervention:
    """One intervention from TOML text, checked; ``where`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _fail(where, str(exc))
    for key in ("id", "version", "name"):
        if not isinstance(data.get(key), str) or not data[key]:
            _fail(where, f"{key} is required")
    if not _ID.match(data["id"]):
        _fail(where, f"id {data['id']!r} must be lower case letters, digits and _")
    place = data.get("where", {})
    practices = _strings(place, "practices", where)
    neighbourhoods = _strings(place, "neighbourhoods", where)
    if not practices and not neighbourhoods:
        _fail(where, "where must name practices or neighbourhoods")
    for code in practices + neighbourhoods:
        if not _PRACTICE.match(code):
            _fail(where, f"{code!r} is not an organisation code")
    when = data.get("when", {})
    start = _date(when.get("start"), where, "when.start")
    rollout = []
    for i, step in enumerate(when.get("rollout", [])):
        code, day = step.get("code"), _date(step.get("start"), where, f"when.rollout[{i}].start")
        if not isinstance(code, str) or not _PRACTICE.match(code):
            _fail(where, f"when.rollout[{i}].code must be a practice or neighbourhood code")
        rollout.append((code, day))
    group = data.get("group", {})
    efi = _strings(group, "efi_category", where)
    for c in efi:
        if c not in EFI_CATEGORIES:
            _fail(where, f"group.efi_category {c!r} is not one of {', '.join(EFI_CATEGORIES)}")
    registers = _strings(group, "register", where)
    if not efi and not registers:
        _fail(where, "group must name efi_category or register")
    logic = data.get("logic_model", {})
    stages = {s: _strings(logic, s, where, required=True) for s in LOGIC_STAGES[:3]}
    outcomes = []
    for i, o in enumerate(logic.get("outcome", [])):
        if not isinstance(o.get("id"), str) or not _ID.match(o["id"]):
            _fail(where, f"logic_model.outcome[{i}].id is required")
        measures = _strings(o, "measures", f"{where}: outcome {o['id']}", required=True)
        outcomes.append(LogicOutcome(o["id"], str(o.get("name", o["id"])), measures))
    if not outcomes:
        _fail(where, "logic_model needs at least one [[logic_model.outcome]]")
    change = data.get("simulation", {}).get("admission_hazard_change")
    if change is not None and not (isinstance(change, int | float) and -1 < change <= 1):
        _fail(where, "simulation.admission_hazard_change must be a number in (-1, 1]")
    return Intervention(
        id=data["id"],
        version=data["version"],
        name=data["name"],
        description=str(data.get("description", "")),
        practices=practices,
        neighbourhoods=neighbourhoods,
        start=start,
        rollout=tuple(rollout),
        efi_categories=efi,
        registers=registers,
        inputs=stages["inputs"],
        activities=stages["activities"],
        outputs=stages["outputs"],
        outcomes=tuple(outcomes),
        simulated_change=None if change is None else float(change),
        source=where,
    )


@cache
def packaged() -> dict[str, Intervention]:
    """The interventions shipped in ``data/interventions/``, by id."""
    out: dict[str, Intervention] = {}
    folder = files("wraparound").joinpath("data/interventions")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            item = parse(entry.read_text(), f"data/interventions/{entry.name}")
            if item.id in out:
                _fail(item.source, f"id {item.id!r} is used twice")
            out[item.id] = item
    return out


def load(name_or_path: str | Path) -> Intervention:
    """A packaged intervention by id, or an intervention file by path."""
    text = str(name_or_path)
    if text in packaged():
        return packaged()[text]
    path = Path(text)
    if path.suffix == ".toml" and path.is_file():
        return parse(path.read_text(), str(path))
    known = ", ".join(sorted(packaged())) or "none"
    raise InterventionError(f"no intervention {text!r} (packaged: {known}; or a .toml path)")
