"""The local QOF pages: the locality dashboard (every practice, every line, the monthly
trend, the claims), and a practice's page (its lines, trend and action list). Every table
is answered the scorecard's way (``scorecard.tables.answer``): the page, or one of its own
tables as CSV, so a chart's data table and its download cannot differ."""

from __future__ import annotations

from collections import defaultdict

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from wraparound.analytics.indicators import periods as months
from wraparound.analytics.local_qof import claims as claims_format
from wraparound.analytics.local_qof import formulas
from wraparound.apps.commissioning import access
from wraparound.apps.commissioning.models import ActionItem, LocalQofRun, LocalQofValue
from wraparound.apps.records import audit
from wraparound.apps.records.models import Organisation
from wraparound.apps.scorecard import charts
from wraparound.apps.scorecard.tables import Column, Download, Table, answer, num, table


def current_run() -> LocalQofRun:
    run = LocalQofRun.latest()
    if run is None:
        raise Http404(
            "No local QOF run has been loaded: run `wraparound local-qof` and "
            "`wraparound app refresh`."
        )
    return run


def _pounds(value) -> str:
    return num(value, 2)


def _names() -> dict[str, str]:
    return dict(Organisation.objects.values_list("org_id", "name"))


def _sum_lines(rows) -> list[dict]:
    """Rows of one month summed over practices, per line: achievement from the summed
    counts (the locality's), points and payments added."""
    by: dict[str, dict] = {}
    for r in rows:
        s = by.setdefault(
            r["code"],
            {
                "code": r["code"],
                "title": r["title"],
                "lower": r["lower"],
                "upper": r["upper"],
                "numerator": 0.0,
                "denominator": 0.0,
                "exceptions": 0.0,
                "points": 0.0,
                "max_points": 0.0,
                "payment": 0.0,
                "projected_payment": 0.0,
            },
        )
        for key in ("numerator", "denominator", "exceptions", "points", "max_points", "payment"):
            s[key] += r[key]
        s["projected_payment"] += r["projected_payment"] or 0.0
    for s in by.values():
        s["achievement"] = formulas.achievement(s["numerator"], s["denominator"], s["exceptions"])
    return [by[k] for k in sorted(by)]


def _trend(run: LocalQofRun, practice: str | None) -> list[dict]:
    values = LocalQofValue.objects.filter(run=run)
    if practice:
        values = values.filter(practice_id=practice)
    totals: dict[int, dict] = defaultdict(lambda: {"points": 0.0, "payment": 0.0})
    for r in values.values("period", "points", "payment"):
        totals[r["period"]]["points"] += r["points"]
        totals[r["period"]]["payment"] += r["payment"]
    return [
        {"period": months.label(p), "points": t["points"], "payment": t["payment"]}
        for p, t in sorted(totals.items())
    ]


TREND_COLUMNS = (
    Column("Month", lambda r, _d: r["period"]),
    Column("Points", lambda r, _d: num(r["points"], 2), numeric=True),
    Column("Payment (£)", lambda r, _d: _pounds(r["payment"]), numeric=True),
)

LINE_COLUMNS = (
    Column("Line", lambda r, _d: r["code"]),
    Column("Indicator", lambda r, _d: r["title"]),
    Column("Numerator", lambda r, _d: num(r["numerator"], 0), numeric=True),
    Column("Denominator", lambda r, _d: num(r["denominator"], 0), numeric=True),
    Column("Exceptions", lambda r, _d: num(r["exceptions"], 0), numeric=True),
    Column("Achievement (%)", lambda r, _d: num(r["achievement"]), numeric=True),
    Column("Thresholds (%)", lambda r, _d: f"{num(r['lower'], 0)} to {num(r['upper'], 0)}"),
    Column("Points", lambda r, _d: num(r["points"], 2), numeric=True),
    Column("Of", lambda r, _d: num(r["max_points"], 0), numeric=True),
    Column("Payment (£)", lambda r, _d: _pounds(r["payment"]), numeric=True),
    Column("Projected payment (£)", lambda r, _d: _pounds(r["projected_payment"]), numeric=True),
)


def _trend_chart(chart_id: str, title: str, rows: list[dict]) -> str:
    return charts.trend(
        chart_id, title, rows, "£", value="payment", lower=None, upper=None, peer=None
    )


def claims_table(run: LocalQofRun, practice: str | None = None) -> Table:
    values = LocalQofValue.objects.filter(run=run, latest=True)
    if practice:
        values = values.filter(practice_id=practice)
    built = Table(
        f"Local QOF claims, {run.scheme_id} v{run.scheme_version} {run.scheme_year}, "
        f"as of {months.label(run.period_last)}",
        list(claims_format.COLUMNS),
    )
    for r in values.order_by("practice_id", "code").values():
        built.add(claims_format.row(r, run.scheme_id, run.scheme_version, run.scheme_year))
    return built


def dashboard(request, fmt: str = "html"):
    if not access.commissioner(request.user):
        return access.refuse(request, "the local QOF dashboard")
    run = current_run()
    names = _names()
    parents = dict(Organisation.objects.values_list("org_id", "parent_id"))
    latest = list(LocalQofValue.objects.filter(run=run, latest=True).values())
    by_practice: dict[str, dict] = {}
    for r in latest:
        p = by_practice.setdefault(
            r["practice_id"],
            {
                "practice_id": r["practice_id"],
                "points": 0.0,
                "max_points": 0.0,
                "payment": 0.0,
                "projected_payment": 0.0,
                "list_size": r["list_size"],
                "to_upper": 0,
            },
        )
        p["points"] += r["points"]
        p["max_points"] += r["max_points"]
        p["payment"] += r["payment"]
        p["projected_payment"] += r["projected_payment"] or 0.0
        p["to_upper"] += r["patients_to_upper"]
    practice_table = table(
        f"Local QOF by practice, as of {months.label(run.period_last)}",
        (
            Column("Practice", lambda r, _d: names.get(r["practice_id"], r["practice_id"])),
            Column("ODS code", lambda r, _d: r["practice_id"]),
            Column(
                "Neighbourhood",
                lambda r, _d: names.get(parents.get(r["practice_id"]) or "", ""),
            ),
            Column("List size", lambda r, _d: num(r["list_size"], 0), numeric=True),
            Column("Points", lambda r, _d: num(r["points"], 2), numeric=True),
            Column("Of", lambda r, _d: num(r["max_points"], 0), numeric=True),
            Column("Payment (£)", lambda r, _d: _pounds(r["payment"]), numeric=True),
            Column(
                "Projected payment (£)", lambda r, _d: _pounds(r["projected_payment"]), numeric=True
            ),
            Column("Patients to upper thresholds", lambda r, _d: str(r["to_upper"]), numeric=True),
        ),
        sorted(by_practice.values(), key=lambda r: r["points"] / (r["max_points"] or 1)),
        link=lambda r: reverse("commissioning_local_qof_practice", args=[r["practice_id"]]),
    )
    line_table = table("Local QOF by line, the locality", LINE_COLUMNS, _sum_lines(latest))
    trend_rows = _trend(run, None)
    trend_table = table("Locality local QOF payment by month", TREND_COLUMNS, trend_rows)

    def page():
        return render(
            request,
            "commissioning/local_qof.html",
            {
                "run": run,
                "as_of": months.label(run.period_last),
                "practice_table": practice_table,
                "line_table": line_table,
                "trend_table": trend_table,
                "trend_svg": _trend_chart(
                    "lqof-trend", "Local QOF payment by month, the locality", trend_rows
                ),
                "total": _pounds(sum(r["payment"] for r in latest)),
                "projected": _pounds(sum(r["projected_payment"] or 0.0 for r in latest)),
            },
        )

    return answer(
        fmt,
        page,
        {
            "practices.csv": Download(practice_table, "local-qof-practices.csv"),
            "lines.csv": Download(line_table, "local-qof-lines.csv"),
            "trend.csv": Download(trend_table, "local-qof-trend.csv"),
            "claims.csv": Download(
                claims_table(run), f"local-qof-claims-{run.scheme_year.replace('/', '-')}.csv"
            ),
        },
    )


def practice(request, ods: str, fmt: str = "html"):
    org = Organisation.objects.filter(pk=ods, kind="practice").first()
    if org is None:
        raise Http404("No such practice.")
    if not access.sees_practice(request.user, ods):
        return access.refuse(request, f"the local QOF page of {org.name}")
    run = current_run()
    latest = list(
        LocalQofValue.objects.filter(run=run, latest=True, practice_id=ods)
        .order_by("code")
        .values()
    )
    line_table = table(
        f"{org.name}: local QOF by line, as of {months.label(run.period_last)}",
        (
            *LINE_COLUMNS,
            Column(
                "Patients to upper threshold",
                lambda r, _d: str(r["patients_to_upper"]),
                numeric=True,
            ),
        ),
        latest,
    )
    trend_rows = _trend(run, ods)
    trend_table = table(f"{org.name}: local QOF payment by month", TREND_COLUMNS, trend_rows)
    actions = None
    if access.sees_action_list(request.user, ods):
        items = (
            ActionItem.objects.filter(run=run, practice_id=ods)
            .select_related("patient")
            .order_by("code", "patient__family_name", "patient__given_name")
        )
        actions = table(
            f"{org.name}: patients who would still count this year",
            (
                Column("Patient", lambda a, _d: str(a.patient)),
                Column("NHS number", lambda a, _d: a.patient.nhs_number_display()),
                Column("Line", lambda a, _d: a.code),
                Column("What would close the gap", lambda a, _d: a.action),
            ),
            items,
            link=lambda a: reverse("patient", args=[a.patient_id]),
        )

    def page():
        if actions is not None:
            audit.record(request, action="read", what=f"local QOF action list {ods}")
        return render(
            request,
            "commissioning/local_qof_practice.html",
            {
                "run": run,
                "org": org,
                "as_of": months.label(run.period_last),
                "line_table": line_table,
                "trend_table": trend_table,
                "trend_svg": _trend_chart(
                    "lqof-practice-trend", f"Local QOF payment by month, {org.name}", trend_rows
                ),
                "actions": actions,
                "commissioner": access.commissioner(request.user),
            },
        )

    return answer(
        fmt,
        page,
        {
            "lines.csv": Download(line_table, f"local-qof-{ods}.csv"),
            "trend.csv": Download(trend_table, f"local-qof-{ods}-trend.csv"),
            "claims.csv": Download(claims_table(run, ods), f"local-qof-claims-{ods}.csv"),
        },
    )
