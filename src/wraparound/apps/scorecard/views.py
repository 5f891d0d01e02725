"""Scorecard pages for staff: the practice scorecard (with clinicians for the practice's
own people), an indicator's trend and funnel plot, and for commissioners the outlier
report, inequalities and outcomes. Every chart has a data table and a CSV of that table."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.urls import reverse

from wraparound.apps.scorecard import access, charts, figures
from wraparound.apps.scorecard.models import InequalityGap, Outcome, Outlier, QuintileValue
from wraparound.apps.scorecard.tables import Table, csv_response, digits_for, interval, num

STATUS = {"high": "above 99.8% limit", "low": "below 99.8% limit", "within": "within limits"}
STATUS95 = {"high": "above 95% limit", "low": "below 95% limit", "within": "within limits"}
SCORECARD_HEADERS = [
    "Indicator",
    "Period",
    "Numerator",
    "Denominator",
    "Value",
    "Unit",
    "95% interval",
    "Peer value",
    "Decile",
    "Funnel (99.8%)",
    "Assessment",
    "Trend",
]


SPECIALTY_HEADERS = [
    "Specialty",
    "Period",
    "Numerator",
    "Denominator",
    "Value",
    "95% interval",
    "Neighbourhood value",
    "Peer value (locality)",
    "99.8% limits",
    "Funnel (99.8%)",
    "Funnel (95%)",
    "Consecutive months outside 99.8%",
]


def _status(row) -> str:
    return STATUS.get(row.get("funnel_status") or "", "")


def _cells(d: dict, row: dict) -> list[str]:
    k = digits_for(d)
    return [
        d["title"],
        row["period"],
        num(row["numerator"], 0),
        num(row["denominator"], 0),
        num(row["value"], k),
        d["unit"],
        interval(row["lower95"], row["upper95"], k),
        num(row["peer_value"], k),
        "" if row["decile"] is None else str(row["decile"]),
        _status(row),
        row["assessment"],
        row["trend"],
    ]


def index(request):
    if not access.can_view(request.user):
        return access.refuse(request, "scorecards")
    run = figures.IndicatorRun.latest()
    practices = request.user.practices().order_by("name")
    return render(
        request,
        "scorecard/index.html",
        {"run": run, "practices": practices, "commissioning": access.commissioning(request.user)},
    )


def _specialty_table(run, d: dict, org) -> Table:
    """One practice's figures for each specialty of a broken-down indicator, latest month.
    Status comes from the funnel limits around the locality value only, never from rank."""
    k = digits_for(d)
    period = d["latest_period"]
    table = Table(
        f"{org.name}: by specialty, {period} (value {d['unit']})",
        SPECIALTY_HEADERS,
        numeric={2, 3, 4, 5, 6, 7, 8, 11},
    )
    for r in figures.subgroup_rows(run, d["id"], org.org_id, period):
        table.add(
            [
                r["label"],
                r["period"],
                num(r["numerator"], 0),
                num(r["denominator"], 0),
                num(r["value"], k),
                interval(r["lower95"], r["upper95"], k),
                num(r["neighbourhood_value"], k),
                num(r["peer_value"], k),
                interval(r["funnel_lower998"], r["funnel_upper998"], k),
                _status(r),
                STATUS95.get(r["funnel_status95"] or "", ""),
                "" if r["consecutive_periods"] is None else str(r["consecutive_periods"]),
            ]
        )
    return table


def practice(request, ods: str, fmt: str = "html", specialty_of: str | None = None):
    user = request.user
    if not access.in_scope(user, ods):
        return access.refuse(request, "this practice's scorecard")
    org = figures.practice(ods)
    run = figures.current_run()
    definitions = {d["id"]: d for d in figures.computed(run)}
    table = Table(
        f"{org.name}: latest month of each indicator", SCORECARD_HEADERS, numeric={2, 3, 4, 6, 7, 8}
    )
    rows = {
        r["indicator_id"]: r
        for r in figures.latest_for(figures.IndicatorValue, run, [ods], level="practice")
    }
    for indicator_id, d in definitions.items():
        if indicator_id in rows:
            table.add(
                _cells(d, rows[indicator_id]),
                reverse("scorecard_indicator", args=[ods, indicator_id]),
            )
    clinicians = None
    if access.sees_clinicians(user, ods):
        clinicians = Table(
            f"{org.name}: by clinician, latest month",
            ["Clinician", *SCORECARD_HEADERS],
            numeric={3, 4, 5, 7, 8, 9},
        )
        crows = figures.latest_for(
            figures.IndicatorValue, run, [], level="clinician", parent_id=ods
        )
        order = list(definitions)
        crows.sort(
            key=lambda r: (
                order.index(r["indicator_id"]),
                run.clinicians.get(r["org_id"], r["org_id"]),
            )
        )
        for r in crows:
            clinicians.add(
                [
                    run.clinicians.get(r["org_id"], r["org_id"]),
                    *_cells(definitions[r["indicator_id"]], r),
                ]
            )
    specialties = [
        {
            "d": d,
            "table": _specialty_table(run, d, org),
            "table_id": f"specialty-{d['id']}",
            "csv": reverse("scorecard_specialties_csv", args=[ods, d["id"]]),
        }
        for d in figures.broken_down(run)
    ]
    if fmt == "csv":
        return csv_response(table, f"scorecard-{ods}-{run.period_last}.csv")
    if fmt == "specialties.csv":
        block = next((b for b in specialties if b["d"]["id"] == specialty_of), None)
        if block is None:
            raise figures.Http404("No indicator by specialty with this id in this run.")
        return csv_response(
            block["table"], f"{specialty_of}-{ods}-{block['d']['latest_period']}.csv"
        )
    if fmt == "clinicians.csv":
        if clinicians is None:
            return access.refuse(request, "clinician figures of this practice")
        return csv_response(clinicians, f"scorecard-{ods}-clinicians-{run.period_last}.csv")
    return render(
        request,
        "scorecard/practice.html",
        {
            "org": org,
            "run": run,
            "table": table,
            "clinicians": clinicians,
            "specialties": specialties,
            "awaiting": [d for d in run.definitions if not d.get("latest_period")],
        },
    )


def _trend_table(d: dict, rows: list[dict], name: str) -> Table:
    k = digits_for(d)
    table = Table(
        f"{d['title']}, {name}, by month",
        [
            "Period",
            "Numerator",
            "Denominator",
            "Value",
            "95% interval",
            "Peer value",
            "Funnel (99.8%)",
        ],
        numeric={1, 2, 3, 4, 5},
    )
    for r in rows:
        table.add(
            [
                r["period"],
                num(r["numerator"], 0),
                num(r["denominator"], 0),
                num(r["value"], k),
                interval(r["lower95"], r["upper95"], k),
                num(r["peer_value"], k),
                _status(r),
            ]
        )
    return table


def _funnel_table(d: dict, points: list[dict], period: str) -> Table:
    k = digits_for(d)
    table = Table(
        f"{d['title']}, practices, {period}",
        [
            "Practice",
            "Numerator",
            "Denominator",
            "Value",
            "95% interval",
            "99.8% limits",
            "Funnel (99.8%)",
            "Figures",
        ],
        numeric={1, 2, 3, 4, 5},
    )
    for p in points:
        if p["suppressed"]:
            table.add(
                [p["label"], "suppressed", "suppressed", "suppressed", "", "", "", "published"]
            )
            continue
        table.add(
            [
                p["label"],
                num(p["numerator"], 0),
                num(p["denominator"], 0),
                num(p["value"], k),
                interval(p["lower95"], p["upper95"], k),
                interval(p["funnel_lower998"], p["funnel_upper998"], k),
                _status(p),
                "published" if p["published"] else "exact",
            ]
        )
    return table


def indicator(request, ods: str, indicator_id: str, fmt: str = "html"):
    """One indicator for one practice: its monthly trend and the latest funnel plot."""
    user = request.user
    if not access.in_scope(user, ods):
        return access.refuse(request, "this practice's scorecard")
    org = figures.practice(ods)
    run = figures.current_run()
    d = run.definition(indicator_id)
    if d is None or not d.get("latest_period"):
        raise figures.Http404("No such indicator in this run.")
    if d.get("subgroups"):
        # By specialty: its figures are the specialty table on the practice scorecard.
        if fmt != "html":
            raise figures.Http404("This indicator is by specialty: see the practice scorecard.")
        anchor = f"#by-specialty-{indicator_id}"
        return redirect(reverse("scorecard_practice", args=[ods]) + anchor)
    rows = figures.series(run, ods, indicator_id)
    visible = set(user.practices().values_list("org_id", flat=True))
    period = d["latest_period"]
    points = figures.funnel_points(run, indicator_id, period, visible, ods)
    trend_table = _trend_table(d, rows, org.name)
    funnel_table = _funnel_table(d, points, period)
    if fmt == "trend.csv":
        return csv_response(trend_table, f"{indicator_id}-{ods}-trend.csv")
    if fmt == "funnel.csv":
        return csv_response(funnel_table, f"{indicator_id}-funnel-{period}.csv")
    peer = next((p["peer_value"] for p in points if p["peer_value"] is not None), None)
    plotted = [p for p in points if not p["suppressed"]]
    funnel_svg = (
        ""
        if d["type"] == "median"
        else charts.funnel(
            "funnel",
            f"{d['title']}: practices, {period}",
            plotted,
            peer,
            d["type"],
            d["multiplier"],
            d["unit"],
            "Denominator",
        )
    )
    trend_svg = charts.trend("trend", f"{d['title']}: {org.name} by month", rows, d["unit"])
    return render(
        request,
        "scorecard/indicator.html",
        {
            "org": org,
            "run": run,
            "d": d,
            "period": period,
            "trend_svg": trend_svg,
            "trend_table": trend_table,
            "funnel_svg": funnel_svg,
            "funnel_table": funnel_table,
            "outside_scope": any(p["published"] for p in points),
        },
    )


def outliers(request, fmt: str = "html"):
    if not access.commissioning(request.user):
        return access.refuse(request, "the outlier report")
    run = figures.current_run()
    org_names = figures.names()
    table = Table(
        f"Practices outside the 99.8% limits in the latest month ({run.period_last})",
        [
            "Practice",
            "Neighbourhood",
            "Indicator",
            "Specialty",
            "Period",
            "Numerator",
            "Denominator",
            "Value",
            "95% interval",
            "Peer value",
            "99.8% limits",
            "Status",
            "Assessment",
            "Consecutive months",
        ],
        numeric={5, 6, 7, 8, 9, 10, 13},
    )
    rows = Outlier.objects.filter(run=run, latest=True).order_by(
        "-consecutive_periods", "indicator_id", "subgroup", "org_id"
    )
    for o in rows:
        d = run.definition(o.indicator_id)
        k = digits_for(d)
        whole = o.subgroup == "all"
        link = reverse("scorecard_indicator", args=[o.org_id, o.indicator_id])
        if not whole:
            link = (
                reverse("scorecard_practice", args=[o.org_id]) + f"#by-specialty-{o.indicator_id}"
            )
        table.add(
            [
                org_names.get(o.org_id, o.org_id),
                org_names.get(o.neighbourhood_id, o.neighbourhood_id),
                o.title,
                "" if whole else figures.specialty(o.subgroup),
                o.period,
                num(o.numerator, 0),
                num(o.denominator, 0),
                num(o.value, k),
                interval(o.lower95, o.upper95, k),
                num(o.peer_value, k),
                interval(o.funnel_lower998, o.funnel_upper998, k),
                o.funnel_status,
                o.assessment,
                str(o.consecutive_periods),
            ],
            link,
        )
    if fmt == "csv":
        return csv_response(table, f"outliers-{run.period_last}.csv")
    return render(request, "scorecard/outliers.html", {"run": run, "table": table})


def _org_choice(request, run) -> tuple[str, list[tuple[str, str]]]:
    org_names = figures.names()
    kinds = dict(figures.Organisation.objects.values_list("org_id", "kind"))
    orgs = sorted(
        {o for o in Outcome.objects.filter(run=run).values_list("org_id", flat=True)}
        | {
            o
            for o in InequalityGap.objects.filter(
                run=run, level__in=("locality", "neighbourhood")
            ).values_list("org_id", flat=True)
        }
    )
    choices = [(o, org_names.get(o, o)) for o in orgs]
    choices.sort(key=lambda c: (kinds.get(c[0]) != "locality", c[1]))
    chosen = request.GET.get("org") or (choices[0][0] if choices else "")
    if chosen not in orgs:
        chosen = choices[0][0] if choices else ""
    return chosen, choices


def inequalities(request, fmt: str = "html"):
    if not access.commissioning(request.user):
        return access.refuse(request, "inequalities")
    run = figures.current_run()
    org, choices = _org_choice(request, run)
    gaps = {g.indicator_id: g for g in InequalityGap.objects.filter(run=run, org_id=org)}
    by = {}
    for q in QuintileValue.objects.filter(run=run, org_id=org):
        by.setdefault(q.indicator_id, {})[q.imd_quintile] = q
    table = Table(
        "Latest month by deprivation quintile (1 = most deprived)",
        [
            "Indicator",
            "Period",
            "Quintile 1",
            "Quintile 2",
            "Quintile 3",
            "Quintile 4",
            "Quintile 5",
            "Gap (1 minus 5)",
            "Ratio (1 / 5)",
        ],
        numeric={2, 3, 4, 5, 6, 7, 8},
    )
    chosen = request.GET.get("indicator") or ""
    for d in figures.computed(run):
        if d["id"] not in by:
            continue
        k = digits_for(d)
        q = by[d["id"]]
        g = gaps.get(d["id"])
        period = next(iter(q.values())).period
        table.add(
            [
                d["title"],
                period,
                *[num(q[i].value, k) if i in q else "" for i in range(1, 6)],
                num(g.gap, k) if g else "",
                num(g.ratio, 2) if g else "",
            ],
            f"?org={org}&indicator={d['id']}#chart",
        )
        chosen = chosen or d["id"]
    if fmt == "csv":
        return csv_response(table, f"inequalities-{org}-{run.period_last}.csv")
    d = run.definition(chosen) if chosen in by else None
    bar_svg, bar_table = "", None
    if d:
        q = by[chosen]
        bar_rows = [
            {
                "label": f"Q{i}",
                "value": q[i].value,
                "lower95": q[i].lower95,
                "upper95": q[i].upper95,
            }
            for i in range(1, 6)
            if i in q
        ]
        bar_svg = charts.bars(
            "quintiles", f"{d['title']} by deprivation quintile", bar_rows, d["unit"]
        )
        k = digits_for(d)
        bar_table = Table(
            f"{d['title']} by deprivation quintile",
            ["Quintile", "Numerator", "Denominator", "Value", "95% interval"],
            numeric={1, 2, 3, 4},
        )
        for i in range(1, 6):
            if i in q:
                bar_table.add(
                    [
                        f"Q{i}",
                        num(q[i].numerator, 0),
                        num(q[i].denominator, 0),
                        num(q[i].value, k),
                        interval(q[i].lower95, q[i].upper95, k),
                    ]
                )
    return render(
        request,
        "scorecard/inequalities.html",
        {
            "run": run,
            "table": table,
            "org": org,
            "choices": choices,
            "d": d,
            "bar_svg": bar_svg,
            "bar_table": bar_table,
        },
    )


MEASURES = {
    "emergency_admissions": "Emergency admissions per 1,000",
    "ae_attendances": "A&E attendances per 1,000",
    "excess_bed_days": "Excess bed days per 1,000",
}


def _outcome_table(label: str, rows: list[dict]) -> Table:
    table = Table(
        f"{label} by month",
        [
            "Period",
            "Events",
            "Person-years",
            "Rate per 1,000",
            "Rolling 12-month rate",
            "Baseline rate",
            "Target rate (-15%)",
            "Change vs baseline (%)",
            "Share of the way (%)",
        ],
        numeric={1, 2, 3, 4, 5, 6, 7, 8},
    )
    for r in rows:
        share = r["share_of_way"]
        table.add(
            [
                r["period"],
                num(r["events"], 0),
                num(r["person_years"], 0),
                num(r["rate_per_1000"]),
                num(r["rolling_12m_rate"]),
                num(r["baseline_rate"]),
                num(r["target_rate"]),
                num(r["change_vs_baseline_pct"]),
                num(share * 100 if share is not None else None),
            ]
        )
    return table


def outcomes(request, measure: str | None = None, fmt: str = "html"):
    if not access.commissioning(request.user):
        return access.refuse(request, "outcomes")
    run = figures.current_run()
    org, choices = _org_choice(request, run)
    blocks = []
    present = set(Outcome.objects.filter(run=run, org_id=org).values_list("measure", flat=True))
    for key, label in MEASURES.items():
        if key not in present or (measure and key != measure):
            continue
        rows = list(
            Outcome.objects.filter(run=run, org_id=org, measure=key).order_by("period").values()
        )
        table = _outcome_table(label, rows)
        if fmt == "csv":
            return csv_response(table, f"outcomes-{org}-{key}.csv")
        last = next((r for r in reversed(rows) if r["rolling_12m_rate"] is not None), None)
        baseline = rows[0]["baseline_rate"] if rows else None
        target = rows[0]["target_rate"] if rows else None
        svg = charts.trend(
            f"outcome-{key}",
            f"{label}, {dict(choices).get(org, org)}",
            rows,
            "per 1,000 person-years",
            value="rate_per_1000",
            lower=None,
            upper=None,
            peer="rolling_12m_rate",
            peer_label="rolling 12 months",
            hlines=(
                (f"baseline {rows[0]['baseline_year']}", baseline, charts.GREY),
                ("target (-15%)", target, charts.GREEN),
            ),
        )
        blocks.append(
            {
                "key": key,
                "label": label,
                "svg": svg,
                "table": table,
                "last": last,
                "csv": reverse("scorecard_outcomes_csv", args=[key]) + f"?org={org}",
            }
        )
    if fmt == "csv":
        return redirect(reverse("scorecard_outcomes") + f"?org={org}")
    return render(
        request,
        "scorecard/outcomes.html",
        {"run": run, "org": org, "choices": choices, "blocks": blocks},
    )
