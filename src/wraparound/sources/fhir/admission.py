"""Emergency or elective: the kind of an inpatient Encounter from its admission method.

An NHS hospital records how each patient was admitted (the NHS Data Dictionary "admission
method": 11-13 elective, 21-2D and 28 emergency, 31/32 maternity, 81-83 other). UK Core
carries it in the extension ``Extension-UKCore-AdmissionMethod`` on
``Encounter.hospitalization``; some senders put it, or an HL7 admit source such as ``emd``
(from the emergency department), in ``hospitalization.admitSource``. Which codes mean which
warehouse kind is clinical content, so it lives in ``data/admission_methods.csv``
(docs/fhir-mapping.md describes the file); this module reads it and applies it.

The rule, in order: the first coding of the extension, then of ``admitSource``, that the file
maps to a kind decides. When neither says (or says "not known"), ``Encounter.priority`` does,
as it always has: ``EM`` is an emergency admission, anything else elective.
"""

from __future__ import annotations

import functools
from importlib.resources.abc import Traversable

from wraparound import clinical
from wraparound.clinical import ClinicalContentError
from wraparound.sources.fhir import mapping as m

ADMISSION_METHOD_FILE = "admission_methods.csv"
ADMISSION_METHOD_COLUMNS = ("system", "code", "group", "kind", "meaning")
GROUPS = frozenset({"elective", "emergency", "maternity", "other", "unknown"})
KINDS = frozenset({"emergency_admission", "elective_admission"})


@functools.cache
def admission_methods(data_dir: Traversable | None = None) -> dict[tuple[str, str], str]:
    """(system, code) -> warehouse encounter kind, for the codes that decide one."""
    name = f"data/{ADMISSION_METHOD_FILE}"
    root = clinical.package_data_dir() if data_dir is None else data_dir
    seen: dict[tuple[str, str], int] = {}
    out: dict[tuple[str, str], str] = {}
    for line, row in clinical._rows(root, ADMISSION_METHOD_FILE, ADMISSION_METHOD_COLUMNS):
        key = (row["system"], row["code"])
        if not key[0] or not key[1]:
            raise ClinicalContentError(name, line, "system and code are both required")
        if key in seen:
            raise ClinicalContentError(
                name, line, f"duplicate code {key[1]!r} of {key[0]} (first on line {seen[key]})"
            )
        if row["group"] not in GROUPS:
            raise ClinicalContentError(
                name, line, f"group {row['group']!r} is not one of {sorted(GROUPS)}"
            )
        kind = row["kind"]
        if kind and kind not in KINDS:
            raise ClinicalContentError(
                name, line, f"kind {kind!r} is not one of {sorted(KINDS)} (or empty)"
            )
        if (row["group"] == "unknown") != (not kind):
            raise ClinicalContentError(
                name, line, "a kind is empty exactly when the group is 'unknown'"
            )
        seen[key] = line
        if kind:
            out[key] = kind
    return out


def admission_kind(res: dict) -> str | None:
    """The kind an inpatient Encounter's recorded admission method says, or None."""
    hospitalization = res.get("hospitalization")
    if not isinstance(hospitalization, dict):
        return None
    methods = admission_methods()
    concepts = []
    for ext in hospitalization.get("extension", ()):
        if isinstance(ext, dict) and ext.get("url") == m.ADMISSION_METHOD_EXT:
            concepts.append(ext.get("valueCodeableConcept"))
    concepts.append(hospitalization.get("admitSource"))
    for concept in concepts:
        if not isinstance(concept, dict):
            continue
        for coding in concept.get("coding", ()):
            if isinstance(coding, dict):
                kind = methods.get((coding.get("system"), coding.get("code")))
                if kind is not None:
                    return kind
    return None
