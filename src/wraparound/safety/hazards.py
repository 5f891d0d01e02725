"""The hazard log and the DCB0129 risk matrix, read from ``data/safety/`` and checked.

Both are data (``hazard_log.toml``, ``risk_matrix.toml``; their formats are described at the
top of each file) so that a clinical safety officer can review and version them like any
other clinical content. The log states severity and likelihood; the risk is always read
from the matrix, never written by hand, so the two cannot disagree. Every mitigation names
the tests that show it works; ``missing_tests`` finds names that are not real tests by
parsing the test files (``ast``), without importing or running them.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path


class HazardLogError(ValueError):
    """The hazard log or the risk matrix is malformed."""


@dataclass(frozen=True)
class Mitigation:
    control: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Hazard:
    id: str
    title: str
    covers: str
    cause: str
    effect: str
    harm: str
    severity: int
    likelihood: int
    residual_likelihood: int
    mitigations: tuple[Mitigation, ...]


@dataclass(frozen=True)
class Matrix:
    severity: dict[int, str]
    likelihood: dict[int, str]
    risk: dict[int, tuple[str, str]]  # level -> (name, action)
    cells: dict[tuple[int, int], int]  # (likelihood, severity) -> risk level

    def rate(self, likelihood: int, severity: int) -> int:
        return self.cells[(likelihood, severity)]


@dataclass(frozen=True)
class Log:
    system: str
    version: int
    review_date: str
    required: tuple[str, ...]
    hazards: tuple[Hazard, ...]


def _data(name: str) -> str:
    return files("wraparound").joinpath("data", "safety", name).read_text(encoding="utf-8")


@cache
def matrix() -> Matrix:
    return parse_matrix(_data("risk_matrix.toml"))


def parse_matrix(text: str) -> Matrix:
    raw = tomllib.loads(text)
    severity = {s["level"]: s["name"] for s in raw["severity"]}
    likelihood = {s["level"]: s["name"] for s in raw["likelihood"]}
    risk = {r["level"]: (r["name"], r["action"]) for r in raw["risk"]}
    if sorted(severity) != [1, 2, 3, 4, 5] or sorted(likelihood) != [1, 2, 3, 4, 5]:
        raise HazardLogError("severity and likelihood must each have levels 1 to 5")
    cells = {}
    by_name = {name: level for level, name in likelihood.items()}
    if set(raw["matrix"]) != set(by_name):
        raise HazardLogError("the matrix needs exactly one row per likelihood")
    for name, row in raw["matrix"].items():
        if len(row) != 5 or any(v not in risk for v in row):
            raise HazardLogError(f"matrix row {name!r}: five risk levels from [[risk]]")
        for s, value in enumerate(row, start=1):
            cells[(by_name[name], s)] = value
    return Matrix(severity, likelihood, risk, cells)


def load() -> Log:
    return parse_log(_data("hazard_log.toml"))


def parse_log(text: str) -> Log:
    """The log, with every field checked (``HazardLogError`` says which and where)."""
    raw = tomllib.loads(text)
    hazards = []
    seen = set()
    for i, h in enumerate(raw.get("hazard", [])):
        where = f"hazard {h.get('id', i + 1)}"
        for key in ("id", "title", "covers", "cause", "effect", "harm"):
            if not isinstance(h.get(key), str) or not h[key].strip():
                raise HazardLogError(f"{where}: {key} is required")
        for key in ("severity", "likelihood", "residual_likelihood"):
            if h.get(key) not in (1, 2, 3, 4, 5):
                raise HazardLogError(f"{where}: {key} must be 1 to 5")
        if h["residual_likelihood"] > h["likelihood"]:
            raise HazardLogError(f"{where}: controls cannot make it more likely")
        if h["id"] in seen:
            raise HazardLogError(f"{where}: duplicate id")
        seen.add(h["id"])
        mitigations = []
        for m in h.get("mitigation", []):
            tests = m.get("tests") or []
            if not m.get("control") or not tests:
                raise HazardLogError(f"{where}: every mitigation needs a control and tests")
            mitigations.append(Mitigation(m["control"], tuple(tests)))
        if not mitigations:
            raise HazardLogError(f"{where}: at least one mitigation")
        hazards.append(
            Hazard(
                id=h["id"],
                title=h["title"],
                covers=h["covers"],
                cause=h["cause"],
                effect=h["effect"],
                harm=h["harm"],
                severity=h["severity"],
                likelihood=h["likelihood"],
                residual_likelihood=h["residual_likelihood"],
                mitigations=tuple(mitigations),
            )
        )
    log = Log(
        system=raw["system"],
        version=raw["version"],
        review_date=str(raw["review_date"]),
        required=tuple(raw.get("required", [])),
        hazards=tuple(hazards),
    )
    uncovered = set(log.required) - {h.covers for h in log.hazards}
    if uncovered:
        raise HazardLogError(f"no hazard covers: {', '.join(sorted(uncovered))}")
    return log


def _defined_tests(path: Path) -> set[str]:
    """``test`` and ``Class::test`` names defined in a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, functions) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, functions) and item.name.startswith("test"):
                    names.add(f"{node.name}::{item.name}")
    return names


def missing_tests(log: Log, root: Path) -> list[str]:
    """Node ids named by a mitigation that are not tests under ``root`` (the repository):
    the file is missing, or defines no such test. A parametrised id's ``[...]`` is ignored."""
    cache: dict[Path, set[str]] = {}
    missing = []
    for hazard in log.hazards:
        for mitigation in hazard.mitigations:
            for node in mitigation.tests:
                path, _, name = node.partition("::")
                name = name.split("[", 1)[0]
                file = root / path
                if not name or not path.startswith("tests/") or not file.is_file():
                    missing.append(node)
                    continue
                if file not in cache:
                    cache[file] = _defined_tests(file)
                if name not in cache[file]:
                    missing.append(node)
    return missing
