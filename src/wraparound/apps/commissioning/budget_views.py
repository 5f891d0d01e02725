"""Budget against spend (commissioners): by line, by month (with the chart of the monthly
variance beside its table), the resource shift by category, and by practice; every table
also as CSV (``scorecard.tables.answer``)."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from wraparound.apps.commissioning import access, budget
from wraparound.apps.records.models import Organisation
from wraparound.apps.scorecard import charts
from wraparound.apps.scorecard.tables import Column, Download, answer, num, table


def _gbp(key: str):
    return lambda r, _d: num(r[key], 0)


def _pct(key: str):
    return lambda r, _d: num(r[key], 1)


def view(request, fmt: str = "html"):
    if not access.commissioner(request.user):
        return access.refuse(request, "the budget against spend")
    plan = budget.load()
    figures = budget.compute(plan)
    if figures is None:
        return render(request, "commissioning/budget.html", {"plan": plan, "figures": None})
    names = dict(Organisation.objects.values_list("org_id", "name"))
    money = (
        ("Annual budget (£)", "annual"),
        ("Budget to date (£)", "ytd_budget"),
        ("Spend to date (£)", "ytd_spend"),
        ("Variance to date (£)", "variance"),
        ("Year-end forecast (£)", "forecast"),
        ("Forecast variance (£)", "forecast_variance"),
    )
    line_table = table(
        f"{plan.title}: by line",
        (
            Column("Line", lambda r, _d: r["title"]),
            Column("Category", lambda r, _d: r["category"]),
            *(Column(h, _gbp(k), numeric=True) for h, k in money),
        ),
        budget.by_line(figures),
    )
    month_rows = budget.by_month(figures)
    month_table = table(
        "Budget and spend by month, the locality",
        (
            Column("Month", lambda r, _d: r["period"]),
            Column("Budget (£)", _gbp("budget"), numeric=True),
            Column("Spend (£)", _gbp("spend"), numeric=True),
            Column("Variance (£)", _gbp("variance"), numeric=True),
            Column("Cumulative variance (£)", _gbp("cumulative_variance"), numeric=True),
        ),
        month_rows,
    )
    shift_table = table(
        "Resource shift: budget and year-end forecast by category",
        (
            Column("Category", lambda r, _d: r["category"]),
            Column("Budget (£)", _gbp("budget"), numeric=True),
            Column("Share of budget (%)", _pct("budget_share"), numeric=True),
            Column("Forecast (£)", _gbp("forecast"), numeric=True),
            Column("Share of forecast (%)", _pct("forecast_share"), numeric=True),
            Column("Shift (percentage points)", _pct("shift"), numeric=True),
        ),
        budget.by_category(figures),
    )
    practice_table = table(
        "Budget and spend by practice",
        (
            Column("Practice", lambda r, _d: names.get(r["practice_id"], r["practice_id"])),
            Column("Annual budget (£)", _gbp("annual"), numeric=True),
            Column("Spend to date (£)", _gbp("ytd_spend"), numeric=True),
            Column("Variance to date (£)", _gbp("variance"), numeric=True),
            Column("Year-end forecast (£)", _gbp("forecast"), numeric=True),
            Column("Forecast variance (£)", _gbp("forecast_variance"), numeric=True),
        ),
        budget.by_practice(figures),
    )
    svg = charts.trend(
        "budget-variance",
        "Spend against budget by month, the locality",
        month_rows,
        "£",
        value="spend",
        lower=None,
        upper=None,
        peer="budget",
        peer_label="budget",
    )

    def page():
        return render(
            request,
            "commissioning/budget.html",
            {
                "plan": plan,
                "figures": figures,
                "line_table": line_table,
                "month_table": month_table,
                "shift_table": shift_table,
                "practice_table": practice_table,
                "svg": svg,
                "total": num(sum(figures.annual.values()), 0),
                "month_csv": reverse("commissioning_budget_months_csv"),
            },
        )

    return answer(
        fmt,
        page,
        {
            "lines.csv": Download(line_table, "budget-lines.csv"),
            "months.csv": Download(month_table, "budget-months.csv"),
            "shift.csv": Download(shift_table, "budget-resource-shift.csv"),
            "practices.csv": Download(practice_table, "budget-practices.csv"),
        },
    )
