"""The evaluation pages: one report per intervention (its logic model drawn, the effect on
each outcome with its interval, the interrupted time series, the placebo and the balance
table) and the demand projection. Commissioners only (the locality-wide, pseudonymised
role, as for the scorecards' outcomes page); aggregate figures only, no patient record.

The pages read what ``wraparound evaluate`` and ``wraparound demand`` published in the
warehouse (``DIR/evaluation/``); no analysis runs on a request. Every chart has a data
table beside it and a CSV of that table (``scorecard.tables.answer``)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from wraparound import interventions
from wraparound.analytics.demand import MEASURES as DEMAND_MEASURES
from wraparound.analytics.demand import read_projection
from wraparound.analytics.evaluation_run import read_report
from wraparound.apps.records import audit
from wraparound.apps.scorecard import access, charts
from wraparound.apps.scorecard.tables import Column, Download, answer, num, table, text

PERCENT = 1


def _refuse(request, what: str):
    """Refused through records' audited denial: a 403 page and one ``denied`` audit row
    naming the user, as every other app refuses (the scorecard's own refusal audits nothing,
    and the evaluation reports are locality-wide figures a non-commissioner must not see
    unnoticed)."""
    audit.record(request, action="denied", what=what, outcome="denied")
    return render(request, "evaluation/refused.html", {"what": what}, status=403)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:+.{PERCENT}f}%"


def _warehouse():
    return settings.WAREHOUSE_DIR


def _intervention(intervention_id: str) -> interventions.Intervention:
    found = interventions.packaged().get(intervention_id)
    if found is None:
        raise Http404("No such intervention.")
    return found


def index(request):
    if not access.commissioning(request.user):
        return _refuse(request, "evaluation")
    rows = []
    for iv in interventions.packaged().values():
        report = read_report(_warehouse(), iv.id)
        rows.append({"iv": iv, "evaluated": report is not None})
    return render(
        request,
        "evaluation/index.html",
        {"rows": rows, "demand": read_projection(_warehouse()) is not None},
    )


EFFECTS = (
    Column("Outcome", text("name")),
    Column("Difference-in-differences", text("did"), numeric=True),
    Column("95% interval", text("did_interval"), numeric=True),
    Column("p-value", text("did_p"), numeric=True),
    Column("Interrupted time series", text("its"), numeric=True),
    Column("ITS 95% interval", text("its_interval"), numeric=True),
    Column("Placebo (pre-period)", text("placebo"), numeric=True),
    Column("Placebo 95% interval", text("placebo_interval"), numeric=True),
    Column("Attributable", text("verdict")),
)
BALANCE = (
    Column("Characteristic", text("label")),
    Column("Treated practices", text("treated"), numeric=True),
    Column("Comparison practices", text("comparison"), numeric=True),
    Column("Standardised difference", text("smd"), numeric=True),
)
SERIES = (
    Column("Month", text("period")),
    Column("Treated practices", text("treated_text"), numeric=True),
    Column("Comparison practices", text("comparison_text"), numeric=True),
)
BALANCE_LABELS = {
    "list_size": "List size",
    "group_size": "Patients in the group",
    "group_mean_age": "Group's mean age",
    "share_65_plus": "Share of the list 65 and over",
    "mean_imd_decile": "Mean IMD decile (1 most deprived)",
    "pre_emergency_admissions_rate": "Emergency admissions before (per 1,000 a month)",
    "pre_ae_attendances_rate": "A&E attendances before (per 1,000 a month)",
    "pre_excess_bed_days_rate": "Excess bed days before (per 1,000 a month)",
}


def _interval(d: dict) -> str:
    if "relative_lower" not in d:
        return "–"
    return f"{_pct(d['relative_lower'])} to {_pct(d['relative_upper'])}"


def _verdict(r: dict) -> str:
    if r["attributable"]:
        return "Yes: the comparison shows a change and the placebo does not"
    if r["placebo"].get("significant"):
        return "No: the placebo finds a difference before the start"
    return "Not shown: the interval includes no change"


def report(request, intervention_id: str, fmt: str = "html", measure: str | None = None):
    if not access.commissioning(request.user):
        return _refuse(request, "evaluation")
    iv = _intervention(intervention_id)
    data = read_report(_warehouse(), iv.id)
    if data is None:
        if fmt != "html":
            raise Http404("This intervention has not been evaluated yet.")
        return render(request, "evaluation/report.html", {"iv": iv, "data": None})
    outcomes = data["outcomes"]
    effect_rows = []
    for key, r in outcomes.items():
        placebo = r["placebo"]
        effect_rows.append(
            {
                "name": r["name"],
                "did": _pct(r["did"]["relative"]),
                "did_interval": _interval(r["did"]),
                "did_p": num(r["did"]["p_value"], 3),
                "its": _pct(r["its"]["relative"]),
                "its_interval": _interval(r["its"]),
                "placebo": _pct(placebo.get("relative")),
                "placebo_interval": _interval(placebo),
                "verdict": _verdict(r),
                "key": key,
            }
        )
    effects = table("Effect of the intervention on each outcome", EFFECTS, effect_rows)
    balance_rows = [
        {
            "label": BALANCE_LABELS.get(b["characteristic"], b["characteristic"]),
            "treated": num(b["treated"], 2),
            "comparison": num(b["comparison"], 2),
            "smd": num(b["smd"], 2),
        }
        for b in data["balance"]
    ]
    balance = table("Treated and comparison practices compared", BALANCE, balance_rows)
    series_tables = {}
    blocks = []
    for key, r in outcomes.items():
        rows = [
            {
                "period": s["month"][:7],
                "value": s.get("treated"),
                "peer_value": s.get("comparison"),
                "treated_text": num(s.get("treated"), 2),
                "comparison_text": num(s.get("comparison"), 2),
            }
            for s in r["series"]
        ]
        series_tables[key] = table(f"{r['name']} per 1,000 of the group a month", SERIES, rows)
        blocks.append(
            {
                "key": key,
                "result": r,
                "row": next(e for e in effect_rows if e["key"] == key),
                "svg": charts.trend(
                    f"series-{key}",
                    f"{r['name']} per 1,000 of the group a month",
                    rows,
                    "per 1,000 a month",
                    lower=None,
                    upper=None,
                    peer="peer_value",
                    peer_label="comparison practices",
                ),
                "table": series_tables[key],
                "csv": reverse("evaluation_series_csv", args=[iv.id, key]),
            }
        )
    downloads = {
        "effects": Download(effects, f"evaluation-{iv.id}-effects.csv"),
        "balance": Download(balance, f"evaluation-{iv.id}-balance.csv"),
    }
    if fmt == "series":
        if measure not in series_tables:
            raise Http404("No such outcome in this evaluation.")
        downloads["series"] = Download(series_tables[measure], f"evaluation-{iv.id}-{measure}.csv")
    return answer(
        fmt,
        lambda: render(
            request,
            "evaluation/report.html",
            {
                "iv": iv,
                "data": data,
                "effects": effects,
                "balance": balance,
                "blocks": blocks,
                "effects_csv": reverse("evaluation_effects_csv", args=[iv.id]),
                "balance_csv": reverse("evaluation_balance_csv", args=[iv.id]),
                "stages": [
                    ("Inputs", iv.inputs),
                    ("Activities", iv.activities),
                    ("Outputs", iv.outputs),
                ],
            },
        ),
        downloads,
    )


PROJECTION = (
    Column("Year", text("period")),
    Column("Population", text("population_text"), numeric=True),
    Column("Projected", text("projected_text"), numeric=True),
    Column("95% interval", text("interval_text"), numeric=True),
    Column("With the target", text("target_text"), numeric=True),
)


def demand(request, fmt: str = "html", measure: str | None = None):
    if not access.commissioning(request.user):
        return _refuse(request, "demand projection")
    data = read_projection(_warehouse())
    if data is None:
        if fmt != "html":
            raise Http404("No demand projection has been published.")
        return render(request, "evaluation/demand.html", {"data": None})
    blocks, tables = [], {}
    for m in data["measures"]:
        rows = [
            {
                "period": str(y["year"]),
                "value": y["projected"],
                "lower95": y["lower"],
                "upper95": y["upper"],
                "peer_value": y["projected_with_target"] if m["target_applies"] else None,
                "population_text": num(y["population"], 0),
                "projected_text": num(y["projected"], 0),
                "interval_text": f"{num(y['lower'], 0)} to {num(y['upper'], 0)}",
                "target_text": num(y["projected_with_target"], 0),
            }
            for y in m["years"]
        ]
        tables[m["measure"]] = table(f"{m['name']} a year, projected", PROJECTION, rows)
        blocks.append(
            {
                "m": m,
                "svg": charts.trend(
                    f"demand-{m['measure']}",
                    f"{m['name']} a year, projected",
                    rows,
                    "a year",
                    lower="lower95",
                    upper="upper95",
                    peer="peer_value",
                    peer_label="with the target",
                ),
                "table": tables[m["measure"]],
                "csv": reverse("evaluation_demand_csv", args=[m["measure"]]),
            }
        )
    downloads = {}
    if fmt == "csv":
        if measure not in tables:
            raise Http404("No such measure in the projection.")
        downloads["csv"] = Download(tables[measure], f"demand-{measure}.csv")
    return answer(
        fmt,
        lambda: render(
            request,
            "evaluation/demand.html",
            {"data": data, "blocks": blocks, "labels": DEMAND_MEASURES},
        ),
        downloads,
    )
