"""The capacity and access-standards dashboards: charts, data tables and CSV downloads of the
materialised ledger (``ledger_models.py``). They read ledger rows only, never slots or
appointments, so a page is a handful of indexed queries whatever the locality's size.

Who sees what (aggregate figures only; no patient appears):

- commissioners: every hub, neighbourhood and practice;
- care co-ordinators, hub staff and hub clinicians: their neighbourhood, its hubs and its
  practices;
- GPs and practice staff: their practice, and its neighbourhood and hubs to compare with;
- everyone else: refused (403), as is an organisation outside the user's scope.

An unknown level or a malformed week count is a 400 naming the parameter; an organisation
that does not exist is a 404. Each chart's figures are in the table beside it, and each table
downloads as CSV with the same header and cells (``scorecard/tables.py``).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, Sum
from django.shortcuts import render
from django.urls import reverse

from wraparound.apps.access import gpad, standards
from wraparound.apps.access.ledger_models import (
    LEVELS,
    CapacityWeek,
    LedgerRefresh,
    StandardsWeek,
)
from wraparound.apps.access.vocabulary import HCP_ROLES, MODES
from wraparound.apps.records.models import Organisation
from wraparound.apps.scorecard import charts
from wraparound.apps.scorecard.tables import Table, csv_response, num
from wraparound.vocabulary import DASHBOARD_ROLES

DEFAULT_WEEKS = 26
MAX_WEEKS = 156
SPLIT_WEEKS = 12  # the split tables average the latest twelve weeks
KIND_LEVEL = {"hub": "hub", "neighbourhood": "neighbourhood", "practice": "practice"}


class BadRequest(ValueError):
    pass


def can_view(user) -> bool:
    return user.is_authenticated and user.role in DASHBOARD_ROLES


def visible_orgs(user):
    """The hubs, neighbourhoods and practices whose figures ``user`` may see."""
    orgs = Organisation.objects.filter(kind__in=tuple(KIND_LEVEL))
    if user.scope == "locality":
        return orgs
    practice_scope = user.scope == "practice"
    neighbourhood = user.scope_org.parent_id if practice_scope else user.scope_org_id
    near = orgs.filter(Q(pk=neighbourhood) | Q(parent_id=neighbourhood))
    if user.scope == "practice":  # its own practice, not its neighbours'
        near = near.exclude(Q(kind="practice") & ~Q(pk=user.scope_org_id))
    return near


def _refuse(request, what: str):
    return render(request, "access/dashboard_refused.html", {"what": what}, status=403)


def _bad(request, problem: str):
    return render(request, "access/dashboard_bad.html", {"problem": problem}, status=400)


def _choose(request):
    """The organisation, its level and the number of weeks asked for, checked. Returns
    ``(org, level, weeks, choices)`` or an HttpResponse refusing the request."""
    if not can_view(request.user):
        return _refuse(request, "the capacity and access dashboards")
    orgs = list(visible_orgs(request.user).order_by("kind", "name"))
    raw_weeks = request.GET.get("weeks", str(DEFAULT_WEEKS))
    if not raw_weeks.isascii() or not raw_weeks.isdigit() or not 1 <= int(raw_weeks) <= MAX_WEEKS:
        return _bad(request, f"weeks must be a whole number from 1 to {MAX_WEEKS}")
    org_id = request.GET.get("org", "")
    if org_id and not (org_id.isascii() and org_id.isalnum() and len(org_id) <= 16):
        return _bad(request, "org must be an organisation code (up to 16 letters and digits)")
    if org_id:
        org = Organisation.objects.filter(pk=org_id).first()
        if org is None or org.kind not in KIND_LEVEL:
            problem = {"problem": "no such hub, neighbourhood or practice"}
            return render(request, "access/dashboard_bad.html", problem, status=404)
        if org not in orgs:
            return _refuse(request, f"the figures of {org.name}")
    else:
        scope = request.user.scope_org
        org = scope if scope in orgs else next((o for o in orgs if o.kind == "neighbourhood"), None)
        if org is None and orgs:
            org = orgs[0]
    if org is None:
        return _bad(request, "there is no hub, neighbourhood or practice to show")
    choices = [(o.pk, f"{o.name} ({LEVELS[KIND_LEVEL[o.kind]].lower()})") for o in orgs]
    return org, KIND_LEVEL[org.kind], int(raw_weeks), choices


def _weeks(level: str, org, weeks: int) -> list[CapacityWeek]:
    rows = CapacityWeek.objects.filter(level=level, organisation=org, split="all").order_by(
        "-week_start"
    )[:weeks]
    return list(reversed(rows))


def _pct(value: float | None) -> str:
    return num(value * 100 if value is not None else None)


def _weekly_table(org, rows: list[CapacityWeek]) -> Table:
    in_force = standards.capacity_standards()
    headers = [
        "Week starting",
        "Registered patients",
        "Minutes offered",
        "Offered per 1,000",
        "Booked per 1,000",
        "Used per 1,000",
        "Utilisation (%)",
        "DNA rate (%)",
        *[f"{s.label}: met" for s in in_force],
    ]
    table = Table(f"Hub capacity per 1,000 registered patients per week, {org.name}", headers)
    table.numeric = set(range(1, len(headers)))
    for r in rows:
        met = []
        for s in in_force:
            if not s.in_force(r.week_start) or r.offered_per_1000 is None:
                met.append("not in force" if not s.in_force(r.week_start) else "")
            else:
                met.append("met" if r.offered_per_1000 >= s.minutes_per_1000 else "not met")
        table.add(
            [
                r.week_start.isoformat(),
                str(r.registered),
                num(r.minutes_offered, 0),
                num(r.offered_per_1000),
                num(r.booked_per_1000),
                num(r.used_per_1000),
                _pct(r.utilisation),
                _pct(r.dna_rate),
                *met,
            ]
        )
    return table


def _split_table(level: str, org, split: str, weeks: list[dt.date]) -> Table:
    """One split summed over the latest weeks and shown per week: minutes per 1,000 for the
    hours, mode and role splits; counts and DNA rate for lead time and national category."""
    labels = {
        "hours": standards.HOURS_BANDS,
        "mode": MODES,
        "role": HCP_ROLES,
        "lead_time": gpad.lead_labels(),
    }.get(split, {})
    rows = (
        CapacityWeek.objects.filter(
            level=level, organisation=org, split=split, week_start__in=weeks
        )
        .values("value")
        .annotate(
            offered=Sum("minutes_offered"),
            booked=Sum("minutes_booked"),
            used=Sum("minutes_used"),
            n=Sum("appointments"),
            attended=Sum("attended"),
            dna=Sum("dna"),
            cancelled=Sum("cancelled"),
            registered=Sum("registered"),
        )
    )
    by_value = {r["value"]: r for r in rows}
    order = list(labels) + sorted(set(by_value) - set(labels))
    n_weeks = len(weeks) or 1
    title = {
        "hours": "By hours",
        "mode": "By mode",
        "role": "By HCP type",
        "lead_time": "DNA rate by booking lead time (GPAD buckets)",
        "national_category": "By GPAD national category",
    }[split]
    caption = f"{title}, {org.name}, the latest {len(weeks)} weeks"
    if split in ("hours", "mode", "role"):
        headers = ["Group", "Offered per 1,000 per week", "Booked per 1,000 per week"]
        headers += ["Used per 1,000 per week", "Utilisation (%)"]
    else:
        headers = ["Group", "Appointments", "Attended", "Did not attend", "Cancelled"]
        headers += ["DNA rate (%)"]
    table = Table(caption, headers)
    table.numeric = set(range(1, len(headers)))
    for value in order:
        r = by_value.get(value)
        if r is None:
            continue
        label = labels.get(value, value) or "not recorded"
        if split in ("hours", "mode", "role"):
            registered = r["registered"] / n_weeks if r["registered"] else 0

            def rate(minutes, registered=registered):
                return minutes * 1000 / registered / n_weeks if registered else None

            table.add(
                [
                    label,
                    num(rate(r["offered"])),
                    num(rate(r["booked"])),
                    num(rate(r["used"])),
                    _pct(r["used"] / r["offered"] if r["offered"] else None),
                ]
            )
        else:
            known = r["attended"] + r["dna"]
            table.add(
                [
                    label,
                    str(r["n"]),
                    str(r["attended"]),
                    str(r["dna"]),
                    str(r["cancelled"]),
                    _pct(r["dna"] / known if known else None),
                ]
            )
    return table


def _query(org, weeks: int, **extra) -> str:
    params = {"org": org.pk, "weeks": weeks, **extra}
    return "?" + "&".join(f"{k}={v}" for k, v in params.items())


def _last_refresh():
    last = LedgerRefresh.objects.first()
    return last.at if last else None


SPLITS_SHOWN = ("hours", "mode", "role", "lead_time", "national_category")


def capacity(request, fmt: str = ""):
    chosen = _choose(request)
    if not isinstance(chosen, tuple):
        return chosen
    org, level, weeks, choices = chosen
    rows = _weeks(level, org, weeks)
    weekly = _weekly_table(org, rows)
    latest = [r.week_start for r in rows][-SPLIT_WEEKS:]
    split = request.GET.get("split", "")
    if fmt == "csv":
        if split and split not in SPLITS_SHOWN:
            return _bad(request, f"split must be one of {', '.join(SPLITS_SHOWN)}")
        table = _split_table(level, org, split, latest) if split else weekly
        return csv_response(table, f"capacity-{org.pk}{'-' + split if split else ''}.csv")
    last_week = rows[-1].week_start if rows else None
    force = standards.capacity_standards_in_force(last_week) if last_week else []
    colours = (charts.RED, charts.GREEN, charts.GREY)
    svg = charts.trend(
        "capacity",
        f"Minutes offered, booked and used per 1,000 per week, {org.name}",
        [
            {
                "period": r.week_start.strftime("%d %b %y"),
                "value": r.offered_per_1000,
                "booked": r.booked_per_1000,
            }
            for r in rows
            if r.offered_per_1000 is not None
        ],
        "minutes per 1,000 per week",
        lower=None,
        upper=None,
        peer="booked",
        peer_label="booked",
        hlines=tuple(
            (s.label, s.minutes_per_1000, colours[i % len(colours)]) for i, s in enumerate(force)
        ),
    )
    base = reverse("access_capacity_csv")
    splits = [
        {
            "key": s,
            "table": _split_table(level, org, s, latest),
            "csv": base + _query(org, weeks, split=s),
        }
        for s in SPLITS_SHOWN
    ]
    return render(
        request,
        "access/capacity.html",
        {
            "org": org,
            "level": LEVELS[level],
            "weeks": weeks,
            "choices": choices,
            "svg": svg,
            "table": weekly,
            "csv": base + _query(org, weeks),
            "splits": splits,
            "standards": standards.capacity_standards(),
            "in_force": force,
            "latest": rows[-1] if rows else None,
            "refreshed": _last_refresh(),
        },
    )


def _standards_table(level: str, org, weeks: int):
    found = {s.id: s for s in standards.access_standards().values()}
    rows = list(StandardsWeek.objects.filter(level=level, organisation=org).order_by("-week_start"))
    week_list = sorted({r.week_start for r in rows}, reverse=True)[:weeks]
    keep = set(week_list)
    rows = [r for r in rows if r.week_start in keep]
    summary = Table(
        f"Access standards met, {org.name}, the latest {len(week_list)} weeks",
        ["Standard", "Met", "Not met", "Met (%)", "Still to happen", "Not measurable"],
    )
    summary.numeric = {1, 2, 3, 4, 5}
    weekly = Table(
        f"Access standards met by week, {org.name}",
        ["Week starting", "Standard", "Met", "Not met", "Met (%)", "Still to happen"],
    )
    weekly.numeric = {2, 3, 4, 5}
    series: dict[str, list[dict]] = {}
    for standard_id, standard in found.items():
        mine = [r for r in rows if r.standard == standard_id]
        met = sum(r.met for r in mine)
        not_met = sum(r.not_met for r in mine)
        summary.add(
            [
                standard.label,
                str(met),
                str(not_met),
                _pct(met / (met + not_met) if met + not_met else None),
                str(sum(r.pending for r in mine)),
                str(sum(r.not_measurable for r in mine)),
            ]
        )
        series[standard_id] = [
            {"period": r.week_start.strftime("%d %b %y"), "value": r.share_met * 100}
            for r in sorted(mine, key=lambda r: r.week_start)
            if r.share_met is not None
        ]
    for r in sorted(rows, key=lambda r: (r.week_start, r.standard)):
        weekly.add(
            [
                r.week_start.isoformat(),
                found[r.standard].label if r.standard in found else r.standard,
                str(r.met),
                str(r.not_met),
                _pct(r.share_met),
                str(r.pending),
            ]
        )
    return found, summary, weekly, series


def access_standards(request, fmt: str = ""):
    chosen = _choose(request)
    if not isinstance(chosen, tuple):
        return chosen
    org, level, weeks, choices = chosen
    found, summary, weekly, series = _standards_table(level, org, weeks)
    if fmt == "csv":
        return csv_response(weekly, f"access-standards-{org.pk}.csv")
    charts_shown = []
    for standard_id, points in series.items():
        svg = charts.trend(
            f"standard-{standard_id}",
            f"{found[standard_id].label}: share met by week, {org.name}",
            points,
            "% met",
            lower=None,
            upper=None,
            peer=None,
        )
        if svg:
            charts_shown.append({"label": found[standard_id].label, "svg": svg})
    return render(
        request,
        "access/standards.html",
        {
            "org": org,
            "level": LEVELS[level],
            "weeks": weeks,
            "choices": choices,
            "summary": summary,
            "weekly": weekly,
            "charts": charts_shown,
            "standards": found.values(),
            "csv": reverse("access_standards_csv") + _query(org, weeks),
            "refreshed": _last_refresh(),
        },
    )
