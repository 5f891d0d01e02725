"""A referral as FHIR R4, the way NHS e-RS and the Booking and Referral Standard carry one:
a ``ServiceRequest`` (what is asked, of whom, for whom; ``intent`` ``proposal`` while it is
advice and guidance, ``order`` once a referral) and a ``Task`` that ``focus``es on it and
carries the workflow state (``status`` from the state's ``task_status`` in
``data/referrals/transitions.toml``; ``businessStatus`` the state's own code, so nothing is
lost in the round trip), in a ``collection`` Bundle. Both are validated with fhirclient's
R4 models (``sources.fhir.validate``) on the way out and on the way in.

:func:`import_bundle` reads such a bundle back: the patient by NHS number, the service by
its directory id, the referrer by username; the referral is matched on its identifier
(idempotent), the state taken from ``businessStatus`` (checked against the machine).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from wraparound.apps.records.models import Patient, User
from wraparound.apps.referrals import rules
from wraparound.apps.referrals.models import Referral, ReferralEvent, Service
from wraparound.sources.fhir.validate import structural_problems

SYSTEM_IDENTIFIER = "https://wraparound.example.nhs.uk/Id/referral"
SYSTEM_SERVICE = "https://wraparound.example.nhs.uk/Id/directory-service"
SYSTEM_STATE = "https://wraparound.example.nhs.uk/CodeSystem/referral-state"
SYSTEM_MACHINE = "https://wraparound.example.nhs.uk/CodeSystem/referral-kind"
SYSTEM_USER = "https://wraparound.example.nhs.uk/Id/user"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ADVICE_STATES = {"draft", "advice_requested", "advice_given", "advice_accepted"}


class FhirError(ValueError):
    """A bundle that cannot be read back; nothing was written."""


def _ts(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


def to_fhir(ref: Referral) -> dict:
    state = rules.machine(ref.machine).state(ref.state)
    sr_id, task_id = f"sr-{ref.pk}", f"task-{ref.pk}"
    advice = ref.machine == "referral" and ref.state in ADVICE_STATES
    sr_status = "draft" if ref.state == "draft" else "active" if state.open else "completed"
    if ref.state in ("cancelled", "rejected", "redirected"):
        sr_status = "revoked"
    service_request = {
        "resourceType": "ServiceRequest",
        "id": sr_id,
        "identifier": [{"system": SYSTEM_IDENTIFIER, "value": ref.identifier}],
        "status": sr_status,
        "intent": "proposal" if advice else "order",
        "priority": "urgent" if ref.urgency == "urgent" else "routine",
        "category": [
            {"coding": [{"system": SYSTEM_MACHINE, "code": ref.machine}]},
        ],
        "subject": {
            "identifier": {"system": NHS_NUMBER, "value": ref.patient.nhs_number},
            "display": str(ref.patient),
        },
        "requester": {
            "identifier": {"system": SYSTEM_USER, "value": ref.referrer.username},
            "display": ref.referrer.get_full_name(),
        },
        "performer": [
            {
                "identifier": {"system": SYSTEM_SERVICE, "value": ref.service.service_id},
                "display": ref.service.name,
            }
        ],
        "authoredOn": _ts(ref.created_at),
        "reasonCode": [{"text": ref.reason}],
    }
    if ref.redirected_from_id:  # redirected here by the first service's triage
        service_request["replaces"] = [
            {"identifier": {"system": SYSTEM_IDENTIFIER, "value": ref.redirected_from.identifier}}
        ]
    if ref.specialty:
        service_request["code"] = {
            "coding": [{"system": SYSTEM_STATE + "-specialty", "code": ref.specialty}]
        }
    if ref.red_flag:
        service_request["note"] = [{"text": "red flag"}]
    task = {
        "resourceType": "Task",
        "id": task_id,
        "status": state.task_status,
        "businessStatus": {
            "coding": [{"system": SYSTEM_STATE, "code": ref.state, "display": state.label}]
        },
        "intent": "order",
        "focus": {"reference": f"ServiceRequest/{sr_id}"},
        "for": service_request["subject"],
        "authoredOn": _ts(ref.created_at),
        "lastModified": _ts(ref.state_since),
        "requester": service_request["requester"],
        "owner": service_request["performer"][0],
    }
    if ref.due:
        task["restriction"] = {"period": {"end": ref.due.isoformat()}}
    if ref.outcome_reason:
        task["statusReason"] = {
            "coding": [{"system": SYSTEM_STATE + "-reason", "code": ref.outcome_reason}]
        }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": service_request}, {"resource": task}],
    }
    for resource in (service_request, task, bundle):
        problems = structural_problems(resource)
        if problems:
            raise FhirError(f"{resource['resourceType']} does not conform to R4: {problems}")
    return bundle


def _one(bundle: dict, kind: str) -> dict:
    found = [
        e.get("resource")
        for e in bundle.get("entry") or []
        if (e.get("resource") or {}).get("resourceType") == kind
    ]
    if len(found) != 1:
        raise FhirError(f"the bundle needs exactly one {kind} (it has {len(found)})")
    return found[0]


def import_bundle(bundle: dict) -> Referral:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError("expected a FHIR Bundle")
    sr, task = _one(bundle, "ServiceRequest"), _one(bundle, "Task")
    for resource in (sr, task):
        problems = structural_problems(resource)
        if problems:
            raise FhirError(f"{resource['resourceType']}: {problems}")
    try:
        identifier = next(
            i["value"] for i in sr["identifier"] if i.get("system") == SYSTEM_IDENTIFIER
        )
        machine_code = sr["category"][0]["coding"][0]["code"]
        state = next(
            c["code"] for c in task["businessStatus"]["coding"] if c.get("system") == SYSTEM_STATE
        )
        nhs = sr["subject"]["identifier"]["value"]
        service_id = sr["performer"][0]["identifier"]["value"]
        username = sr["requester"]["identifier"]["value"]
        created = dt.datetime.fromisoformat(sr["authoredOn"])
        since = dt.datetime.fromisoformat(task.get("lastModified") or sr["authoredOn"])
    except (KeyError, IndexError, TypeError, StopIteration, ValueError) as exc:
        raise FhirError(f"the ServiceRequest or Task lacks what a referral needs ({exc})") from None
    if machine_code not in rules.machines() or state not in rules.machine(machine_code).states:
        raise FhirError(f"unknown referral state {state!r} for {machine_code!r}")
    spec = rules.machine(machine_code).state(state)
    if task.get("status") != spec.task_status:
        raise FhirError(f"Task.status {task.get('status')!r} does not match state {state!r}")
    patient = Patient.objects.filter(nhs_number=nhs).first()
    service = Service.objects.filter(service_id=service_id).first()
    referrer = User.objects.filter(username=username).first()
    for what, found in (("patient", patient), ("service", service), ("requester", referrer)):
        if found is None:
            raise FhirError(f"the {what} is not known here")
    due = ((task.get("restriction") or {}).get("period") or {}).get("end")
    fields = {
        "machine": machine_code,
        "patient": patient,
        "service": service,
        "state": state,
        "open": spec.open,
        "referrer": referrer,
        "referrer_org_id": referrer.scope_org_id,
        "specialty": ((sr.get("code") or {}).get("coding") or [{}])[0].get("code", ""),
        "reason": (sr.get("reasonCode") or [{}])[0].get("text", ""),
        "urgency": "urgent" if sr.get("priority") == "urgent" else "routine",
        "red_flag": any(n.get("text") == "red flag" for n in sr.get("note") or []),
        "created_at": created,
        "state_since": since,
        "due": dt.date.fromisoformat(due) if due else None,
        "outcome_reason": ((task.get("statusReason") or {}).get("coding") or [{}])[0].get(
            "code", ""
        ),
    }
    with transaction.atomic():
        ref, created_now = Referral.objects.update_or_create(identifier=identifier, defaults=fields)
        if created_now:
            ReferralEvent.objects.create(
                referral=ref, at=since, transition="import", to_state=state, note="FHIR import"
            )
    return ref
