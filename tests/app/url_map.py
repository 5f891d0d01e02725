"""Every URL of the app, read from the resolver (so a new view is crawled and fuzzed without
editing a list), with its path parameters filled from the test world; and a detector for
identifiable patient data in a response (an NHS number or a patient's name from the index).
Shared by the audit crawl (test_audit_walk.py) and the fuzz test (test_fuzz_views.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from wraparound.apps.care.models import MdtMeeting, Task
from wraparound.apps.records.models import Patient, User

DEMO_USERNAMES = (
    "gp",
    "practice",
    "coordinator",
    "nurse",
    "social",
    "pharmacist",
    "mentalhealth",
    "linkworker",
    "hub",
    "commissioner",
    "admin",
    "auditor",
)
SKIP = {"login", "logout", "healthz"}  # signing in and out are tested on their own


@dataclass(frozen=True)
class Url:
    name: str
    route: str
    params: tuple[str, ...]


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and p.name:
            route = prefix + str(p.pattern)
            yield Url(p.name, route, tuple(re.findall(r"<(?:\w+:)?(\w+)>", route)))


def app_urls() -> list[Url]:
    seen, urls = set(), []
    for url in _walk(get_resolver().url_patterns):
        if url.name not in SKIP and url.name not in seen:
            seen.add(url.name)
            urls.append(url)
    return urls


def _triage_request(patient):
    """A request on the practice's triage queue for the world's related patient."""
    from wraparound.apps.triage.intake import submit_request
    from wraparound.apps.triage.models import TriageRequest

    found = TriageRequest.objects.filter(patient=patient).first()
    return found or submit_request(patient=patient, answers={"request": "crawl sample"})


def sample_values(world: dict) -> dict[str, object]:
    """A real value for each path parameter, from the test world."""
    patient = world["related"]
    gp = User.objects.get(username="gp")
    task = Task.objects.filter(patient=patient).first() or Task.objects.first()
    return {
        "pk": patient.pk,
        "item_id": world["agenda_item"].pk,
        "meeting_id": MdtMeeting.objects.order_by("pk").first().pk,
        "task_id": task.pk if task else 1,
        "ods": gp.scope_org_id,
        "indicator_id": "high_needs_named_gp",
        "specialty_of": "high_needs_named_gp",
        "measure": "emergency_admissions",
        "form_id": "physiotherapy",
        "request_id": _triage_request(patient).pk,
        **_referral_values(patient, gp),
    }


def _referral_values(patient, gp) -> dict[str, int]:
    """A referral of the patient sent for advice, with an attachment (referrals app)."""
    from wraparound.apps.referrals import directory, machine
    from wraparound.apps.referrals.models import Attachment, Referral, Service

    ref = Referral.objects.filter(patient=patient).first()
    if ref is None:
        directory.import_demo()
        service = Service.objects.get(service_id="dud-derm")
        ref = machine.create(patient=patient, service=service, referrer=gp, reason="Crawl")
        machine.apply(ref, "request_advice", gp)
    att = ref.attachments.first() or Attachment.objects.create(
        referral=ref,
        at=ref.created_at,
        uploaded_by=gp,
        name="a.txt",
        content_type="text/plain",
        size=2,
        data=b"hi",
    )
    return {"referral_id": ref.pk, "attachment_id": att.pk}


def fill(url: Url, values: dict[str, object]) -> str:
    """The URL with its parameters filled; one this map does not know yet gets 1 (a page
    for something that may not exist: still crawled and fuzzed, if only as a 404)."""
    return reverse(url.name, kwargs={p: values.get(p, 1) for p in url.params})


class PatientDataDetector:
    """Finds an NHS number (spaced or not) or a "Given FAMILY" name of an indexed patient."""

    NHS = re.compile(r"(?<!\d)(\d{3}) ?(\d{3}) ?(\d{4})(?!\d)")
    NAME = re.compile(r"([A-Z][\w'-]*) ([A-Z][A-Z'-]+\d*)")

    def __init__(self):
        rows = Patient.objects.values_list("nhs_number", "given_name", "family_name")
        self.numbers = {n for n, _, _ in rows}
        self.names = {f"{g} {f.upper()}" for _, g, f in rows}

    def __call__(self, body: str) -> bool:
        if any("".join(m) in self.numbers for m in self.NHS.findall(body)):
            return True
        return any(" ".join(m) in self.names for m in self.NAME.findall(body))
