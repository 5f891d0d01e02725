"""One FHIR R4 resource in, warehouse rows out (docs/fhir-mapping.md is the contract).

Each supported resource type has one small function that pulls the mapped fields out of the
parsed JSON and appends a warehouse-shaped row to the batch. The functions are deliberately
plain dictionary access, no model classes: ingest must read a million resources a minute,
and building objects per resource would cost more than the whole mapping. References are
left as their FHIR strings here and resolved when the whole batch is known.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from wraparound import clinical
from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.admission import admission_kind
from wraparound.sources.fhir.identity import identity_row
from wraparound.sources.ingest_batch import Batch
from wraparound.sources.ingest_rules import DANGLING_IDENTIFIER, REACTION_SEVERITIES
from wraparound.sources.ingest_values import (
    INVALID_REFERENCE,
    INVALID_VALUE,
    MISSING_FIELD,
    UNKNOWN_CODE_SYSTEM,
    Reject,
    normalise_nhs_number,
    parse_date,
    parse_instant,
    parse_version,
)
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.schema import SYSTEM_BY_URI

# Namespace of the pseudonym given to a patient known only by a logical id (Synthea output);
# the CSV extract uses the same one, so the same patient links up across formats.
LOCAL_ID_SOURCE = "local"
NO_NHS_NUMBER = "no_nhs_number"
ORG_WITHOUT_ODS = "organisation_without_ods_code"
# An optional reference to a contained resource without an identifier, cleared.
CONTAINED_WITHOUT_IDENTIFIER = "contained_reference_without_identifier"
# A UK Core NHS number whose verification status is not "01" (present and verified).
NHS_NUMBER_NOT_VERIFIED = "nhs_number_not_verified"

# Organisations typed with a non-Wraparound system (Synthea's "prov") are trusts unless their
# type or name says they are a general practice; Synthea names primary care "PCP<n>".
_PRACTICE_WORDS = re.compile(r"\bGP\b|\bPCP|general practi", re.IGNORECASE)

# Encounter.class codes read like AMB: VR is Synthea's telemedicine/virtual class.
_AMBULATORY_CLASSES = frozenset({"AMB", "VR"})
_INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC", "SS"})
_ENTERED_IN_ERROR = "entered-in-error"


class Context:
    """What every extractor needs: the batch to append to and the pseudonymiser; ``strict``
    asks the reader to validate every loaded resource's R4 structure first
    (``sources/fhir/validate.py``)."""

    __slots__ = ("batch", "pseudo", "strict")

    def __init__(self, batch: Batch, pseudo: Pseudonymiser, strict: bool = False):
        self.batch = batch
        self.pseudo = pseudo
        self.strict = strict


# The last meta.lastUpdated parsed and its value (a string compare instead of a parse).
_last_stamp: list = [None, None]


def extract(res: dict, loc: int, ctx: Context, full_url: str | None = None) -> None:
    """Map one resource into ``ctx.batch``; raise :class:`Reject` if it cannot be loaded."""
    rtype = res.get("resourceType")
    if not isinstance(rtype, str):
        raise Reject(MISSING_FIELD, "resourceType is missing")
    batch = ctx.batch
    batch.read_by_type[rtype] += 1
    handler = HANDLERS.get(rtype)
    rid = res.get("id") or _id_from_url(full_url)
    if handler is None:
        if rtype == "Medication" and rid:  # not loaded, but codes MedicationRequests
            batch.medications[rid] = res.get("code") or {}
        batch.skipped_types[rtype] += 1
        return
    if not isinstance(rid, str) or not rid:
        raise Reject(MISSING_FIELD, f"{rtype}.id is missing")
    meta = res.get("meta")
    if meta:
        stamp = meta.get("lastUpdated")
        if stamp is None:
            updated = None
        elif stamp == _last_stamp[0]:  # an export often stamps many resources alike
            updated = _last_stamp[1]
        else:
            updated = parse_instant(stamp, "meta.lastUpdated")
            _last_stamp[:] = stamp, updated
        version = meta.get("versionId")
        if version is not None:
            version = parse_version(version)
    else:
        updated = version = None
    contained = res.get("contained")
    if contained:
        res = _contained_by_identifier(res, contained)
    handler(res, rid, updated, version, loc, ctx)


def _contained_by_identifier(res: dict, contained: object) -> dict:
    """``res`` with each reference to a contained resource (``#id``) that has an identifier
    replaced by a reference by that identifier, so a contained Organization with an ODS code
    resolves to the organisation the warehouse holds. Contained Medications stay: they code
    the MedicationRequest itself. The resource is copied, never changed in place."""
    targets = {}
    for inner in contained if isinstance(contained, list) else ():
        if not isinstance(inner, dict) or inner.get("resourceType") == "Medication":
            continue
        ident = _best_identifier(inner.get("identifier"))
        if inner.get("id") and ident is not None:
            targets[f"#{inner['id']}"] = {"type": inner.get("resourceType"), "identifier": ident}
    if not targets:
        return res

    def swap(value):
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and ref in targets:
                kept = {k: v for k, v in value.items() if k != "reference"}
                return {**kept, **targets[ref]}
            return {k: (v if k == "contained" else swap(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    return swap(res)


def _best_identifier(identifiers: object) -> dict | None:
    """The identifier a reference should use: an NHS number or ODS code if there is one."""
    if not isinstance(identifiers, list):
        return None
    usable = [i for i in identifiers if isinstance(i, dict) and i.get("system") and i.get("value")]
    for ident in usable:
        if ident["system"] in (m.NHS_NUMBER, m.ODS_CODE):
            return ident
    return usable[0] if usable else None


def _id_from_url(url: str | None) -> str | None:
    if not url:
        return None
    if url.startswith("urn:uuid:"):
        return url[9:]
    tail = url.rstrip("/").rsplit("/", 1)
    return tail[-1] if len(tail) == 2 else None


def reference_type(ref: str, batch: Batch) -> str | None:
    """The resource type a reference string points at, as far as can be told from it."""
    head, slash, tail = ref.partition("/")
    if slash and head and tail and "/" not in tail and "?" not in ref:  # <Type>/<id>: most
        return head
    if ref.startswith("urn:"):
        target = batch.full_urls.get(ref)
        return target[0] if target else None
    if "?" in ref:  # conditional: "<Type>?identifier=system|value"
        return ref.split("?", 1)[0].rsplit("/", 1)[-1]
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2:
        return parts[-2]
    return None


def _ref(
    element: object,
    path: str,
    required: bool = True,
    want: str | None = None,
    batch: Batch | None = None,
) -> str | None:
    """The reference string of a FHIR Reference. One made only of an ``identifier`` (FHIR
    R4 allows it: Synthea's bulk export names a PractitionerRole's practitioner by NPI) becomes
    the conditional reference ``<Type>?identifier=<system>|<value>`` that the resolver already
    understands, typed by ``Reference.type`` or else by ``want``, the type the field expects."""
    if isinstance(element, dict):
        ref = element.get("reference")
        if isinstance(ref, str) and ref:
            if ref[0] == "#" and want is not None and want != "Medication":
                return _contained_without_identifier(ref, path, required, batch)
            return ref
        if batch is not None and element.get("identifier") is not None:
            ref = identifier_reference(element, path, want, required, batch)
            if ref is not None:
                return ref
            required = False  # an unusable identifier in an optional field was counted
    if required:
        raise Reject(MISSING_FIELD, f"{path}.reference is missing")
    return None


def _contained_without_identifier(ref: str, path: str, required: bool, batch: Batch | None) -> None:
    """A reference to a contained resource that has no identifier names nothing the warehouse
    can hold: rejected where the field is required, else cleared and counted."""
    if required or batch is None:
        raise Reject(
            INVALID_REFERENCE,
            f"{path} {ref} is a contained resource without an identifier; it cannot be "
            "matched to a row of the warehouse",
        )
    batch.data_quality[CONTAINED_WITHOUT_IDENTIFIER] += 1
    return None


def identifier_reference(
    element: dict, path: str, want: str | None, required: bool, batch: Batch
) -> str | None:
    """``<Type>?identifier=<system>|<value>`` for a Reference that holds only an identifier,
    remembered in ``batch.identifier_refs`` (an optional field whose identifier matches
    nothing is then cleared and counted, not rejected). ``None`` when the type cannot be told
    (no ``Reference.type`` and no expected type) or, in an optional field, when the identifier
    has no system or value: counted as the flag ``dangling_identifier_reference``."""
    ident = element["identifier"]
    system = ident.get("system") if isinstance(ident, dict) else None
    value = ident.get("value") if isinstance(ident, dict) else None
    if not (isinstance(system, str) and system and isinstance(value, str) and value):
        if required:
            raise Reject(
                MISSING_FIELD, f"{path}.identifier needs a system and a value to be resolved"
            )
        batch.data_quality[DANGLING_IDENTIFIER] += 1
        return None
    rtype = element.get("type")
    rtype = rtype.rsplit("/", 1)[-1] if isinstance(rtype, str) and rtype else want
    if rtype is None:
        return None
    ref = f"{rtype}?identifier={system}|{value}"
    batch.identifier_refs.add(ref)
    return ref


def coded(concept: object, path: str) -> tuple[str, str]:
    """(short system name, code) of the first coding with a known system."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not codings:
        raise Reject(MISSING_FIELD, f"{path}.coding is missing")
    systems = []
    for coding in codings:
        system = coding.get("system")
        short = SYSTEM_BY_URI.get(system)
        if short is not None:
            code = coding.get("code")
            if not code:
                raise Reject(MISSING_FIELD, f"{path}.coding.code is missing")
            return short, code
        systems.append(system)
    raise Reject(
        UNKNOWN_CODE_SYSTEM, f"{path} has no coding in a known code system (got {systems})"
    )


def _first_code(concepts: object) -> str | None:
    """``concept[0].coding[0].code`` for a list of CodeableConcepts (or one)."""
    if isinstance(concepts, list):
        concepts = concepts[0] if concepts else None
    if isinstance(concepts, dict):
        codings = concepts.get("coding")
        if codings:
            return codings[0].get("code")
    return None


def _social_care_service(concepts: object) -> bool:
    """True if any coding of ``Encounter.serviceType`` (R4: one CodeableConcept; a list is
    also read) is a SNOMED CT social-care service (``m.SOCIAL_CARE_CODELIST``)."""
    if isinstance(concepts, dict):
        concepts = [concepts]
    if not isinstance(concepts, list):
        return False
    codes = _social_care_codes()
    return any(
        coding.get("system") == m.SNOMED and coding.get("code") in codes
        for concept in concepts
        if isinstance(concept, dict)
        for coding in concept.get("coding", ())
        if isinstance(coding, dict)
    )


@functools.cache
def _social_care_codes() -> frozenset[str]:
    return frozenset(clinical.codelist(m.SOCIAL_CARE_CODELIST))


def _coded_in(concept: object, system: str) -> str | None:
    """The code of the first coding of one CodeableConcept in ``system``."""
    if isinstance(concept, dict):
        for coding in concept.get("coding", ()):
            if coding.get("system") == system:
                return coding.get("code")
    return None


def _extension(res: dict, url: str) -> dict | None:
    for ext in res.get("extension", ()):
        if ext.get("url") == url:
            return ext
    return None


def nhs_number_verification(identifier: dict) -> str | None:
    """The UK Core NHS number verification status code (``01`` present and verified ...
    ``08``) of a Patient.identifier, or None when the source does not say."""
    for ext in identifier.get("extension", ()):
        if ext.get("url") == m.NHS_NUMBER_VERIFICATION_EXT:
            return _first_code(ext.get("valueCodeableConcept"))
    return None


def _date(res: dict, key: str, path: str | None = None):
    value = res.get(key)
    return None if value is None else parse_date(value, path or key)


def _instant(res: dict, key: str, path: str | None = None):
    value = res.get(key)
    return None if value is None else parse_instant(value, path or key)


def _index_identifiers(res: dict, rtype: str, rid: str, batch: Batch) -> None:
    for ident in res.get("identifier", ()):
        system, value = ident.get("system"), ident.get("value")
        if system and value:
            batch.identifiers[(rtype, system, value)] = rid


# --- administrative resources -------------------------------------------------------------


def patient(res, rid, updated, version, loc, ctx):
    batch = ctx.batch
    nhs = None
    for ident in res.get("identifier", ()):
        system = ident.get("system")
        if system == m.NHS_NUMBER:
            if nhs is None:
                nhs = normalise_nhs_number(ident.get("value"))
                if nhs_number_verification(ident) not in (None, m.NHS_NUMBER_VERIFIED):
                    batch.data_quality[NHS_NUMBER_NOT_VERIFIED] += 1
        elif system and ident.get("value"):  # a Reference.identifier may name the patient
            batch.identifiers[("Patient", system, ident["value"])] = rid
    if nhs is not None:
        patient_id, flags = ctx.pseudo.nhs_number(nhs), None
    else:
        patient_id, flags = ctx.pseudo.local_id(LOCAL_ID_SOURCE, rid), NO_NHS_NUMBER
        batch.data_quality[NO_NHS_NUMBER] += 1
    birth = _date(res, "birthDate")
    death = _date(res, "deceasedDateTime")
    ethnicity = None
    ext = _extension(res, m.ETHNIC_CATEGORY_EXT)
    if ext:
        ethnicity = _first_code(ext.get("valueCodeableConcept"))
        if ethnicity == m.ETHNIC_CATEGORY_NOT_KNOWN:  # UK Core England "99": not recorded
            ethnicity = None
    lsoa = None
    addresses = res.get("address")
    if addresses:
        ext = _extension(addresses[0], m.LSOA_EXT)
        if ext:
            lsoa = ext.get("valueString")
    opted_out = False
    ext = _extension(res, m.OPT_OUT_EXT)
    if ext:
        opted_out = ext.get("valueBoolean")
        if not isinstance(opted_out, bool):
            raise Reject(INVALID_VALUE, "national data opt-out extension needs a valueBoolean")
    row = [
        rid,
        patient_id,
        birth,
        res.get("gender"),
        ethnicity,
        lsoa,
        death,
        opted_out,
        flags,
        updated,
        version,
    ]
    batch.patients[rid] = patient_id
    batch.births[patient_id] = birth
    batch.add("patients", row, loc)
    # Who the patient is, for direct care only (schema table "identity", sources/fhir/identity.py).
    batch.add(
        "identity",
        identity_row(res, rid, patient_id, nhs, birth, opted_out, updated, version, batch),
        loc,
    )


def organization(res, rid, updated, version, loc, ctx):
    batch = ctx.batch
    org_id = None
    for ident in res.get("identifier", ()):
        if ident.get("system") == m.ODS_CODE and ident.get("value"):
            org_id = ident["value"]
            break
    if org_id is None:
        org_id = rid
        batch.data_quality[ORG_WITHOUT_ODS] += 1
    name = res.get("name")
    kind = None
    words = [name or ""]
    for concept in res.get("type", ()):
        words.append(concept.get("text") or "")
        for coding in concept.get("coding", ()):
            if coding.get("system") == m.ORG_KIND_SYSTEM:
                kind = coding.get("code")
            words.append(coding.get("display") or "")
    if kind is None:
        kind = "practice" if _PRACTICE_WORDS.search(" ".join(words)) else "trust"
    parent = _ref(res.get("partOf"), "Organization.partOf", False, "Organization", batch)
    _index_identifiers(res, "Organization", rid, batch)
    batch.orgs[rid] = org_id
    batch.org_kinds[org_id] = kind
    batch.add("organisations", [rid, org_id, name, kind, parent, updated, version], loc)


def practitioner(res, rid, updated, version, loc, ctx):
    name = None
    names = res.get("name")
    if names:
        first = names[0]
        name = (
            first.get("text")
            or " ".join(
                [*first.get("prefix", ()), *first.get("given", ()), first.get("family", "")]
            ).strip()
            or None
        )
    _index_identifiers(res, "Practitioner", rid, ctx.batch)
    ctx.batch.practitioners.add(rid)
    ctx.batch.add("practitioners", [rid, name, updated, version], loc)


def practitioner_role(res, rid, updated, version, loc, ctx):
    batch = ctx.batch
    who = _ref(
        res.get("practitioner"), "PractitionerRole.practitioner", True, "Practitioner", batch
    )
    org = _ref(
        res.get("organization"), "PractitionerRole.organization", False, "Organization", batch
    )
    role = _first_code(res.get("code"))
    if not role:
        raise Reject(MISSING_FIELD, "PractitionerRole.code is missing")
    fte = None
    if (ext := _extension(res, m.FTE_EXT)) is not None:
        fte = ext.get("valueDecimal")
        if isinstance(fte, bool) or not isinstance(fte, int | float) or fte < 0:
            raise Reject(INVALID_VALUE, "whole-time-equivalent extension needs a valueDecimal >= 0")
        fte = float(fte)
    _index_identifiers(res, "PractitionerRole", rid, ctx.batch)
    ctx.batch.roles.add(rid)
    ctx.batch.add("practitioner_roles", [rid, who, org, role, fte, updated, version], loc)


def episode_of_care(res, rid, updated, version, loc, ctx):
    is_registration = any(
        c.get("system") == m.EPISODE_TYPE_SYSTEM and c.get("code") == m.GP_REGISTRATION
        for t in res.get("type", ())
        for c in t.get("coding", ())
    )
    if not is_registration:
        ctx.batch.skipped["EpisodeOfCare (not a GP registration)"] += 1
        return
    batch = ctx.batch
    who = _ref(res.get("patient"), "EpisodeOfCare.patient", True, "Patient", batch)
    practice = _ref(
        res.get("managingOrganization"),
        "EpisodeOfCare.managingOrganization",
        True,
        "Organization",
        batch,
    )
    period = res.get("period") or {}
    if "start" not in period:
        raise Reject(MISSING_FIELD, "EpisodeOfCare.period.start is missing")
    start = _date(period, "start", "period.start")
    end = _date(period, "end", "period.end")
    ctx.batch.add("registrations", [rid, who, practice, start, end, updated, version], loc)


# --- contacts -----------------------------------------------------------------------------


def encounter(res, rid, updated, version, loc, ctx):
    batch = ctx.batch
    status = res.get("status")
    if status == _ENTERED_IN_ERROR:
        batch.skipped["Encounter (entered-in-error)"] += 1
        return
    if status not in m.ENCOUNTER_STATUS_FROM_FHIR:
        raise Reject(INVALID_VALUE, f"Encounter.status {status!r} is not mapped")
    cls = res.get("class")
    if isinstance(cls, list):  # R5 shape, seen in the wild
        cls = cls[0].get("coding", [{}])[0] if cls else None
    code = cls.get("code") if isinstance(cls, dict) else None
    if not code:
        raise Reject(MISSING_FIELD, "Encounter.class is missing")
    ambulatory = False
    social_care = _social_care_service(res.get("serviceType"))
    if social_care:
        kind = "social_care"
    elif code == "EMER":
        kind = "ae_attendance"
    elif code in _INPATIENT_CLASSES:  # admission method first, then priority (admission.py)
        kind = admission_kind(res)
        if kind is None:
            priority = _first_code(res.get("priority"))
            kind = "emergency_admission" if priority == "EM" else "elective_admission"
    elif code in _AMBULATORY_CLASSES:
        kind, ambulatory = "outpatient", True  # gp_appointment if the provider is a practice
    elif code == "HH":
        kind = "community"
    else:
        raise Reject(INVALID_VALUE, f"Encounter.class {code!r} is not mapped")
    who = _ref(res.get("subject"), "Encounter.subject", True, "Patient", batch)
    period = res.get("period") or {}
    if "start" not in period:
        raise Reject(MISSING_FIELD, "Encounter.period.start is missing")
    start = _instant(period, "start", "period.start")
    end = _instant(period, "end", "period.end")
    org = _ref(
        res.get("serviceProvider"), "Encounter.serviceProvider", False, "Organization", batch
    )
    role = None
    for participant in res.get("participant", ()):
        ref = _ref(participant.get("individual"), "participant.individual", False, None, batch)
        if ref and reference_type(ref, batch) == "PractitionerRole":
            role = ref
            break
    # A social-care serviceType says what the contact was, not an outpatient specialty.
    specialty = None if social_care else _first_code(res.get("serviceType"))
    mode = first = None
    for concept in res.get("type", ()):
        for coding in concept.get("coding", ()):
            if coding.get("system") == m.APPOINTMENT_MODE_SYSTEM:
                mode = coding.get("code")
            elif coding.get("system") == m.ATTENDANCE_TYPE_SYSTEM:
                code = coding.get("code")
                if code not in m.ATTENDANCE_FIRST:
                    raise Reject(INVALID_VALUE, f"attendance-type {code!r} is not mapped")
                first = m.ATTENDANCE_FIRST[code]
    outcome = m.ENCOUNTER_STATUS_FROM_FHIR[status]
    if outcome == "cancelled":  # R4 Encounter has no no-show status: an extension says so
        ext = _extension(res, m.DID_NOT_ATTEND_EXT)
        if ext and ext.get("valueBoolean") is True:
            outcome = "dna"
    # urgent_request: not mapped from Encounter (only Appointment.priority carries it).
    row = [
        rid, who, kind, start, end, None, outcome, mode, org, role, specialty, None, first,
        updated, version,
    ]  # fmt: skip
    if ambulatory:
        batch.ambulatory.append(row)
    batch.add("encounters", row, loc)


def appointment(res, rid, updated, version, loc, ctx):
    batch = ctx.batch
    status = res.get("status")
    if status == _ENTERED_IN_ERROR:
        batch.skipped["Appointment (entered-in-error)"] += 1
        return
    if status not in m.APPOINTMENT_STATUS_FROM_FHIR:
        raise Reject(INVALID_VALUE, f"Appointment.status {status!r} is not mapped")
    who = role = None
    for participant in res.get("participant", ()):
        ref = _ref(participant.get("actor"), "participant.actor", False, None, batch)
        if not ref:
            continue
        rtype = reference_type(ref, batch)
        if rtype == "Patient" and who is None:
            who = ref
        elif rtype == "PractitionerRole" and role is None:
            role = ref
    if who is None:
        raise Reject(MISSING_FIELD, "Appointment.participant has no Patient actor")
    if "start" not in res:
        raise Reject(MISSING_FIELD, "Appointment.start is missing")
    start = _instant(res, "start")
    end = _instant(res, "end")
    booked = _instant(res, "created")
    # Only this contract's mode system: other systems (HL7 v2 table 0276 ROUTINE, FOLLOWUP,
    # as UK Core's examples send) say what kind of appointment, not how it was held.
    mode = _coded_in(res.get("appointmentType"), m.APPOINTMENT_MODE_SYSTEM)
    org = None
    ext = _extension(res, m.APPOINTMENT_ORG_EXT)
    if ext:
        org = _ref(
            ext.get("valueReference"),
            "appointment-organisation extension",
            True,
            "Organization",
            batch,
        )
    row = [
        rid,
        who,
        "gp_appointment",
        start,
        end,
        booked,
        m.APPOINTMENT_STATUS_FROM_FHIR[status],
        mode,
        org,
        role,
        _first_code(res.get("serviceType")),
        _urgent(res.get("priority")),
        None,  # first_attendance: outpatients only (Encounter.type)
        updated,
        version,
    ]
    batch.add("encounters", row, loc)


def _urgent(priority: object) -> bool | None:
    """``urgent_request`` from Appointment.priority on the iCalendar scale (mapping.py): 1-4
    urgent, 5-9 routine, 0 (undefined) or absent not recorded."""
    if priority is None:
        return None
    if (
        not isinstance(priority, int)
        or isinstance(priority, bool)
        or not 0 <= priority <= m.PRIORITY_MAX
    ):
        raise Reject(
            INVALID_VALUE,
            f"Appointment.priority {priority!r} is not a whole number from 0 to "
            f"{m.PRIORITY_MAX} (0 undefined, 1-4 urgent, 5-9 routine)",
        )
    if priority == 0:
        return None
    return priority < m.PRIORITY_ROUTINE


# --- clinical events ----------------------------------------------------------------------


def condition(res, rid, updated, version, loc, ctx):
    who = _ref(res.get("subject"), "Condition.subject", True, "Patient", ctx.batch)
    system, code = coded(res.get("code"), "Condition.code")
    onset = _date(res, "onsetDateTime")
    abatement = _date(res, "abatementDateTime")
    ctx.batch.add("conditions", [rid, who, system, code, onset, abatement, updated, version], loc)


def _quantity(element: dict, path: str) -> tuple[float | None, str | None]:
    q = element.get("valueQuantity")
    if not q:
        return None, None
    value = q.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise Reject(INVALID_VALUE, f"{path}.valueQuantity.value is not a number: {value!r}")
    return (None if value is None else float(value)), q.get("unit")


def observation(res, rid, updated, version, loc, ctx):
    who = _ref(res.get("subject"), "Observation.subject", True, "Patient", ctx.batch)
    when = res.get("effectiveDateTime") or res.get("effectiveInstant")
    if when is None and isinstance(res.get("effectivePeriod"), dict):
        when = res["effectivePeriod"].get("start")
    day = None if when is None else parse_date(when, "Observation.effective[x]")
    components = res.get("component")
    add = ctx.batch.add
    if components:
        for i, comp in enumerate(components):
            path = f"Observation.component[{i}]"
            system, code = coded(comp.get("code"), f"{path}.code")
            value, unit = _quantity(comp, path)
            add(
                "observations",
                [f"{rid}-{i}", who, system, code, day, value, unit, updated, version],
                loc,
            )
        return
    system, code = coded(res.get("code"), "Observation.code")
    value, unit = _quantity(res, "Observation")
    add("observations", [rid, who, system, code, day, value, unit, updated, version], loc)


def _medication(res, rid, updated, version, loc, ctx, kind, start, end):
    rtype = res["resourceType"]
    who = _ref(res.get("subject"), f"{rtype}.subject", True, "Patient", ctx.batch)
    concept = res.get("medicationCodeableConcept")
    row = [rid, who, None, None, start, end, kind, updated, version]
    if concept is not None:
        row[2], row[3] = coded(concept, f"{rtype}.medicationCodeableConcept")
    else:
        ref = _ref(
            res.get("medicationReference"), f"{rtype}.medication[x]", True, "Medication", ctx.batch
        )
        if ref.startswith("#"):
            contained = {c.get("id"): c for c in res.get("contained", ())}
            med = contained.get(ref[1:])
            if med is None:
                raise Reject(MISSING_FIELD, f"contained medication {ref} is missing")
            row[2], row[3] = coded(med.get("code"), f"{rtype}.contained{ref}.code")
        else:
            ctx.batch.pending_medications.append((row, ref, loc))
    ctx.batch.add("medications", row, loc)


def medication_request(res, rid, updated, version, loc, ctx):
    start = _date(res, "authoredOn")
    validity = (res.get("dispenseRequest") or {}).get("validityPeriod") or {}
    end = _date(validity, "end", "dispenseRequest.validityPeriod.end")
    _medication(res, rid, updated, version, loc, ctx, "request", start, end)


def medication_statement(res, rid, updated, version, loc, ctx):
    period = res.get("effectivePeriod")
    if period:
        start = _date(period, "start", "effectivePeriod.start")
        end = _date(period, "end", "effectivePeriod.end")
    else:
        start, end = _date(res, "effectiveDateTime"), None
    _medication(res, rid, updated, version, loc, ctx, "statement", start, end)


def procedure(res, rid, updated, version, loc, ctx):
    who = _ref(res.get("subject"), "Procedure.subject", True, "Patient", ctx.batch)
    system, code = coded(res.get("code"), "Procedure.code")
    if "performedDateTime" in res:
        day = _date(res, "performedDateTime")
    else:
        day = _date(res.get("performedPeriod") or {}, "start", "performedPeriod.start")
    ctx.batch.add("procedures", [rid, who, system, code, day, updated, version], loc)


def document_reference(res, rid, updated, version, loc, ctx):
    """A clinical letter back to the GP (docs/fhir-mapping.md): subject, the author
    organisation, the contact it is about (context.encounter, context.period.start) and when
    it was issued (date). Superseded and entered-in-error letters are not loaded."""
    batch = ctx.batch
    status = res.get("status")
    if status in ("superseded", _ENTERED_IN_ERROR):
        batch.skipped[f"DocumentReference ({status})"] += 1
        return
    if status != "current":
        raise Reject(INVALID_VALUE, f"DocumentReference.status {status!r} is not mapped")
    who = _ref(res.get("subject"), "DocumentReference.subject", True, "Patient", batch)
    if "date" not in res:
        raise Reject(MISSING_FIELD, "DocumentReference.date is missing")
    issued = _instant(res, "date")
    org = None
    for author in res.get("author") or ():
        ref = _ref(author, "DocumentReference.author", False, "Organization", batch)
        if ref and reference_type(ref, batch) == "Organization":
            org = ref
            break
    context = res.get("context") or {}
    encounter_id = None
    for enc in context.get("encounter") or ():
        text = enc.get("reference") if isinstance(enc, dict) else None
        found = batch.full_urls.get(text) if isinstance(text, str) else None
        if found is not None:  # a fullUrl (urn:uuid) within the bundle being read
            text = f"{found[0]}/{found[1]}"
        if isinstance(text, str) and text.rsplit("/", 2)[-2:-1] == ["Encounter"]:
            encounter_id = text.rsplit("/", 1)[-1]
            break
    contact = _instant(context.get("period") or {}, "start", "context.period.start")
    if encounter_id is None and contact is None:
        raise Reject(
            MISSING_FIELD, "DocumentReference.context needs an encounter or a period.start"
        )
    type_code = _coded_in(res.get("type") or {}, m.SNOMED)
    row = [rid, who, org, encounter_id, contact, issued, type_code, updated, version]
    batch.add("letters", row, loc)


def _status_code(concept: object, path: str) -> str | None:
    """The code of a status CodeableConcept's first coding (R4 binds these to one code
    system each); ``None`` when absent."""
    if concept is None:
        return None
    codings = concept.get("coding") if isinstance(concept, dict) else None
    code = codings[0].get("code") if isinstance(codings, list) and codings else None
    if not isinstance(code, str) or not code:
        raise Reject(MISSING_FIELD, f"{path}.coding.code is missing")
    return code


def _display_of(concept: dict, system: str, code: str) -> str | None:
    """The terminology display of the coding :func:`coded` chose (never ``text``, which may
    be free text typed by a clinician)."""
    for coding in concept.get("coding", ()):
        if SYSTEM_BY_URI.get(coding.get("system")) == system and coding.get("code") == code:
            display = coding.get("display")
            return display if isinstance(display, str) and display else None
    return None


def _worst_reaction(reactions: object) -> tuple[str | None, str | None, str | None]:
    """(SNOMED CT code, display, worst severity) of ``AllergyIntolerance.reaction``: the first
    SNOMED CT manifestation of the first reaction that has one, and the most severe of every
    reaction's severity (``mild`` < ``moderate`` < ``severe``)."""
    code = display = worst = None
    rank = -1
    if not isinstance(reactions, list):
        return None, None, None
    for i, reaction in enumerate(reactions):
        if not isinstance(reaction, dict):
            raise Reject(INVALID_VALUE, f"AllergyIntolerance.reaction[{i}] is not an object")
        severity = reaction.get("severity")
        if severity is not None:
            if severity not in REACTION_SEVERITIES:
                raise Reject(
                    INVALID_VALUE,
                    f"AllergyIntolerance.reaction[{i}].severity {severity!r} is not one of "
                    f"{list(REACTION_SEVERITIES)}",
                )
            if REACTION_SEVERITIES.index(severity) > rank:
                rank, worst = REACTION_SEVERITIES.index(severity), severity
        if code is None:
            for concept in reaction.get("manifestation") or ():
                found = _coded_in(concept, m.SNOMED)
                if found:
                    code = found
                    display = next(
                        (
                            c.get("display")
                            for c in concept.get("coding", ())
                            if c.get("system") == m.SNOMED and c.get("code") == found
                        ),
                        None,
                    )
                    break
    return code, display, worst


def allergy_intolerance(res, rid, updated, version, loc, ctx):
    """An allergy or intolerance (docs/fhir-mapping.md): the patient, the SNOMED CT (or other
    known system's) code with its display, clinical and verification status, type, category,
    criticality, the worst reaction, onset and recorded dates. A record entered in error or
    refuted is not an allergy of the patient: skipped and counted, never loaded."""
    batch = ctx.batch
    verification = _status_code(
        res.get("verificationStatus"), "AllergyIntolerance.verificationStatus"
    )
    if verification in m.ALLERGY_NOT_LOADED:
        batch.skipped[f"AllergyIntolerance ({verification})"] += 1
        return
    who = _ref(res.get("patient"), "AllergyIntolerance.patient", True, "Patient", batch)
    clinical_status = _status_code(res.get("clinicalStatus"), "AllergyIntolerance.clinicalStatus")
    if clinical_status is None:  # R4 ait-1: required unless entered in error
        raise Reject(MISSING_FIELD, "AllergyIntolerance.clinicalStatus is missing")
    concept = res.get("code")
    system, code = coded(concept, "AllergyIntolerance.code")
    category = res.get("category")
    if isinstance(category, list):
        category = category[0] if category else None
    if category is not None and not isinstance(category, str):
        raise Reject(INVALID_VALUE, f"AllergyIntolerance.category {category!r} is not a code")
    reaction, reaction_display, severity = _worst_reaction(res.get("reaction"))
    if "onsetDateTime" in res:
        onset = _date(res, "onsetDateTime", "AllergyIntolerance.onsetDateTime")
    else:
        onset = _date(res.get("onsetPeriod") or {}, "start", "AllergyIntolerance.onsetPeriod.start")
    row = [
        rid,
        who,
        system,
        code,
        _display_of(concept, system, code),
        clinical_status,
        verification,
        res.get("type"),
        category,
        res.get("criticality"),
        reaction,
        reaction_display,
        severity,
        onset,
        _date(res, "recordedDate", "AllergyIntolerance.recordedDate"),
        updated,
        version,
    ]
    batch.add("allergies", row, loc)


Handler = Callable[..., None]
HANDLERS: dict[str, Handler] = {
    "Patient": patient,
    "Organization": organization,
    "Practitioner": practitioner,
    "PractitionerRole": practitioner_role,
    "EpisodeOfCare": episode_of_care,
    "Encounter": encounter,
    "Appointment": appointment,
    "Condition": condition,
    "Observation": observation,
    "MedicationRequest": medication_request,
    "MedicationStatement": medication_statement,
    "Procedure": procedure,
    "DocumentReference": document_reference,
    "AllergyIntolerance": allergy_intolerance,
}
assert set(HANDLERS) == set(m.SUPPORTED_RESOURCES), "mapping.SUPPORTED_RESOURCES drifted"
