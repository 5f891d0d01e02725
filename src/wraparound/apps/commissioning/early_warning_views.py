"""The early-warning list (the latest month's score and flags per visible practice) and a
practice's trend (score by month, chart beside its table); each table as CSV."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from wraparound.apps.commissioning import access, early_warning
from wraparound.apps.records.models import Organisation
from wraparound.apps.scorecard import charts
from wraparound.apps.scorecard.tables import Column, Download, answer, num, table


def _value(code: str):
    return lambda r, _d: "no data" if r[code] is None else num(r[code], 1)


def listing(request, fmt: str = "html"):
    if not access.commissioner(request.user):
        return access.refuse(request, "the early-warning list")
    signals = early_warning.load()
    practices = early_warning.visible_practices(request.user)
    rows = early_warning.scores(practices, signals)
    names = dict(Organisation.objects.values_list("org_id", "name"))
    latest = []
    if rows:
        last = max(r["period"] for r in rows)
        latest = sorted(
            (r for r in rows if r["period"] == last), key=lambda r: (-r["score"], r["practice_id"])
        )
    built = table(
        "Practices by early-warning score, latest month",
        (
            Column("Practice", lambda r, _d: names.get(r["practice_id"], r["practice_id"])),
            Column("Month", lambda r, _d: r["period"]),
            Column("Score", lambda r, _d: num(r["score"], 0), numeric=True),
            Column("Flags", lambda r, _d: "; ".join(r["flags"]) or "none"),
            *(Column(s.title, _value(s.code), numeric=True) for s in signals),
        ),
        latest,
        link=lambda r: reverse("commissioning_early_warning_practice", args=[r["practice_id"]]),
    )
    return answer(
        fmt,
        lambda: render(
            request,
            "commissioning/early_warning.html",
            {"table": built, "signals": signals, "loaded": rows is not None},
        ),
        {"csv": Download(built, "early-warning.csv")},
    )


def practice(request, ods: str, fmt: str = "html"):
    if not access.commissioner(request.user):
        return access.refuse(request, "the early-warning trend")
    if ods not in early_warning.visible_practices(request.user):
        return access.refuse(request, f"the early-warning trend of {ods}")
    org = Organisation.objects.filter(pk=ods).first()
    signals = early_warning.load()
    rows = early_warning.scores([ods], signals) or []
    built = table(
        f"{org.name}: early-warning score by month",
        (
            Column("Month", lambda r, _d: r["period"]),
            Column("Score", lambda r, _d: num(r["score"], 0), numeric=True),
            Column("Flags", lambda r, _d: "; ".join(r["flags"]) or "none"),
            *(Column(s.title, _value(s.code), numeric=True) for s in signals),
        ),
        rows,
    )
    svg = charts.trend(
        "ew-trend",
        f"Early-warning score by month, {org.name}",
        rows,
        "score",
        value="score",
        lower=None,
        upper=None,
        peer=None,
    )
    return answer(
        fmt,
        lambda: render(
            request,
            "commissioning/early_warning_practice.html",
            {
                "org": org,
                "table": built,
                "svg": svg,
                "csv": reverse("commissioning_early_warning_practice_csv", args=[ods]),
            },
        ),
        {"csv": Download(built, f"early-warning-{ods}.csv")},
    )
