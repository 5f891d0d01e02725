"""The public self-referral forms (``/self-referral/``, no sign-in): minimal data, CSRF, a
honeypot field, rate limits per IP address and per identity (django-ratelimit, rates set by
``WRAPAROUND_SELF_REFERRAL_RATE_*``), red-flag screening and a reference number.

Nothing about other patients can be learnt from the answers: the page after a valid form is
the same whether the NHS number or the details matched one patient, several or none (only
the reference number differs), the same work is done in every case (both ways of matching
are always tried, one request is always saved), and a request with a red flag goes to the
practice as urgent either way (to the queue when matched, to the review queue otherwise).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.shortcuts import render
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from wraparound import config, nhs_number
from wraparound.apps.records.models import Organisation
from wraparound.apps.triage import matching, rules
from wraparound.apps.triage.intake import IntakeError, clean_answers, create_request
from wraparound.apps.triage.models import new_reference

HONEYPOT = "website"
_FIELDS = (
    "nhs_number",
    "given_name",
    "family_name",
    "dob_day",
    "dob_month",
    "dob_year",
    "postcode",
    "phone",
    "email",
    "practice",
)
MAX_NAME = 100


def _text(post, name: str, limit: int = MAX_NAME) -> str:
    return (post.get(name) or "").strip()[:limit]


def _identity(post) -> tuple[dict, dict[str, str]]:
    """The identifying details, checked: (values, errors by field)."""
    errors: dict[str, str] = {}
    nhs = matching.normalise_nhs(_text(post, "nhs_number", 20))
    if nhs and not nhs_number.is_valid(nhs):
        errors["nhs_number"] = "Enter a valid 10-digit NHS number, or leave it blank"
    given, family = _text(post, "given_name"), _text(post, "family_name")
    if not given:
        errors["given_name"] = "Enter your first name"
    if not family:
        errors["family_name"] = "Enter your last name"
    birth = None
    try:
        birth = dt.date(
            int(post.get("dob_year", "")),
            int(post.get("dob_month", "")),
            int(post.get("dob_day", "")),
        )
        if not dt.date(1900, 1, 1) <= birth <= dt.date.today():
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        errors["dob"] = "Enter your date of birth as day, month and year, for example 27 3 1980"
    postcode = matching.normalise_postcode(_text(post, "postcode", 10))
    if not 5 <= len(postcode) <= 7 or not postcode.isalnum():
        errors["postcode"] = "Enter your postcode, for example M1 1AA"
    phone, email = _text(post, "phone", 20), _text(post, "email", 254)
    if not phone and not email:
        errors["phone"] = "Enter a phone number or an email address so that we can reply"
    if email and "@" not in email:
        errors["email"] = "Enter an email address in the right format, like name@example.com"
    practice = _text(post, "practice", 16)
    if practice and not Organisation.objects.filter(pk=practice, kind="practice").exists():
        errors["practice"] = "Choose your GP practice from the list"
    values = {
        "nhs_number": nhs,
        "given_name": given,
        "family_name": family,
        "birth_date": birth.isoformat() if birth else "",
        "postcode": postcode,
        "phone": phone,
        "email": email,
        "practice": practice,
    }
    return values, errors


def _identity_key(values: dict) -> str:
    basis = values["nhs_number"] or "|".join(
        (
            values["given_name"].lower(),
            values["family_name"].lower(),
            values["birth_date"],
            values["postcode"],
        )
    )
    return hashlib.sha256(basis.encode()).hexdigest()


def _limited(request, group: str, key, rate: str) -> bool:
    return is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True)


def index(request):
    return render(request, "triage/self_referral_index.html", {"forms": rules.public_forms()})


def _form_context(form, post=None, errors=None):
    post, errors = post or {}, errors or {}
    questions = [
        {
            "q": q,
            "name": f"q_{q.id}",
            "value": (post.get(f"q_{q.id}") or "")[: q.max_length + 1],
            "error": errors.get(f"q_{q.id}", ""),
            "options": q.options if q.kind == "choice" else ("yes", "no"),
        }
        for q in form.questions
    ]
    return {
        "form": form,
        "questions": questions,
        "post": {k: (post.get(k) or "")[:254] for k in _FIELDS},
        "errors": errors,
        "practices": Organisation.objects.filter(kind="practice").order_by("name"),
        "honeypot": HONEYPOT,
    }


@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def self_referral(request, form_id: str):
    form = rules.forms().get(form_id)
    if form is None or not form.public:
        return render(request, "triage/self_referral_missing.html", status=404)
    if request.method != "POST":
        return render(request, "triage/self_referral_form.html", _form_context(form))
    settings = config.current()
    if _limited(request, "self_referral_ip", "ip", settings.self_referral_rate_ip):
        return render(request, "triage/self_referral_limited.html", status=429)
    post = request.POST
    values, errors = _identity(post)
    answers = {q.id: _text(post, f"q_{q.id}", q.max_length + 1) for q in form.questions}
    try:
        answers = clean_answers(form, {k: v for k, v in answers.items() if v})
    except IntakeError:
        answers = None
    if answers is None:
        for q in form.questions:
            value = _text(post, f"q_{q.id}", q.max_length + 1)
            if q.required and not value:
                errors[f"q_{q.id}"] = f"Answer: {q.label}"
            elif len(value) > q.max_length:
                errors[f"q_{q.id}"] = f"Keep your answer under {q.max_length} characters"
            elif value and q.kind != "text" and value not in (q.options or ("yes", "no")):
                errors[f"q_{q.id}"] = f"Choose an answer: {q.label}"
    if errors:
        return render(
            request, "triage/self_referral_form.html", _form_context(form, post, errors), status=400
        )
    if _limited(
        request,
        "self_referral_identity",
        lambda group, req: _identity_key(values),
        settings.self_referral_rate_identity,
    ):
        return render(request, "triage/self_referral_limited.html", status=429)
    screen = rules.screen(form, answers)
    if post.get(HONEYPOT):  # a bot: the same page, nothing kept
        reference = new_reference()
    else:
        found = matching.match(
            nhs=values["nhs_number"],
            given=values["given_name"],
            family=values["family_name"],
            birth=dt.date.fromisoformat(values["birth_date"]),
            postcode=values["postcode"],
        )
        stated = (
            Organisation.objects.filter(pk=values["practice"]).first()
            if values["practice"]
            else None
        )
        identity = dict(
            values, candidates=list(found.candidates) if found.outcome == "ambiguous" else []
        )
        req = create_request(
            form=form,
            answers=answers,
            kind="self_referral",
            source="public_form",
            match=found.outcome,
            patient=found.patient,
            practice=found.patient.practice if found.patient else stated,
            identity=identity,
        )
        reference = req.reference
    return render(
        request,
        "triage/self_referral_done.html",
        {
            "form": form,
            "reference": reference,
            "advice": screen.advice,
            "red_flag": screen.red_flag,
        },
    )
