"""The portal's pages for a signed-in patient (or their proxy): home, my record, my care
plan, appointments (book, cancel, rebook), who looked at my record, downloads, proxies, ask
my practice and feedback. Every page goes through ``session.portal_view``; every page that
shows the record is audited once per request.

Identifiers in URLs and forms (an appointment, a slot, a proxy) are always looked up within
the principal's own patient: another patient's id is simply not found (404), and says
nothing about whether it exists."""

from __future__ import annotations

import json
import secrets

from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from wraparound.apps.access.models import Appointment
from wraparound.apps.care.models import CareTeamMember
from wraparound.apps.portal import booking, fhir, proxies, record, rules, session
from wraparound.apps.portal.models import PlanContribution, PortalSession, Proxy
from wraparound.apps.portal.session import portal_view
from wraparound.apps.records.models import AuditEvent

MAX_TEXT = 2000


def _page(request, template: str, who, status: int = 200, **context):
    context.update(
        who=who,
        level_label=rules.proofing()["level"].get(who.session.level, {}).get("label", ""),
        represented=_represented(who),
    )
    return render(request, template, context, status=status)


def _represented(who):
    """Whose records this signed-in person may switch between: their own, and each patient
    they hold active proxy access for."""
    out = []
    if who.session.patient_id:
        out.append(
            {
                "value": "self",
                "label": f"Yourself ({who.session.patient})",
                "current": not who.is_proxy,
            }
        )
    for p in session.active_proxies(who.session.nhs_number):
        out.append(
            {
                "value": str(p.pk),
                "label": f"{p.patient} ({p.relationship})",
                "current": who.is_proxy and who.proxy.pk == p.pk,
            }
        )
    return out


def home(request):
    who = session.principal(request)
    if who is None:
        return session.no_store(render(request, "portal/signed_out.html", {}))
    offers = _offers(who) if who.can("feedback") else []
    coming = list(booking.future(who.patient)[:3]) if who.can("appointments") else []
    response = _page(request, "portal/home.html", who, offers=offers, coming=coming)
    session.audit(request, who, "read", "portal home")
    return session.no_store(response)


@portal_view(methods=("POST",))
def act_for(request, who):
    choice = request.POST.get("for", "")
    s = who.session
    if choice == "self" and s.patient_id:
        PortalSession.objects.filter(pk=s.pk).update(acting_for=s.patient_id)
    else:
        try:
            proxy = session.active_proxies(s.nhs_number).get(pk=int(choice))
        except (ValueError, Proxy.DoesNotExist):
            raise Http404("no such proxy access") from None
        PortalSession.objects.filter(pk=s.pk).update(acting_for=proxy.patient_id)
    return redirect("portal_home")


@portal_view("record", what="my record")
def my_record(request, who):
    summary = record.summary(who.patient)
    return _page(request, "portal/record.html", who, summary=summary)


def _goals(version) -> list[str]:
    if version is None:
        return []
    return [g.strip(" -•\t") for g in version.goals.splitlines() if g.strip(" -•\t")]


@portal_view("care_plan", what="my care plan", methods=("GET", "HEAD", "POST"))
def care_plan(request, who):
    version = record.care_plan(who.patient)
    goals = _goals(version)
    errors: list[str] = []
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        text = (request.POST.get("text") or "").strip()
        goal = ""
        if kind not in dict(PlanContribution.KINDS):
            errors.append("Choose what you are adding to.")
        if not text:
            errors.append("Write what you want to add.")
        elif len(text) > MAX_TEXT:
            errors.append(f"Keep it under {MAX_TEXT} characters.")
        if kind == "goal_comment":
            try:
                goal = goals[int(request.POST.get("goal", ""))]
            except (ValueError, IndexError):
                errors.append("Choose the goal you are commenting on.")
        if not errors:
            with transaction.atomic():
                last = (
                    PlanContribution.objects.select_for_update()
                    .filter(patient=who.patient)
                    .order_by("-number")
                    .first()
                )
                PlanContribution.objects.create(
                    patient=who.patient,
                    number=(last.number + 1) if last else 1,
                    kind=kind,
                    plan_version=version.number if version else None,
                    goal=goal[:300],
                    text=text,
                    by_name=(who.session.name or who.username)[:200],
                    by_proxy=who.proxy,
                )
            return redirect("portal_care_plan")
    contributions = PlanContribution.objects.filter(patient=who.patient).order_by("-number")
    return _page(
        request,
        "portal/care_plan.html",
        who,
        status=400 if errors else 200,
        version=version,
        goals=list(enumerate(goals)),
        errors=errors,
        contributions=contributions,
        shown="care_plan" in rules.shown_categories(who.patient.practice_id),
    )


@portal_view("appointments", what="my appointments")
def appointments(request, who):
    coming, past = record.appointments(who.patient)
    return _page(
        request,
        "portal/appointments.html",
        who,
        coming=[(a, booking.changeable(a)) for a in coming],
        past=past,
        cutoff_hours=booking.cutoff().seconds // 3600 + booking.cutoff().days * 24,
    )


def _actor(request, who) -> booking.PatientActor:
    return booking.PatientActor(request=request, basis=who.basis, principal=who)


def _own_appointment(who, appointment_id: int) -> Appointment:
    appt = Appointment.objects.filter(pk=appointment_id, patient=who.patient).first()
    if appt is None:
        raise Http404("no such appointment")
    return appt


@portal_view("appointments", what="book an appointment", methods=("GET", "HEAD", "POST"))
def book(request, who):
    error = ""
    when = request.POST.get("when") or request.GET.get("when") or "any"
    if when not in booking.WHEN_CHOICES:
        error = "Choose any time, or weekday evenings and weekends."
        when = "any"
    elif request.method == "POST":
        try:
            slot_id = int(request.POST.get("slot", ""))
        except ValueError:
            slot_id = None
        if slot_id is None:
            error = "Choose an appointment."
        else:
            try:
                appt = booking.book(
                    _actor(request, who), slot_id, key=(request.POST.get("key") or "")[:100]
                )
                return redirect("portal_booked", appointment_id=appt.pk)
            except booking.PortalBookingError as exc:
                error = str(exc)
    slots = booking.open_slots(who.patient, when=when)
    return _page(
        request,
        "portal/book.html",
        who,
        status=400 if error else 200,
        slots=slots,
        when=when,
        when_choices=[(key, label) for key, (label, _bands) in booking.WHEN_CHOICES.items()],
        error=error,
        key=secrets.token_urlsafe(16),
    )


@portal_view("appointments", what="appointment booked")
def booked(request, who, appointment_id: int):
    appt = _own_appointment(who, appointment_id)
    return _page(request, "portal/booked.html", who, appt=appt)


@portal_view("appointments", what="change an appointment", methods=("GET", "HEAD", "POST"))
def change(request, who, appointment_id: int):
    appt = _own_appointment(who, appointment_id)
    error = ""
    if request.method == "POST":
        try:
            if request.POST.get("action") == "cancel":
                booking.cancel(
                    _actor(request, who), appt, (request.POST.get("reason") or "")[:300].strip()
                )
                return redirect("portal_appointments")
            if request.POST.get("action") == "rebook":
                new = booking.rebook(_actor(request, who), appt, int(request.POST.get("slot")))
                return redirect("portal_booked", appointment_id=new.pk)
            error = "Choose to cancel or to move the appointment."
        except (ValueError, TypeError):
            error = "Choose a new time."
        except booking.PortalBookingError as exc:
            error = str(exc)
    return _page(
        request,
        "portal/change.html",
        who,
        status=400 if error else 200,
        appt=appt,
        changeable=booking.changeable(appt),
        slots=booking.open_slots(who.patient),
        error=error,
    )


@portal_view("audit", what="who looked at my record")
def who_looked(request, who):
    rows = (
        AuditEvent.objects.filter(patient=who.patient)
        .select_related("user", "user__scope_org", "user__service")
        .order_by("-at", "-id")[:200]
    )
    events = []
    for e in rows:
        org = ""
        if e.user is not None:
            org = str(e.user.service or e.user.scope_org)
        events.append(
            {
                "at": e.at,
                "who": e.username
                if e.user is None
                else (e.user.get_full_name() or e.user.username),
                "organisation": org
                or (
                    "You, in the portal"
                    if e.role == "patient"
                    else "Your proxy, in the portal"
                    if e.role == "proxy"
                    else ""
                ),
                "role": e.role,
                "action": e.action,
                "what": e.what,
                "basis": e.basis,
                "outcome": e.outcome,
                "break_glass": e.basis == "break_glass" or e.action == "break_glass",
            }
        )
    return _page(request, "portal/who_looked.html", who, events=events)


def _team(patient):
    return list(CareTeamMember.objects.filter(patient=patient, active=True).select_related("user"))


@portal_view("download", what="download record summary and care plan (FHIR)")
def download_fhir(request, who):
    summary = record.summary(who.patient)
    version = record.care_plan(who.patient) if "care_plan" in summary.shown else None
    bundle = fhir.record_bundle(who.patient, summary, version, _team(who.patient))
    response = HttpResponse(json.dumps(bundle, indent=2), content_type="application/fhir+json")
    response["Content-Disposition"] = 'attachment; filename="my-record.json"'
    return response


@portal_view("download", what="print record summary and care plan")
def printable(request, who):
    summary = record.summary(who.patient)
    version = record.care_plan(who.patient) if "care_plan" in summary.shown else None
    return _page(
        request,
        "portal/print.html",
        who,
        summary=summary,
        version=version,
        goals=_goals(version),
        today=timezone.localdate(),
    )


@portal_view("proxies", what="proxy access", methods=("GET", "HEAD", "POST"))
def proxy_list(request, who):
    errors, code = [], ""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "invite":
            try:
                _proxy, code = proxies.invite(who, request.POST)
            except proxies.ProxyError as exc:
                errors = [str(exc)]
        elif action == "revoke":
            try:
                proxies.revoke(
                    who.patient,
                    int(request.POST.get("proxy", "")),
                    by=f"the patient ({who.username})",
                )
            except (ValueError, Proxy.DoesNotExist):
                raise Http404("no such proxy access") from None
            return redirect("portal_proxies")
        else:
            errors = ["Choose what to do."]
    rows = Proxy.objects.filter(patient=who.patient).order_by("-created_at")
    return _page(
        request,
        "portal/proxies.html",
        who,
        status=400 if errors else 200,
        proxies=rows,
        errors=errors,
        code=code,
        scopes=list(rules.proxy_rules()["scopes"].items()),
        child=proxies.child_policy(who.patient),
    )


@portal_view(methods=("GET", "HEAD", "POST"))
def accept(request, who):
    """A carer accepts an invitation with its code (they sign in with their own NHS login)."""
    error = ""
    if request.method == "POST":
        try:
            proxy = proxies.accept(who.session, (request.POST.get("code") or "").strip())
            PortalSession.objects.filter(pk=who.session.pk).update(acting_for=proxy.patient_id)
            return redirect("portal_home")
        except proxies.ProxyError as exc:
            error = str(exc)
    return _page(request, "portal/accept.html", who, status=400 if error else 200, error=error)


def _offers(who):
    from wraparound.apps.feedback.offers import pending_for

    return pending_for(who.patient)


@portal_view("feedback", what="feedback offers")
def feedback(request, who):
    return _page(request, "portal/feedback.html", who, offers=_offers(who))


@portal_view("ask", what="ask my practice", methods=("GET", "HEAD", "POST"))
def ask(request, who):
    """Ask my practice (online consultation): the triage app's own form and red-flag
    screening; a red flag shows what to do now, and the request lands on the practice's
    triage queue marked urgent."""
    from wraparound.apps.triage import intake
    from wraparound.apps.triage import rules as triage_rules

    form = triage_rules.forms()["online_consultation"]
    error, done = "", None
    if request.method == "POST":
        answers = {
            q.id: (request.POST.get(q.id) or "").strip()
            for q in form.questions
            if (request.POST.get(q.id) or "").strip()
        }
        category = request.POST.get("category", "clinical")
        try:
            done = intake.submit_request(
                patient=who.patient, category=category, answers=answers, source="portal"
            )
        except intake.IntakeError as exc:
            error = str(exc)
    return _page(
        request,
        "portal/ask.html",
        who,
        status=400 if error else 200,
        form=form,
        error=error,
        done=done,
    )
