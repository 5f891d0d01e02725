"""The direct-care identity row of a FHIR Patient (schema table ``identity``).

``extract.patient`` builds the pseudonymised ``patients`` row; this builds the row beside it
that says who the patient is (NHS number and its verification status, name, date of birth,
sex, home postcode, phone, email, registered GP practice, opt-out), for the care app only.
Both rows share the Patient's logical id and pseudonym, so they are merged by the same rule
in the same transaction. docs/fhir-mapping.md lists the elements read.
"""

from __future__ import annotations

from wraparound.sources.fhir import mapping as m
from wraparound.sources.ingest_batch import Batch

# HumanName, Address and ContactPoint uses that are not the current one.
_NOT_CURRENT = frozenset({"old", "temp", "maiden"})
_NAME_PREFERENCE = ("official", "usual")


def identity_row(
    res: dict,
    rid: str,
    patient_id: str,
    nhs_number: str | None,
    birth,
    opted_out: bool,
    updated,
    version,
    batch: Batch,
) -> list:
    """The identity row, in ``ingest_rules.COLUMNS["identity"]`` order. Fields the Patient
    does not carry are null; nothing here rejects a Patient (``extract.patient`` has judged
    the fields the two rows share)."""
    given, family = _name(res.get("name"))
    return [
        rid,
        patient_id,
        nhs_number,
        _verification(res) if nhs_number is not None else None,
        given,
        family,
        birth,
        res.get("gender"),
        _postcode(res.get("address")),
        _telecom(res.get("telecom"), "phone"),
        _telecom(res.get("telecom"), "email"),
        _practice(res.get("generalPractitioner"), batch),
        opted_out,
        updated,
        version,
    ]


def _current(items: object) -> list[dict]:
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and i.get("use") not in _NOT_CURRENT]


def _name(names: object) -> tuple[str | None, str | None]:
    """(given names, family name) of the official name, else the usual one, else the first
    current one."""
    current = _current(names)
    if not current:
        return None, None
    ranked = sorted(
        current,
        key=lambda n: (
            _NAME_PREFERENCE.index(n["use"])
            if n.get("use") in _NAME_PREFERENCE
            else len(_NAME_PREFERENCE)
        ),
    )
    name = ranked[0]
    given = name.get("given")
    given = " ".join(g for g in given if isinstance(g, str)) if isinstance(given, list) else None
    family = name.get("family")
    return given or None, family if isinstance(family, str) and family else None


def _postcode(addresses: object) -> str | None:
    """The postcode of the home address, else of the first current address."""
    current = [a for a in _current(addresses) if a.get("postalCode")]
    if not current:
        return None
    home = [a for a in current if a.get("use") == "home"]
    return (home or current)[0]["postalCode"]


# Which current contact point of a system messages use: a phone's mobile first (it takes
# text messages), then home, then one with no use, then work; an email's home first. Within
# a use, the lowest ``rank`` (FHIR: 1 is the most preferred), then the order sent.
_TELECOM_USE = {"phone": ("mobile", "home", None, "work"), "email": ("home", None, "work")}


def _telecom(points: object, system: str) -> str | None:
    """The preferred current contact point of ``system`` (phone, email), stripped."""
    order = _TELECOM_USE.get(system, (None,))
    found = []
    for n, point in enumerate(_current(points)):
        value = point.get("value")
        if point.get("system") != system or not isinstance(value, str) or not value.strip():
            continue
        use = point.get("use")
        rank = point.get("rank")
        found.append(
            (
                order.index(use) if use in order else len(order),
                rank if isinstance(rank, int) and rank > 0 else float("inf"),
                n,
                value.strip(),
            )
        )
    return min(found)[3] if found else None


def _verification(res: dict) -> str | None:
    for ident in res.get("identifier", ()):
        if ident.get("system") != m.NHS_NUMBER:
            continue
        for ext in ident.get("extension", ()):
            if ext.get("url") == m.NHS_NUMBER_VERIFICATION_EXT:
                codings = (ext.get("valueCodeableConcept") or {}).get("coding") or []
                return codings[0].get("code") if codings else None
        return None
    return None


def _practice(gps: object, batch: Batch) -> str | None:
    """A reference to the registered GP practice: the first ``generalPractitioner`` that is
    an Organization, as a reference string resolved with the rest of the batch (a reference
    by ODS identifier becomes a conditional reference). A Practitioner named as GP is not a
    practice and is passed over."""
    if not isinstance(gps, list):
        return None
    for gp in gps:
        if not isinstance(gp, dict):
            continue
        ref = gp.get("reference")
        if isinstance(ref, str) and ref:
            if _is_organisation(ref, batch):
                return ref
            continue
        ident = gp.get("identifier")
        if isinstance(ident, dict) and ident.get("system") == m.ODS_CODE and ident.get("value"):
            ref = f"Organization?identifier={m.ODS_CODE}|{ident['value']}"
            # An identifier reference: a practice the warehouse does not hold is cleared and
            # counted, not a rejected patient (ingest_rules.OPTIONAL_REFERENCES).
            batch.identifier_refs.add(ref)
            return ref
    return None


def _is_organisation(ref: str, batch: Batch) -> bool:
    """Whether a reference string points at an Organization (a bundle's ``urn:uuid`` full
    URLs are known by the time its entries are extracted)."""
    if ref.startswith("urn:"):
        target = batch.full_urls.get(ref)
        return target is not None and target[0] == "Organization"
    path = ref.split("?", 1)[0].rstrip("/").split("/")
    if len(path) >= 4 and path[-2] == "_history":
        path = path[:-2]
    if "?" in ref:  # conditional: "Organization?identifier=..."
        return path[-1] == "Organization"
    return len(path) >= 2 and path[-2] == "Organization"
