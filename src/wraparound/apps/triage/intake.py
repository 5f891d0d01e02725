"""Requests into the practice's triage queue: the one writer, for the public self-referral
forms and for the portal's "ask my practice".

For the portal (a signed-in, identified patient):

    from wraparound.apps.triage.intake import submit_request, IntakeError

    req = submit_request(
        patient=patient,                 # records.Patient (matched by NHS number at sign-in)
        kind="online_consultation",      # default
        category="clinical",             # or "admin"
        answers={"request": "...", "chest_pain": "no", "breathing": "no",
                 "suicidal_thoughts": "no"},   # question ids of data/self_referral/
                                               # online_consultation.toml; all but "request"
                                               # optional ("yes"/"no")
        source="portal",
    )
    req.reference            # "WR-7K3M9QXD": show it to the patient
    req.urgency              # "emergency" | "urgent" | "routine"
    req.red_flags            # ids of the red-flag rules that fired
    req.advice_card          # rules.Advice: .card ("emergency" | "urgent" | "non-urgent"),
                             # .heading, .lines: the NHS.UK care card of what to do now
    req.what_next            # one sentence: what the practice will do

It applies the same red-flag screening as the public forms (``rules.screen``): a red flag
marks the request urgent (or emergency) and it is put at the top of the practice's queue
(``/triage/``) for the same day. The request lands on the patient's registered practice's
queue. Unknown answer keys, a missing ``request`` or an answer over its length raise
:class:`IntakeError` and record nothing. Each request records an app event for the response
time indicator when it is first answered (``events.py``).
"""

from __future__ import annotations

from django.db import transaction

from wraparound.apps.records.models import Patient
from wraparound.apps.triage import rules
from wraparound.apps.triage.models import TriageRequest

__all__ = ["IntakeError", "create_request", "submit_request"]

CATEGORIES = ("clinical", "admin")


class IntakeError(ValueError):
    """A request the queue cannot take (the message says what is wrong)."""


def clean_answers(form: rules.Form, answers: dict) -> dict[str, str]:
    """The answers as text, checked against the form's questions."""
    known = {q.id: q for q in form.questions}
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise IntakeError(f"unknown answers for {form.id}: {', '.join(unknown)}")
    out = {}
    for q in form.questions:
        value = str(answers.get(q.id, "") or "").strip()
        if q.required and not value:
            raise IntakeError(f"{q.id} is required")
        if q.kind == "yesno" and value and value not in ("yes", "no"):
            raise IntakeError(f"{q.id} must be yes or no")
        if q.kind == "choice" and value and value not in q.options:
            raise IntakeError(f"{q.id} must be one of the options")
        if len(value) > q.max_length:
            raise IntakeError(f"{q.id} is longer than {q.max_length} characters")
        if value:
            out[q.id] = value
    return out


def _decorate(req: TriageRequest, form: rules.Form) -> TriageRequest:
    req.advice_card = rules.advice()[req.advice]
    req.what_next = form.what_next
    return req


def create_request(
    *,
    form: rules.Form,
    answers: dict,
    kind: str,
    source: str,
    match: str,
    patient: Patient | None = None,
    practice=None,
    identity: dict | None = None,
    category: str = "clinical",
) -> TriageRequest:
    """Screen and save one request (answers already cleaned)."""
    screen = rules.screen(form, answers)
    with transaction.atomic():
        req = TriageRequest.objects.create(
            kind=kind,
            form=form.id,
            form_version=form.version,
            category=category,
            source=source,
            patient=patient,
            match=match,
            practice=practice if practice is not None else (patient.practice if patient else None),
            identity=identity or {},
            answers=answers,
            red_flags=[r.id for r in screen.flags],
            urgency=screen.urgency,
            advice=screen.advice.urgency,
        )
    return _decorate(req, form)


def submit_request(
    *,
    patient: Patient,
    kind: str = "online_consultation",
    category: str = "clinical",
    answers: dict,
    source: str = "portal",
) -> TriageRequest:
    """A signed-in patient's request to their practice (see the module docstring)."""
    if kind != "online_consultation":
        raise IntakeError("the portal submits online_consultation requests")
    if category not in CATEGORIES:
        raise IntakeError(f"category must be one of {', '.join(CATEGORIES)}")
    if not isinstance(patient, Patient) or patient.pk is None:
        raise IntakeError("submit_request needs a saved records.Patient")
    form = rules.forms()["online_consultation"]
    cleaned = clean_answers(form, answers)
    return create_request(
        form=form,
        answers=cleaned,
        kind=kind,
        source=source,
        match="known",
        patient=patient,
        category=category,
    )
