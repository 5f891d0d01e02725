"""The public page of each practice: no sign-in, published figures only.

These views read ``PublicValue`` (``public/indicator_values.parquet`` after disclosure
control) and organisation names, nothing else: no exact count, no clinician row and no
opted-out patient can reach them, whatever the request. Every value, interval, locality
value and comparison they show was calculated from the rounded counts
(``analytics/disclosure.py``), so the page reveals nothing the rounded counts do not; the
rule is stated on the page.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from wraparound.apps.records.models import Organisation
from wraparound.apps.scorecard import figures
from wraparound.apps.scorecard.models import PublicValue
from wraparound.apps.scorecard.tables import (
    SUPPRESSED,
    Table,
    csv_response,
    digits_for,
    interval,
    num,
)

NOT_PUBLISHED = "not published"
WITHHELD = {"dsr"}
"""Indicator types whose value cannot be calculated from the rounded counts (an
age-standardised rate needs every age band's counts), so only their counts are published
(``analytics/disclosure.py``, rule 5)."""
COMPARED = {
    "high": "higher than most practices",
    "low": "lower than most practices",
    "within": "similar to most practices",
}
HEADERS = [
    "Indicator",
    "Period",
    "Numerator",
    "Denominator",
    "Value",
    "Unit",
    "95% interval",
    "Locality value",
    "Compared with other practices",
]


def index(request):
    practices = Organisation.objects.filter(kind="practice").order_by("name")
    return render(
        request,
        "scorecard/public_index.html",
        {"practices": practices, "run": figures.IndicatorRun.latest()},
    )


def practice(request, ods: str, fmt: str = "html"):
    org = figures.practice(ods)
    run = figures.current_run()
    rows = {
        r["indicator_id"]: r
        for r in figures.latest_for(
            PublicValue, run, [ods], fields=(*figures.VALUE_FIELDS, "suppressed"), level="practice"
        )
    }
    table = Table(f"{org.name}: published figures, latest month", HEADERS, numeric={2, 3, 4, 6, 7})
    for d in figures.computed(run):
        r = rows.get(d["id"])
        if r is None:
            continue
        k = digits_for(d)
        if r["suppressed"]:
            table.add(
                [
                    d["title"],
                    r["period"],
                    SUPPRESSED,
                    SUPPRESSED,
                    SUPPRESSED,
                    d["unit"],
                    SUPPRESSED,
                    num(r["peer_value"], k),
                    "",
                ]
            )
            continue
        withheld = d["type"] in WITHHELD
        table.add(
            [
                d["title"],
                r["period"],
                num(r["numerator"], 0),
                num(r["denominator"], 0),
                NOT_PUBLISHED if withheld else num(r["value"], k),
                d["unit"],
                NOT_PUBLISHED if withheld else interval(r["lower95"], r["upper95"], k),
                NOT_PUBLISHED if withheld else num(r["peer_value"], k),
                COMPARED.get(r["funnel_status"] or "", ""),
            ]
        )
    if fmt == "csv":
        return csv_response(table, f"practice-{ods}-{run.period_last}.csv")
    return render(
        request,
        "scorecard/public_practice.html",
        {
            "org": org,
            "run": run,
            "table": table,
            "rule": run.rule,
            "csv": reverse("public_practice_csv", args=[ods]),
        },
    )
