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
from wraparound.sources.fhir import mapping as m

ADMISSION_METHOD_FILE = "admission_methods.csv"
ADMISSION_METHOD_COLUMNS = ("system", "code", "group", "kind", "meaning")
GROUPS = frozenset({"elective", "emergency", "maternity", "other", "unknown"})
KINDS = frozenset({"emergency_admission", "elective_admission"})


ADMISSION_METHODS = clinical.ContentType(
    ADMISSION_METHOD_FILE,
    ADMISSION_METHOD_COLUMNS,
    lambda _data_dir: [
        clinical.present("system", "code", message="system and code are both required"),
        clinical.unique("system", "code", message="duplicate code {code!r} of {system}"),
        clinical.one_of("group", GROUPS, "group {group!r} is not one of {allowed}"),
        clinical.rule(
            lambda row: bool(row["kind"]) and row["kind"] not in KINDS,
            "kind {kind!r} is not one of " + f"{sorted(KINDS)} (or empty)",
        ),
        clinical.rule(
            lambda row: (row["group"] == "unknown") != (not row["kind"]),
            "a kind is empty exactly when the group is 'unknown'",
        ),
    ],
    lambda row, _data_dir: ((row["system"], row["code"]), row["kind"]),
)
"""``data/admission_methods.csv``, read by the one content loader (``clinical.load``)."""


@functools.cache
def admission_methods(data_dir: Traversable | None = None) -> dict[tuple[str, str], str]:
    """(system, code) -> warehouse encounter kind, for the codes that decide one."""
    return {key: kind for key, kind in clinical.load(ADMISSION_METHODS, data_dir) if kind}


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
