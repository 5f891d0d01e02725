"""The worklists: the receiving service's queue, the referrer's list and the co-ordination
centre's view of everything open for a patient.

Overdue items (``due`` before today: the state's service-level timer has run out) come
first on both referral lists. The queries use the ``(service, open, due)`` and
``(referrer_org, open, due)`` indexes and are paged, so a list over tens of thousands of
open referrals reads one page (``benchmarks/bench_referrals.py``).

**Other apps' open items.** The centre's worklist shows the patient's open referrals and
requests (this app), open care tasks (``care``, below this app) and whatever an app above
this one registers with :func:`register_source` from its ``AppConfig.ready()``: a function
``fn(user, patient_ids) -> iterable of Item`` (the letters, triage or outreach apps'
open items), so this app never imports them (``.importlinter``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from wraparound.apps.care.models import Task
from wraparound.apps.records.models import Patient
from wraparound.apps.referrals import rules
from wraparound.apps.referrals.models import Referral, Service


@dataclass(frozen=True)
class Item:
    patient_id: int
    source: str  # "Referral", "Request", "Task", or the registering app's word
    label: str
    status: str
    due: dt.date | None = None
    url: str = ""

    def overdue(self, today: dt.date) -> bool:
        return bool(self.due and self.due < today)


Source = Callable[[object, list[int]], Iterable[Item]]
_SOURCES: dict[str, Source] = {}


def register_source(name: str, fn: Source) -> None:
    """Add a kind of open item to the centre's worklist (idempotent by name)."""
    _SOURCES[name] = fn


def _waiting_on(side: str) -> list[str]:
    return [
        s.code for m in rules.machines().values() for s in m.states.values() if s.waiting_on == side
    ]


def _overdue_first(qs, today: dt.date):
    """Soonest due first: the overdue (due before today) are the earliest, so they lead;
    items with no timer running come last. One order the indexes can serve, no sort key
    computed per row."""
    return qs.order_by(F("due").asc(nulls_last=True), "pk")


def service_queue(service: Service, only_overdue: bool = False, today: dt.date | None = None):
    today = today or timezone.localdate()
    qs = Referral.objects.filter(
        service=service, open=True, state__in=_waiting_on("provider")
    ).select_related("patient", "service", "referrer_org")
    if only_overdue:
        qs = qs.filter(due__lt=today)
    return _overdue_first(qs, today)


def referrer_list(user, only_overdue: bool = False, today: dt.date | None = None):
    """Open referrals made from the user's organisation: waiting on the referrer (advice
    given, drafts) and on the service, overdue first."""
    today = today or timezone.localdate()
    qs = Referral.objects.filter(referrer_org_id=user.scope_org_id, open=True).select_related(
        "patient", "service", "referrer_org"
    )
    if only_overdue:
        qs = qs.filter(Q(due__lt=today) | Q(state__in=_waiting_on("referrer")))
    return _overdue_first(qs, today)


def centre(user, page_no: int = 1, per_page: int = 25):
    """One page of patients with anything open, and for each what is open."""
    today = timezone.localdate()
    practices = list(user.practices().values_list("pk", flat=True))
    with_referrals = Referral.objects.filter(
        open=True, patient__practice_id__in=practices, patient__death_date=None
    ).values_list("patient_id", flat=True)
    with_tasks = Task.objects.filter(
        done_at=None, patient__practice_id__in=practices, patient__death_date=None
    ).values_list("patient_id", flat=True)
    ids = with_referrals.order_by().union(with_tasks.order_by()).order_by("patient_id")  # union: distinct ids
    page = Paginator(ids, per_page).get_page(page_no)
    patients = {
        p.pk: p
        for p in Patient.objects.filter(pk__in=list(page.object_list)).order_by(
            "family_name", "given_name", "pk"
        )
    }
    items: dict[int, list[Item]] = {pk: [] for pk in patients}
    for r in Referral.objects.filter(open=True, patient_id__in=patients).select_related("service"):
        items[r.patient_id].append(
            Item(
                r.patient_id,
                r.get_machine_display(),
                str(r.service),
                rules.machine(r.machine).state(r.state).label,
                r.due,
                reverse("referral_thread", kwargs={"referral_id": r.pk}),
            )
        )
    for t in Task.objects.filter(done_at=None, patient_id__in=patients):
        items[t.patient_id].append(Item(t.patient_id, "Task", t.what, "To do", t.due))
    for fn in _SOURCES.values():
        for item in fn(user, list(patients)):
            if item.patient_id in items:
                items[item.patient_id].append(item)
    groups = [
        {
            "patient": patients[pk],
            "items": sorted(
                ((i, i.overdue(today)) for i in items[pk]),
                key=lambda x: (not x[1], x[0].due or dt.date.max),
            ),
        }
        for pk in patients
    ]
    return groups, page
