"""FHIR R4 resources for the access API, in the shape of GP Connect Appointment Management:
Slot, Schedule (a rota session), PractitionerRole, Location (a site), Appointment, and the
OperationOutcome of a refusal. Times are local (Europe/London) with their offset
(``+00:00`` in winter, ``+01:00`` in summer), as GP Connect writes them."""

from __future__ import annotations

from django.utils import timezone

from wraparound.apps.access.vocabulary import HCP_ROLES, MODES, SLOT_TYPES

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS_CODE = "https://fhir.nhs.uk/Id/ods-organization-code"
BOOKING_ORGANIZATION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-BookingOrganization"
)
DELIVERY_CHANNEL = "https://fhir.nhs.uk/StructureDefinition/Extension-GPConnect-DeliveryChannel-2"
CHANNELS = {
    "face_to_face": "In-person",
    "home_visit": "In-person",
    "telephone": "Telephone",
    "video": "Video",
}
# FHIR Appointment.status <-> the app's lifecycle
TO_FHIR_STATUS = {
    "booked": "booked",
    "arrived": "arrived",
    "seen": "checked-in",
    "finished": "fulfilled",
    "did_not_attend": "noshow",
    "cancelled_patient": "cancelled",
    "cancelled_practice": "cancelled",
}


def when(value) -> str:
    """An aware datetime as local time with its offset, to the second."""
    return timezone.localtime(value).isoformat(timespec="seconds")


def slot(s, status: str | None = None) -> dict:
    return {
        "resourceType": "Slot",
        "id": str(s.pk),
        "meta": {"profile": ["https://fhir.nhs.uk/StructureDefinition/GPConnect-Slot-1"]},
        "extension": [{"url": DELIVERY_CHANNEL, "valueCode": CHANNELS[s.mode]}],
        "serviceType": [{"text": MODES[s.mode]}],
        "appointmentType": {"text": SLOT_TYPES[s.slot_type]},
        "schedule": {"reference": f"Schedule/{s.session_id}"},
        "status": status or ("free" if s.status == "free" else "busy"),
        "start": when(s.start),
        "end": when(s.end),
    }


def practitioner_role_id(session) -> str:
    return f"{session.pk}"


def schedule(session) -> dict:
    return {
        "resourceType": "Schedule",
        "id": str(session.pk),
        "active": True,
        "serviceType": [{"text": MODES[session.mode]}],
        "actor": [
            {"reference": f"PractitionerRole/{practitioner_role_id(session)}"},
            {"reference": f"Location/{session.site_id}"},
        ],
        "comment": f"{session.who()}, {HCP_ROLES[session.role]}",
    }


def practitioner_role(session) -> dict:
    return {
        "resourceType": "PractitionerRole",
        "id": practitioner_role_id(session),
        "active": True,
        "practitioner": {"display": session.who()},
        "organization": {
            "identifier": {"system": ODS_CODE, "value": session.hub.organisation_id},
            "display": session.hub.name,
        },
        "code": [{"text": HCP_ROLES[session.role]}],
        "location": [{"reference": f"Location/{session.site_id}"}],
    }


def location(site) -> dict:
    out = {
        "resourceType": "Location",
        "id": str(site.pk),
        "status": "active",
        "name": site.name,
        "managingOrganization": {
            "identifier": {"system": ODS_CODE, "value": site.hub.organisation_id},
            "display": site.hub.name,
        },
    }
    if site.address or site.postcode:
        out["address"] = {"text": site.address, "postalCode": site.postcode}
    return out


def appointment(a) -> dict:
    holds = list(a.holds.filter(active=True).select_related("slot__session", "slot__site"))
    if not holds:
        holds = list(a.holds.select_related("slot__session", "slot__site"))
    first = holds[0].slot if holds else None
    participants = [
        {
            "actor": {
                "reference": f"Patient/{a.patient_id}",
                "identifier": {"system": NHS_NUMBER, "value": a.patient.nhs_number},
            },
            "status": "accepted",
        }
    ]
    if first is not None:
        participants.append(
            {"actor": {"reference": f"Location/{first.site_id}"}, "status": "accepted"}
        )
        if first.session_id:
            participants.append(
                {
                    "actor": {"reference": f"PractitionerRole/{first.session_id}"},
                    "status": "accepted",
                }
            )
    out = {
        "resourceType": "Appointment",
        "id": str(a.pk),
        "meta": {"versionId": str(a.version)},
        "extension": [
            {
                "url": BOOKING_ORGANIZATION,
                "valueReference": {
                    "identifier": {"system": ODS_CODE, "value": a.booking_org_id},
                    "display": a.booking_org.name,
                },
            },
            {"url": DELIVERY_CHANNEL, "valueCode": CHANNELS[a.mode]},
        ],
        "status": TO_FHIR_STATUS[a.status],
        "appointmentType": {"text": SLOT_TYPES[a.slot_type]},
        "description": a.reason or "Hub appointment",
        "start": when(a.start),
        "end": when(a.end),
        "minutesDuration": int((a.end - a.start).total_seconds() // 60),
        "slot": [{"reference": f"Slot/{h.slot_id}"} for h in holds],
        "created": when(a.booked_at),
        "participant": participants,
    }
    if a.reasonable_adjustments:
        out["comment"] = a.reasonable_adjustments
    if a.status.startswith("cancelled"):
        out["cancelationReason"] = {"text": a.cancel_reason}
    return out


def bundle(resources: list[dict], matches: int) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": matches,
        "entry": [
            {
                "fullUrl": f"{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match" if i < matches else "include"},
            }
            for i, r in enumerate(resources)
        ],
    }


def outcome(code: str, text: str, severity: str = "error") -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": text}],
    }
