"""Scorecard pages for staff: the practice scorecard (with clinicians for the practice's
own people), an indicator's trend and funnel plot, and for commissioners the outlier
report, inequalities and outcomes. Every chart has a data table and a CSV of that table."""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from wraparound.apps.scorecard import access, charts, figures
from wraparound.apps.scorecard.models import InequalityGap, Outcome, Outlier
from wraparound.apps.scorecard.tables import (
    Column,
    Download,
    answer,
    between,
    count,
    digits_for,
    figure,
    looked_up,
    num,
    table,
    text,
    title,
    unit,
    whole,
)

STATUS = {"high": "above 99.8% limit", "low": "below 99.8% limit", "within": "within limits"}
STATUS95 = {"high": "above 95% limit", "low": "below 95% limit", "within": "within limits"}

status = looked_up("funnel_status", STATUS)
"""Funnel status against the 99.8% limits, in words (blank when there is none)."""

SCORECARD = (
    Column("Indicator", title),
    Column("Period", text("period")),
    Column("Numerator", count("numerator"), numeric=True),
    Column("Denominator", count("denominator"), numeric=True),
    Column("Value", figure("value"), numeric=True),
    Column("Unit", unit),
    Column("95% interval", between("lower95", "upper95"), numeric=True),
    Column("Peer value", figure("peer_value"), numeric=True),
    Column("Decile", whole("decile"), numeric=True),
    Column("Funnel (99.8%)", status),
    Column("Assessment", text("assessment")),
    Column("Trend", text("trend")),
)
"""The practice scorecard: each indicator's latest month (and, with a clinician column, the
clinicians' rows)."""

SPECIALTY = (
    Column("Specialty", text("label")),
    Column("Period", text("period")),
    Column("Numerator", count("numerator"), numeric=True),
    Column("Denominator", count("denominator"), numeric=True),
    Column("Value", figure("value"), numeric=True),
    Column("95% interval", between("lower95", "upper95"), numeric=True),
    Column("Neighbourhood value", figure("neighbourhood_value"), numeric=True),
    Column("Peer value (locality)", figure("peer_value"), numeric=True),
    Column("99.8% limits", between("funnel_lower998", "funnel_upper998"), numeric=True),
    Column("Funnel (99.8%)", status),
    Column("Funnel (95%)", looked_up("funnel_status95", STATUS95)),
    Column("Consecutive months outside 99.8%", whole("consecutive_periods"), numeric=True),
)

TARGET = (
    Column("Planned reduction (%)", figure("reduction_pct", 0), numeric=True),
    Column("Baseline year value", figure("baseline_value"), numeric=True),
    Column("Target", figure("target_value"), numeric=True),
    Column("Last 12 months", figure("last_12m_value"), numeric=True),
    Column("Meets target", lambda row, _d: {True: "yes", False: "no"}.get(row["meets_target"], "")),
)
"""Added to the specialty table of an indicator holding a plan's targets by specialty
(``docs/indicators.md``, Targets): the practice's value over the baseline financial year,
the target (that less the planned reduction), and the 12 months to the latest month against
it."""

TREND = (
    Column("Period", text("period")),
    Column("Numerator", count("numerator"), numeric=True),
    Column("Denominator", count("denominator"), numeric=True),
    Column("Value", figure("value"), numeric=True),
    Column("95% interval", between("lower95", "upper95"), numeric=True),
    Column("Peer value", figure("peer_value"), numeric=True),
    Column("Funnel (99.8%)", status),
)


def _unless_suppressed(cell, instead: str = "suppressed"):
    return lambda row, d: instead if row["suppressed"] else cell(row, d)


FUNNEL = (
    Column("Practice", text("label")),
    Column("Numerator", _unless_suppressed(count("numerator")), numeric=True),
    Column("Denominator", _unless_suppressed(count("denominator")), numeric=True),
    Column("Value", _unless_suppressed(figure("value")), numeric=True),
    Column("95% interval", _unless_suppressed(between("lower95", "upper95"), ""), numeric=True),
    Column(
        "99.8% limits",
        _unless_suppressed(between("funnel_lower998", "funnel_upper998"), ""),
        numeric=True,
    ),
    Column("Funnel (99.8%)", _unless_suppressed(status, "")),
    Column(
        "Figures",
        lambda row, _d: "published" if row["suppressed"] or row["published"] else "exact",
    ),
)
"""Every practice in the funnel's month: exact figures where the user may see them, the
published ones otherwise (suppressed where disclosure control hid them)."""

QUINTILE = (
    Column("Quintile", lambda row, _d: f"Q{row['imd_quintile']}"),
    Column("Numerator", count("numerator"), numeric=True),
    Column("Denominator", count("denominator"), numeric=True),
    Column("Value", figure("value"), numeric=True),
    Column("95% interval", between("lower95", "upper95"), numeric=True),
)


def _share_pct(row, _d) -> str:
    share = row["share_of_way"]
    return num(share * 100 if share is not None else None)


OUTCOME = (
    Column("Period", text("period")),
    Column("Events", count("events"), numeric=True),
    Column("Person-years", count("person_years"), numeric=True),
    Column("Rate per 1,000", figure("rate_per_1000"), numeric=True),
    Column("Rolling 12-month rate", figure("rolling_12m_rate"), numeric=True),
    Column("Baseline rate", figure("baseline_rate"), numeric=True),
    Column("Target rate (-15%)", figure("target_rate"), numeric=True),
    Column("Change vs baseline (%)", figure("change_vs_baseline_pct"), numeric=True),
    Column("Share of the way (%)", _share_pct, numeric=True),
)
"""An outcome measure by month (rates to one decimal place: no indicator definition)."""


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


def _specialty_table(run, d: dict, org):
    """One practice's figures for each specialty of a broken-down indicator, latest month.
    Status comes from the funnel limits around the locality value only, never from rank.
    An indicator with targets (``docs/indicators.md``, Targets) adds them and the baseline."""
    period = d["latest_period"]
    rows = figures.subgroup_rows(run, d["id"], org.org_id, period)
    columns = SPECIALTY
    if d.get("targets"):
        rows = figures.with_targets(run, d, org.org_id, rows)
        columns = (*SPECIALTY, *TARGET)
    return table(f"{org.name}: by specialty, {period} (value {d['unit']})", columns, rows, d)


BODY_SECONDS = 300
"""How long a practice scorecard's rendered tables are kept (each worker's own cache)."""


def _body_key(run, org, clinicians: bool) -> str:
    """A run's figures never change once loaded (a new indicators run is a new row, with a
    new id and load time), so its rendered tables can be kept: the key names the run as
    loaded, the practice as named now and whether the clinician rows are shown, which is
    all the page body depends on (nothing of the user's own is in it). Hashed, since a
    practice's name has spaces and more, which memcached refuses in a key (Django warns of
    any key it would refuse, and the tests make that warning an error)."""
    loaded = run.loaded_at.isoformat() if run.loaded_at else ""
    named = (
        f"{run.pk}:{run.run_id}:{run.load_version}:{loaded}:{org.pk}:{org.name}:{int(clinicians)}"
    )
    return f"scorecard-practice:{hashlib.sha256(named.encode()).hexdigest()}"


def practice(request, ods: str, fmt: str = "html", specialty_of: str | None = None):
    user = request.user
    if not access.in_scope(user, ods):
        return access.refuse(request, "this practice's scorecard")
    org = figures.practice(ods)
    run = figures.current_run()
    sees_clinicians = access.sees_clinicians(user, ods)
    key = _body_key(run, org, sees_clinicians)
    if fmt == "html" and (body := cache.get(key)) is not None:
        return render(request, "scorecard/practice.html", {"org": org, "body": body})
    definitions = {d["id"]: d for d in figures.computed(run)}
    rows = {
        r["indicator_id"]: r
        for r in figures.latest_for(figures.IndicatorValue, run, [ods], level="practice")
    }
    definition_of = lambda r: definitions[r["indicator_id"]]  # noqa: E731
    scorecard = table(
        f"{org.name}: latest month of each indicator",
        SCORECARD,
        [rows[i] for i in definitions if i in rows],
        definition_of,
        lambda r: reverse("scorecard_indicator", args=[ods, r["indicator_id"]]),
    )
    clinicians = None
    if sees_clinicians:
        name = lambda r: run.clinicians.get(r["org_id"], r["org_id"])  # noqa: E731
        crows = figures.latest_for(
            figures.IndicatorValue, run, [], level="clinician", parent_id=ods
        )
        order = list(definitions)
        crows.sort(key=lambda r: (order.index(r["indicator_id"]), name(r)))
        clinicians = table(
            f"{org.name}: by clinician, latest month",
            (Column("Clinician", lambda r, _d: name(r)), *SCORECARD),
            crows,
            definition_of,
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
    downloads = {"csv": Download(scorecard, f"scorecard-{ods}-{run.period_last}.csv")}
    if fmt == "specialties.csv":
        block = next((b for b in specialties if b["d"]["id"] == specialty_of), None)
        if block is None:
            raise figures.Http404("No indicator by specialty with this id in this run.")
        downloads[fmt] = Download(
            block["table"], f"{specialty_of}-{ods}-{block['d']['latest_period']}.csv"
        )
    if fmt == "clinicians.csv":
        if clinicians is None:
            return access.refuse(request, "clinician figures of this practice")
        downloads[fmt] = Download(clinicians, f"scorecard-{ods}-clinicians-{run.period_last}.csv")

    def page():
        # The body without the request: nothing of the user's own can reach the cache.
        body = render_to_string(
            "scorecard/_practice_body.html",
            {
                "org": org,
                "run": run,
                "table": scorecard,
                "clinicians": clinicians,
                "specialties": specialties,
                "awaiting": [d for d in run.definitions if not d.get("latest_period")],
            },
        )
        cache.set(key, body, BODY_SECONDS)
        return render(request, "scorecard/practice.html", {"org": org, "body": body})

    return answer(fmt, page, downloads)


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
    trend_table = table(f"{d['title']}, {org.name}, by month", TREND, rows, d)
    funnel_table = table(f"{d['title']}, practices, {period}", FUNNEL, points, d)

    def page():
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

    return answer(
        fmt,
        page,
        {
            "trend.csv": Download(trend_table, f"{indicator_id}-{ods}-trend.csv"),
            "funnel.csv": Download(funnel_table, f"{indicator_id}-funnel-{period}.csv"),
        },
    )


def _outlier_link(o: dict) -> str:
    if o["subgroup"] == "all":
        return reverse("scorecard_indicator", args=[o["org_id"], o["indicator_id"]])
    return reverse("scorecard_practice", args=[o["org_id"]]) + f"#by-specialty-{o['indicator_id']}"


def outliers(request, fmt: str = "html"):
    if not access.commissioning(request.user):
        return access.refuse(request, "the outlier report")
    run = figures.current_run()
    org_names = figures.names()
    rows = (
        Outlier.objects.filter(run=run, latest=True)
        .order_by("-consecutive_periods", "indicator_id", "subgroup", "org_id")
        .values()
    )
    columns = (
        Column("Practice", lambda o, _d: org_names.get(o["org_id"], o["org_id"])),
        Column(
            "Neighbourhood",
            lambda o, _d: org_names.get(o["neighbourhood_id"], o["neighbourhood_id"]),
        ),
        Column("Indicator", text("title")),
        Column(
            "Specialty",
            lambda o, _d: "" if o["subgroup"] == "all" else figures.specialty(o["subgroup"]),
        ),
        Column("Period", text("period")),
        Column("Numerator", count("numerator"), numeric=True),
        Column("Denominator", count("denominator"), numeric=True),
        Column("Value", figure("value"), numeric=True),
        Column("95% interval", between("lower95", "upper95"), numeric=True),
        Column("Peer value", figure("peer_value"), numeric=True),
        Column("99.8% limits", between("funnel_lower998", "funnel_upper998"), numeric=True),
        Column("Status", text("funnel_status")),
        Column("Assessment", text("assessment")),
        Column("Consecutive months", whole("consecutive_periods"), numeric=True),
    )
    outlier_table = table(
        f"Practices outside the 99.8% limits in the latest month ({run.period_last})",
        columns,
        rows,
        lambda o: run.definition(o["indicator_id"]),
        _outlier_link,
    )
    return answer(
        fmt,
        lambda: render(request, "scorecard/outliers.html", {"run": run, "table": outlier_table}),
        {"csv": Download(outlier_table, f"outliers-{run.period_last}.csv")},
    )


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


def _quintile_value(i: int):
    return lambda row, d: num(row["q"][i]["value"], digits_for(d)) if i in row["q"] else ""


INEQUALITY = (
    Column("Indicator", title),
    Column("Period", text("period")),
    *(Column(f"Quintile {i}", _quintile_value(i), numeric=True) for i in range(1, 6)),
    Column(
        "Gap (1 minus 5)",
        lambda row, d: num(row["gap"]["gap"], digits_for(d)) if row["gap"] else "",
        numeric=True,
    ),
    Column(
        "Ratio (1 / 5)",
        lambda row, _d: num(row["gap"]["ratio"], 2) if row["gap"] else "",
        numeric=True,
    ),
)
"""Each indicator's latest month by deprivation quintile, with the gap and ratio between
the most and least deprived."""


def _quintile_chart(d: dict, q: dict[int, dict]) -> tuple[str, object]:
    """The bar chart of one indicator by quintile, and its data table."""
    present = [q[i] for i in range(1, 6) if i in q]
    bar_rows = [
        {
            "label": f"Q{r['imd_quintile']}",
            "value": r["value"],
            "lower95": r["lower95"],
            "upper95": r["upper95"],
        }
        for r in present
    ]
    svg = charts.bars("quintiles", f"{d['title']} by deprivation quintile", bar_rows, d["unit"])
    return svg, table(f"{d['title']} by deprivation quintile", QUINTILE, present, d)


def inequalities(request, fmt: str = "html"):
    if not access.commissioning(request.user):
        return access.refuse(request, "inequalities")
    run = figures.current_run()
    org, choices = _org_choice(request, run)
    gaps = figures.gaps(run, org)
    by = figures.quintiles(run, org)
    rows = [
        {
            "id": d["id"],
            "d": d,
            "period": next(iter(by[d["id"]].values()))["period"],
            "q": by[d["id"]],
            "gap": gaps.get(d["id"]),
        }
        for d in figures.computed(run)
        if d["id"] in by
    ]
    inequality_table = table(
        "Latest month by deprivation quintile (1 = most deprived)",
        INEQUALITY,
        rows,
        lambda row: row["d"],
        lambda row: f"?org={org}&indicator={row['id']}#chart",
    )
    chosen = request.GET.get("indicator") or (rows[0]["id"] if rows else "")

    def page():
        d = run.definition(chosen) if chosen in by else None
        bar_svg, bar_table = _quintile_chart(d, by[chosen]) if d else ("", None)
        return render(
            request,
            "scorecard/inequalities.html",
            {
                "run": run,
                "table": inequality_table,
                "org": org,
                "choices": choices,
                "d": d,
                "bar_svg": bar_svg,
                "bar_table": bar_table,
            },
        )

    return answer(
        fmt,
        page,
        {"csv": Download(inequality_table, f"inequalities-{org}-{run.period_last}.csv")},
    )


MEASURES = {
    "emergency_admissions": "Emergency admissions per 1,000",
    "ae_attendances": "A&E attendances per 1,000",
    "excess_bed_days": "Excess bed days per 1,000",
}


def outcomes(request, measure: str | None = None, fmt: str = "html"):
    if not access.commissioning(request.user):
        return access.refuse(request, "outcomes")
    run = figures.current_run()
    org, choices = _org_choice(request, run)
    present = set(Outcome.objects.filter(run=run, org_id=org).values_list("measure", flat=True))
    shown = [k for k in MEASURES if k in present and (not measure or k == measure)]
    series = {
        key: list(
            Outcome.objects.filter(run=run, org_id=org, measure=key).order_by("period").values()
        )
        for key in shown
    }
    tables = {key: table(f"{MEASURES[key]} by month", OUTCOME, series[key]) for key in shown}
    if fmt == "csv" and not shown:
        return redirect(reverse("scorecard_outcomes") + f"?org={org}")

    def block(key: str) -> dict:
        label, rows = MEASURES[key], series[key]
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
        return {
            "key": key,
            "label": label,
            "svg": svg,
            "table": tables[key],
            "last": last,
            "csv": reverse("scorecard_outcomes_csv", args=[key]) + f"?org={org}",
        }

    return answer(
        fmt,
        lambda: render(
            request,
            "scorecard/outcomes.html",
            {"run": run, "org": org, "choices": choices, "blocks": [block(k) for k in shown]},
        ),
        {"csv": Download(tables[shown[0]], f"outcomes-{org}-{shown[0]}.csv")} if shown else {},
    )
