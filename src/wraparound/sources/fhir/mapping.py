"""FHIR R4 URLs and codes shared by the writer and the reader (see docs/fhir-mapping.md)."""

from __future__ import annotations

from wraparound.warehouse.schema import TABLES as _WAREHOUSE_TABLES

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS_CODE = "https://fhir.nhs.uk/Id/ods-organization-code"

ETHNIC_CATEGORY_EXT = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
ETHNIC_CATEGORY_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory"
# UK Core's England code system adds "99" (not known) to the NHS Data Dictionary letters; the
# warehouse holds the letters (Z = not stated), so "99" is read as not recorded (null).
ETHNIC_CATEGORY_NOT_KNOWN = "99"
# UK Core extension on Patient.identifier (the NHS number): how far the number was traced on
# PDS. Codes (UKCore-NHSNumberVerificationStatusEngland): 01 present and verified, 02 present
# but not traced, 03 trace required, 04 trace attempted - no match, 05 needs to be resolved,
# 06 trace in progress, 07 not present and trace not required, 08 trace postponed.
NHS_NUMBER_VERIFICATION_EXT = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
NHS_NUMBER_VERIFIED = "01"
# UK Core extension on Encounter.hospitalization: the NHS Data Dictionary admission method.
ADMISSION_METHOD_EXT = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod"
)

_W = "https://wraparound.nhs.uk/fhir"
LSOA_EXT = f"{_W}/StructureDefinition/lsoa"
OPT_OUT_EXT = f"{_W}/StructureDefinition/national-data-opt-out"
APPOINTMENT_ORG_EXT = f"{_W}/StructureDefinition/appointment-organisation"
# R4 Encounter.status has no "did not attend": such an Encounter is written "cancelled" with
# this extension (valueBoolean true), and read back as dna.
DID_NOT_ATTEND_EXT = f"{_W}/StructureDefinition/did-not-attend"
ORG_KIND_SYSTEM = f"{_W}/CodeSystem/organisation-kind"
EPISODE_TYPE_SYSTEM = f"{_W}/CodeSystem/episode-type"
GP_REGISTRATION = "gp-registration"
STAFF_ROLE_SYSTEM = f"{_W}/CodeSystem/staff-role"
# PractitionerRole: the role's whole-time equivalent (valueDecimal; 1.0 = 37.5 hours a week).
# Neither R4 nor UK Core has an element for it.
FTE_EXT = f"{_W}/StructureDefinition/whole-time-equivalent"
APPOINTMENT_MODE_SYSTEM = f"{_W}/CodeSystem/appointment-mode"
SPECIALTY_SYSTEM = f"{_W}/CodeSystem/treatment-function"
# Encounter.type: an outpatient attendance's place on its pathway, ``first`` (a first
# attendance) or ``follow-up``: the NHS Data Dictionary's FIRST ATTENDANCE, without its
# face-to-face / telephone split (that is Encounter.type in APPOINTMENT_MODE_SYSTEM).
ATTENDANCE_TYPE_SYSTEM = f"{_W}/CodeSystem/attendance-type"
ATTENDANCE_FIRST = {"first": True, "follow-up": False}
# Server base of the ``fullUrl`` of entries in the transaction Bundles that synth writes.
FULL_URL_BASE = f"{_W}/synthetic"

# Appointment.priority (unsignedInt) carries ``urgent_request``, on the iCalendar scale the R4
# element cites (RFC 5545 PRIORITY: 0 undefined, 1-4 high, 5 medium, 6-9 low). The writer
# sends 1 (urgent: asked to be seen within 48 hours) or 5 (routine) and omits it when not
# recorded; the reader takes 1-4 as urgent, 5-9 as routine, 0 or absent as not recorded.
PRIORITY_URGENT = 1
PRIORITY_ROUTINE = 5
PRIORITY_MAX = 9

# An Encounter whose serviceType has a SNOMED CT code from this code list
# (data/codelists/social_care_service.csv, UK Core care setting types) is a social-care
# contact (``social_care``), whatever its class; the writer sends the list's first code.
SOCIAL_CARE_CODELIST = "social_care_service"
SNOMED = "http://snomed.info/sct"

# AllergyIntolerance.clinicalStatus and .verificationStatus code systems (HL7 terminology).
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
# Verification statuses that mean "not an allergy of this patient": never loaded, counted.
ALLERGY_NOT_LOADED = ("entered-in-error", "refuted")

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"

# Encounter kind -> (class code, priority code or None) used by the writer.
ENCOUNTER_CLASS = {
    "ae_attendance": ("EMER", None),
    "emergency_admission": ("IMP", "EM"),
    "elective_admission": ("IMP", "EL"),
    "outpatient": ("AMB", None),
    "community": ("HH", None),
}

APPOINTMENT_STATUS_TO_FHIR = {
    "attended": "fulfilled",
    "dna": "noshow",
    "cancelled": "cancelled",
    "booked": "booked",
}
APPOINTMENT_STATUS_FROM_FHIR = {
    "fulfilled": "attended",
    "noshow": "dna",
    "cancelled": "cancelled",
    "booked": "booked",
    "pending": "booked",
    "proposed": "booked",
    "arrived": "attended",
    "checked-in": "attended",
}
ENCOUNTER_STATUS_TO_FHIR = {
    "attended": "finished",
    "cancelled": "cancelled",
    "booked": "planned",
    "dna": "cancelled",  # plus DID_NOT_ATTEND_EXT
}
ENCOUNTER_STATUS_FROM_FHIR = {
    "finished": "attended",
    "cancelled": "cancelled",
    "planned": "booked",
    "arrived": "booked",
    "triaged": "booked",
    "in-progress": "booked",
    "onleave": "booked",
}

# The resource types ingest understands; anything else is counted and skipped.
SUPPORTED_RESOURCES = (
    "Patient",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
    "Appointment",
    "EpisodeOfCare",
    "DocumentReference",
    "AllergyIntolerance",
)

# The warehouse tables a ``DELETE <Type>/<id>`` Bundle entry removes the row ``id`` from.
# An Observation's component rows (``<id>-0``, ``<id>-1``, ...) go with it; a Patient's
# direct-care identity row goes with the patient row. Events of a deleted Patient stay (a
# FHIR server refuses, or leaves, such deletes the same way): send their DELETEs too.
_DELETE_TABLES = {
    "Patient": ("patients", "identity"),
    "Organization": ("organisations",),
    "Practitioner": ("practitioners",),
    "PractitionerRole": ("practitioner_roles",),
    "EpisodeOfCare": ("registrations",),
    "Encounter": ("encounters",),
    "Appointment": ("encounters",),
    "Condition": ("conditions",),
    "Observation": ("observations",),
    "MedicationRequest": ("medications",),
    "MedicationStatement": ("medications",),
    "Procedure": ("procedures",),
    "DocumentReference": ("letters",),
    "AllergyIntolerance": ("allergies",),
}
DELETE_TABLES = {
    rtype: tuple(t for t in tables if t in _WAREHOUSE_TABLES)
    for rtype, tables in _DELETE_TABLES.items()
}
