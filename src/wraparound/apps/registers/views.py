"""The register worklist: the current run's patients within the user's scope, filtered,
sorted and paged in the database. Commissioners get the same list pseudonymised."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponseForbidden
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import cached_property

from wraparound.apps.records import audit
from wraparound.apps.registers.models import RegisterEntry, RegisterRun

PAGE_SIZE = 50
RECENT_DAYS = 90
SORTS = {
    "score": "-score",
    "name": "patient__family_name",
    "age": "patient__birth_date",
    "efi": "-efi",
    "practice": "practice__name",
}
PSEUDONYMISED_SORTS = {"score", "efi", "practice"}
PSEUDONYMISED_ROW = (
    "patient_id",
    "patient__pseudonym",
    "practice__name",
    "score",
    "risk_band",
    "stream",
    "efi",
    "efi_category",
    "is_new",
)
"""What a row of the worklist shows (``templatetags/register_rows.py`` writes it): a
pseudonymised list names no one."""
ROW = (
    *PSEUDONYMISED_ROW,
    "patient__given_name",
    "patient__family_name",
    "patient__nhs_number",
    "patient__case__status",
)
FILTERS = (
    "practice",
    "stream",
    "risk_band",
    "efi_category",
    "new",
    "no_plan",
    "overdue",
    "recent",
    "sort",
)


def scoped_entries(user, run):
    """The entries this user may see. A pseudonymised (commissioner's) list is a secondary
    use, so patients who opted out of sharing (the national data opt-out) are left out;
    direct-care lists keep them, because the opt-out does not apply to their own care."""
    entries = RegisterEntry.objects.filter(run=run)
    role = user.role_info
    if role.pseudonymised:
        return entries.filter(practice__in=user.practices(), patient__opted_out=False)
    if role.register_pool:
        return entries.filter(practice__in=user.practices())
    # The user's active care-team places, through the reverse relation care's CareTeamMember
    # declares on User (``caseload``): registers sits below care and imports none of it.
    caseload = user.caseload.filter(active=True).values("patient_id")
    return entries.filter(patient_id__in=caseload)


def apply_filters(entries, q: dict, run, today: dt.date):
    if q["practice"]:
        entries = entries.filter(practice_id=q["practice"])
    for field in ("stream", "risk_band", "efi_category"):
        if q[field]:
            entries = entries.filter(**{field: q[field]})
    if q["new"]:
        entries = entries.filter(is_new=True)
    if q["no_plan"]:
        entries = entries.filter(patient__care_plan__isnull=True)
    if q["overdue"]:
        entries = entries.filter(patient__care_plan__review_date__lt=today)
    if q["recent"]:
        # From the start of that day, local time: the same as ``__date__gte``, but compared
        # as stored, where ``__date`` made SQLite call into Python for every row.
        since = timezone.make_aware(
            dt.datetime.combine(run.index_date - dt.timedelta(days=RECENT_DAYS), dt.time.min)
        )
        entries = entries.filter(
            Q(patient__last_ae__gte=since) | Q(patient__last_admission__gte=since)
        )
    return entries


class _Paginator(Paginator):
    """Pages of the rows' values, counted on the entries alone: a count of the values'
    query kept the joins to the patient, case and practice, which cost a page more than the
    rows themselves."""

    def __init__(self, rows, per_page, entries):
        super().__init__(rows, per_page)
        self._entries = entries

    @cached_property
    def count(self) -> int:
        return self._entries.count()


OPTIONS_SECONDS = 300
"""How long each worker keeps a run's filter choices (they change only with a new run)."""


def filter_options(run) -> dict[str, list[str]]:
    """The streams, risk bands and eFI categories in the run, for the filter menus: three
    scans of the run's entries, so each worker keeps them for the run as loaded (its id and
    load time are in the key) for a few minutes."""
    loaded = run.loaded_at.isoformat() if run.loaded_at else ""
    key = f"register-options:{run.pk}:{run.run_id}:{loaded}"
    found = cache.get(key)
    if found is None:
        options = RegisterEntry.objects.filter(run=run)
        found = {
            "streams": sorted(set(options.values_list("stream", flat=True).distinct())),
            "bands": sorted(set(options.values_list("risk_band", flat=True).distinct())),
            "efi_categories": sorted(
                set(
                    options.exclude(efi_category="")
                    .values_list("efi_category", flat=True)
                    .distinct()
                )
            ),
        }
        cache.set(key, found, OPTIONS_SECONDS)
    return found


def worklist(request):
    user = request.user
    role = user.role_info
    if not (role.direct_care or role.pseudonymised):
        audit.record(request, action="denied", what="register worklist", outcome="denied")
        return HttpResponseForbidden("Your role has no register worklist.")
    run = RegisterRun.objects.filter(current=True).first()
    q = {k: request.GET.get(k, "").strip() for k in FILTERS}
    context = {"run": run, "q": q, "pseudonymised": role.pseudonymised}
    if run is not None:
        entries = apply_filters(scoped_entries(user, run), q, run, dt.date.today())
        sort = q["sort"] if q["sort"] in SORTS else "score"
        if role.pseudonymised and sort not in PSEUDONYMISED_SORTS:
            sort = "score"
        # The page's rows as plain values: fifty entries as models, each with its patient
        # (two JSON fields decoded), case and practice, were most of the page's time.
        fields = PSEUDONYMISED_ROW if role.pseudonymised else ROW
        rows = entries.order_by(SORTS[sort], "id").values(*fields)
        page = _Paginator(rows, PAGE_SIZE, entries).get_page(request.GET.get("page"))
        context.update(
            page=page,
            sort=sort,
            practices=user.practices().order_by("name"),
            **filter_options(run),
            params=urlencode({k: v for k, v in q.items() if v}),
            sort_params=urlencode({k: v for k, v in q.items() if v and k != "sort"}),
        )
    audit.record(
        request,
        action="read",
        what=(
            f"register worklist{' (pseudonymised)' if role.pseudonymised else ''} "
            f"page {request.GET.get('page', '1')}"
        ),
    )
    template = (
        "registers/_table.html" if request.headers.get("HX-Request") else "registers/worklist.html"
    )
    return render(request, template, context)
