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

from django.db.models import Exists, OuterRef, Q
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


class TimedFirst:
    """Items with a timer running, soonest due first (the overdue, due before today, are
    the earliest, so they lead), then those with none, oldest first: two queries each
    ordered as its index is (``due`` then ``pk``, no NULLS LAST sort over every row),
    sliced for Django's ``Paginator``."""

    def __init__(self, qs):
        self.timed = qs.filter(due__isnull=False).order_by("due", "pk")
        self.untimed = qs.filter(due__isnull=True).order_by("pk")
        self._n: int | None = None

    def _timed_count(self) -> int:
        if self._n is None:
            self._n = self.timed.count()
        return self._n

    def count(self) -> int:
        return self._timed_count() + self.untimed.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window):
        if not isinstance(window, slice):
            return self[window : window + 1][0]
        a, b, n = window.start or 0, window.stop, self._timed_count()
        out = list(self.timed[a : min(b, n)]) if a < n else []
        if b > n:
            out += list(self.untimed[max(0, a - n) : b - n])
        return out


def _overdue_first(qs, today: dt.date) -> TimedFirst:
    return TimedFirst(qs)


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


@dataclass(frozen=True)
class Page:
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def centre(user, page_no: int = 1, per_page: int = 25):
    """One page of patients with anything open, and for each what is open."""
    today = timezone.localdate()
    practices = list(user.practices().values_list("pk", flat=True))
    page_no = max(1, page_no)
    # Patients of the scope in id order, each checked for anything open by an indexed
    # EXISTS: the walk stops at the page's end (no count, no sort over every open item).
    open_referral = Referral.objects.filter(patient_id=OuterRef("pk"), open=True)
    open_task = Task.objects.filter(patient_id=OuterRef("pk"), done_at=None)
    window = list(
        Patient.objects.filter(practice_id__in=practices, death_date=None)
        .filter(Exists(open_referral) | Exists(open_task))
        .order_by("pk")
        .values_list("pk", flat=True)[(page_no - 1) * per_page : page_no * per_page + 1]
    )
    page = Page(page_no, has_next=len(window) > per_page)
    patients = {
        p.pk: p
        for p in Patient.objects.filter(pk__in=window[:per_page]).order_by(
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
