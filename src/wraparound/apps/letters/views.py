"""The letters dashboard, ``/letters/``: per provider and service, the share of letters
delivered by the 2nd operational day after the contact, and the overdue list with its
escalation. GPs, practice staff and care co-ordinators see their practices' overdue letters
by patient (audited once a page); commissioners see the shares only, across the locality;
every other role is refused (403, audited)."""

from __future__ import annotations

from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from wraparound.apps.letters.models import ExpectedLetter
from wraparound.apps.letters.rules import operational_days_between, rules
from wraparound.apps.records import audit
from wraparound.apps.records.models import Organisation
from wraparound.web.bad_request import parse_choice

# Who sees what, by the roles' flags (vocabulary.ROLES): those whose register pool is their
# practices' patients (GPs, practice staff, care co-ordinators) see the overdue list by
# patient; pseudonymised roles (commissioners) the shares only.
OVERDUE_SHOWN = 200


def dashboard(request):
    user = request.user
    shows_patients = user.role_info.register_pool
    if not (shows_patients or user.role_info.pseudonymised):
        audit.record(request, action="denied", what="letters dashboard", outcome="denied")
        return render(request, "letters/refused.html", status=403)
    practices = user.practices()
    practice = parse_choice(
        request.GET.get("practice"), "practice", set(practices.values_list("pk", flat=True))
    )
    today = timezone.localdate()
    mine = ExpectedLetter.objects.filter(practice__in=practices)
    if practice:
        mine = mine.filter(practice_id=practice)
    due = mine.filter(Q(due__lt=today) | Q(received_at__isnull=False))
    table = (
        due.values("provider_name", "service")
        .annotate(
            n=Count("pk"),
            n_on_time=Count("pk", filter=Q(on_time=True)),
            n_late=Count("pk", filter=Q(on_time=False, received_at__isnull=False)),
            n_missing=Count("pk", filter=Q(received_at__isnull=True)),
        )
        .order_by("provider_name", "service")
    )
    rows = [
        {
            "provider_name": r["provider_name"],
            "service": r["service"],
            "expected": r["n"],
            "on_time": r["n_on_time"],
            "late": r["n_late"],
            "missing": r["n_missing"],
            "share": round(100 * r["n_on_time"] / r["n"], 1),
        }
        for r in table
    ]
    totals = {
        "expected": sum(r["expected"] for r in rows),
        "on_time": sum(r["on_time"] for r in rows),
    }
    totals["share"] = round(100 * totals["on_time"] / totals["expected"], 1) if rows else None
    overdue = []
    if shows_patients:
        escalate = rules()["escalate"]
        found = (
            mine.filter(received_at__isnull=True, due__lt=today)
            .select_related("patient", "practice", "task__assignee")
            .order_by("-due", "pk")[:OVERDUE_SHOWN]
        )
        for letter in found:
            letter.days_overdue = operational_days_between(letter.due, today)
            letter.escalates_in = max(0, escalate - letter.days_overdue)
            overdue.append(letter)
        audit.record(
            request,
            action="read",
            what=f"letters dashboard: {len(overdue)} overdue letters by patient",
        )
    return render(
        request,
        "letters/dashboard.html",
        {
            "rows": rows,
            "totals": totals,
            "overdue": overdue,
            "shows_patients": shows_patients,
            "practices": Organisation.objects.filter(pk__in=practices).order_by("name"),
            "practice": practice,
            "rules": rules(),
            "today": today,
        },
    )
