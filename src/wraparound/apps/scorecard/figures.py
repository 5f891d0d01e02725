"""The rows behind each page, read from the app tables (a handful of indexed queries)."""

from __future__ import annotations

from django.http import Http404

from wraparound import clinical, vocabulary
from wraparound.apps.records.models import Organisation
from wraparound.apps.scorecard.models import (
    IndicatorRun,
    IndicatorValue,
    InequalityGap,
    Outlier,
    PublicValue,
    QuintileValue,
    SubgroupValue,
)

VALUE_FIELDS = (
    "indicator_id",
    "period",
    "period_end",
    "level",
    "org_id",
    "parent_id",
    "numerator",
    "denominator",
    "value",
    "lower95",
    "upper95",
    "peer_value",
    *vocabulary.FUNNEL_LIMITS,
    "funnel_status",
    "assessment",
    "decile",
    "change_12m",
    "trend",
)


def current_run() -> IndicatorRun:
    run = IndicatorRun.latest()
    if run is None:
        raise Http404(
            "No indicators run has been loaded: run `wraparound indicators` "
            "and `wraparound app refresh`."
        )
    return run


def names() -> dict[str, str]:
    return dict(Organisation.objects.values_list("org_id", "name"))


def practice(ods: str) -> Organisation:
    org = Organisation.objects.filter(pk=ods, kind="practice").first()
    if org is None:
        raise Http404("No such practice.")
    return org


def computed(run: IndicatorRun) -> list[dict]:
    """Definitions with a value in this run, in catalogue order."""
    return [d for d in run.definitions if d.get("latest_period")]


def latest_for(
    model, run: IndicatorRun, org_ids: list[str], *, fields=VALUE_FIELDS, **where
) -> list[dict]:
    """Each indicator's latest month for the given organisations (or clinicians)."""
    latest = {d["id"]: d["latest_period"] for d in computed(run)}
    rows = model.objects.filter(run=run, period__in=set(latest.values()), **where).values(*fields)
    if org_ids:
        rows = rows.filter(org_id__in=org_ids)
    return [r for r in rows if latest.get(r["indicator_id"]) == r["period"]]


def series(run: IndicatorRun, ods: str, indicator_id: str) -> list[dict]:
    return list(
        IndicatorValue.objects.filter(run=run, org_id=ods, indicator_id=indicator_id)
        .order_by("period")
        .values(*VALUE_FIELDS)
    )


def funnel_points(
    run: IndicatorRun, indicator_id: str, period: str, visible: set[str], highlight: str
) -> list[dict]:
    """Every practice in the month: exact figures for practices the user may see, the
    published (disclosure-controlled) figures for the others."""
    where = {"run": run, "indicator_id": indicator_id, "level": "practice", "period": period}
    exact = list(IndicatorValue.objects.filter(org_id__in=visible, **where).values(*VALUE_FIELDS))
    public = list(
        PublicValue.objects.filter(**where)
        .exclude(org_id__in=visible)
        .values(*VALUE_FIELDS, "suppressed")
    )
    org_names = names()
    points = []
    for row in exact + public:
        points.append(
            {
                **row,
                "label": org_names.get(row["org_id"], row["org_id"]),
                "highlight": row["org_id"] == highlight,
                "published": "suppressed" in row,
                "suppressed": row.get("suppressed", False),
            }
        )
    return sorted(points, key=lambda p: p["label"])


def specialty(code: str) -> str:
    """A treatment function code as people read it: 'Dermatology (330)'; the code alone when
    ``data/treatment_functions.csv`` does not name it."""
    name = clinical.treatment_functions().get(code)
    return f"{name} ({code})" if name else code


def broken_down(run: IndicatorRun) -> list[dict]:
    """Definitions whose figures are by subgroup (specialty), in catalogue order."""
    return [d for d in computed(run) if d.get("subgroups")]


def subgroup_rows(run: IndicatorRun, indicator_id: str, ods: str, period: str) -> list[dict]:
    """One practice's row for each specialty in the month, with the neighbourhood's value for
    the same specialty and, where the practice is outside the 99.8% limits, for how many
    months in a row (``Outlier``). Sorted by specialty name."""
    where = {"run": run, "indicator_id": indicator_id, "period": period}
    rows = list(
        SubgroupValue.objects.filter(org_id=ods, level="practice", **where).values(
            *VALUE_FIELDS, "subgroup", "funnel_status95"
        )
    )
    parents = {r["parent_id"] for r in rows if r["parent_id"]}
    hood = {
        (r["org_id"], r["subgroup"]): r["value"]
        for r in SubgroupValue.objects.filter(
            level="neighbourhood", org_id__in=parents, **where
        ).values("org_id", "subgroup", "value")
    }
    runs = dict(
        Outlier.objects.filter(org_id=ods, **where).values_list("subgroup", "consecutive_periods")
    )
    for r in rows:
        r["label"] = specialty(r["subgroup"])
        r["neighbourhood_value"] = hood.get((r["parent_id"], r["subgroup"]))
        r["consecutive_periods"] = runs.get(r["subgroup"])
    return sorted(rows, key=lambda r: r["label"])


def _months(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last``."""
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def with_targets(run: IndicatorRun, d: dict, ods: str, rows: list[dict]) -> list[dict]:
    """The specialty rows of an indicator with ``targets`` (``docs/indicators.md``, Targets),
    each with its planned reduction, the practice's value over the run's baseline financial
    year and over the 12 months to the latest month (summed counts, so 12 months of events
    over 12 months of events or person-years), the target (baseline x (1 - reduction)) and
    whether the last 12 months meet it. Specialties without a target keep blanks."""
    reductions = (d.get("targets") or {}).get("reduction_pct") or {}
    period = d["latest_period"]
    year = int(run.baseline_year[:4]) if run.baseline_year[:4].isdigit() else None
    windows = {"last_12m": _months(_months_back(period, 11), period)}
    if year is not None:
        windows["baseline"] = _months(f"{year}-04", f"{year + 1}-03")
    sums: dict[tuple[str, str], list[float]] = {}
    for r in SubgroupValue.objects.filter(
        run=run,
        indicator_id=d["id"],
        org_id=ods,
        level="practice",
        subgroup__in=list(reductions),
        period__in=sorted({m for ms in windows.values() for m in ms}),
    ).values("period", "subgroup", "numerator", "denominator"):
        for name, ms in windows.items():
            if r["period"] in ms:
                total = sums.setdefault((name, r["subgroup"]), [0.0, 0.0])
                total[0] += r["numerator"] or 0.0
                total[1] += r["denominator"] or 0.0
    m = d.get("multiplier", 1)

    def value(name: str, code: str) -> float | None:
        x, y = sums.get((name, code), (0.0, 0.0))
        return m * x / y if y > 0 else None

    for r in rows:
        code = r["subgroup"]
        reduction = reductions.get(code)
        base = value("baseline", code) if reduction is not None else None
        last = value("last_12m", code) if reduction is not None else None
        target = base * (1 - reduction / 100) if base is not None else None
        r.update(
            reduction_pct=reduction,
            baseline_value=base,
            last_12m_value=last,
            target_value=target,
            meets_target=None if target is None or last is None else last <= target,
        )
    return rows


def _months_back(period: str, n: int) -> str:
    y, m = int(period[:4]), int(period[5:7])
    index = y * 12 + m - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def quintiles(run: IndicatorRun, org_id: str) -> dict[str, dict[int, dict]]:
    """Each indicator's latest month by deprivation quintile for one organisation:
    indicator id -> quintile (1-5) -> row."""
    by: dict[str, dict[int, dict]] = {}
    for q in QuintileValue.objects.filter(run=run, org_id=org_id).values():
        by.setdefault(q["indicator_id"], {})[q["imd_quintile"]] = q
    return by


def gaps(run: IndicatorRun, org_id: str) -> dict[str, dict]:
    """Each indicator's gap and ratio between the most and least deprived quintiles."""
    return {
        g["indicator_id"]: g for g in InequalityGap.objects.filter(run=run, org_id=org_id).values()
    }
