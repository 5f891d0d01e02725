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
    Column,
    Download,
    answer,
    between,
    count,
    figure,
    looked_up,
    table,
    text,
    title,
    unit,
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


def _published(cell, suppressed: str = SUPPRESSED, withheld: str | None = None):
    """``cell`` unless disclosure control suppressed the row, or the indicator's type is
    ``WITHHELD`` (when ``withheld`` is given)."""

    def published(row, d) -> str:
        if row["suppressed"]:
            return suppressed
        if withheld is not None and d["type"] in WITHHELD:
            return withheld
        return cell(row, d)

    return published


COLUMNS = (
    Column("Indicator", title),
    Column("Period", text("period")),
    Column("Numerator", _published(count("numerator")), numeric=True),
    Column("Denominator", _published(count("denominator")), numeric=True),
    Column("Value", _published(figure("value"), withheld=NOT_PUBLISHED), numeric=True),
    Column("Unit", unit),
    Column(
        "95% interval",
        _published(between("lower95", "upper95"), withheld=NOT_PUBLISHED),
        numeric=True,
    ),
    Column(
        "Locality value",
        lambda row, d: (
            figure("peer_value")(row, d)
            if row["suppressed"] or d["type"] not in WITHHELD
            else NOT_PUBLISHED
        ),
        numeric=True,
    ),
    Column("Compared with other practices", _published(looked_up("funnel_status", COMPARED), "")),
)
"""A practice's published figures: suppressed counts say so (the locality value is still
shown); a withheld type shows its counts only."""
HEADERS = [c.header for c in COLUMNS]


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
    published = table(
        f"{org.name}: published figures, latest month",
        COLUMNS,
        [rows[d["id"]] for d in figures.computed(run) if d["id"] in rows],
        lambda r: run.definition(r["indicator_id"]),
    )
    return answer(
        fmt,
        lambda: render(
            request,
            "scorecard/public_practice.html",
            {
                "org": org,
                "run": run,
                "table": published,
                "rule": run.rule,
                "csv": reverse("public_practice_csv", args=[ods]),
            },
        ),
        {"csv": Download(published, f"practice-{ods}-{run.period_last}.csv")},
    )
