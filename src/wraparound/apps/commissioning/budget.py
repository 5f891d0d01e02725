"""Budget against spend: the primary-care budget by practice and line (a data file,
``data/budget/*.toml``, format in ``docs/clinical-content.md``) against what the system knows
was spent, month by month, with the year-end forecast and the resource-shift view.

- **Budget** per practice and line: the line's rate x the practice's list (weighted by age for
  ``weighted_patient`` lines) in the first month of the year, a twelfth a month.
- **Spend**, by the line's ``spend``: ``list`` — the rate x the list at each month's end, a
  twelfth; ``local_qof`` — the local QOF payment earned in the month (the run's
  year-to-date payment less the month before's); ``hub_sessions`` — hub sessions held in the
  month (distinct session and day of the access app's slots) x ``hub_session_gbp``, shared
  between practices by list; ``fixed`` — the budget.
- **Forecast**: spend to date plus the months left at the average month so far (local QOF:
  its projected year-end payment).
- **Resource shift**: budget and forecast by category (planned care, urgent care, continuity
  and co-ordination, primary care), each as a share of the total.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from importlib.resources import files

from wraparound.analytics.indicators import periods as months
from wraparound.apps.access.models import Slot
from wraparound.apps.commissioning.models import LocalQofRun, LocalQofValue
from wraparound.apps.records.models import Patient

BASES = ("weighted_patient", "patient")
SPENDS = ("list", "local_qof", "hub_sessions", "fixed")
CATEGORIES = {
    "planned_care": "Planned care",
    "urgent_care": "Urgent care",
    "continuity_coordination": "Continuity and co-ordination",
    "primary_care": "Primary care",
}


class BudgetError(ValueError):
    pass


@dataclass(frozen=True)
class Line:
    code: str
    title: str
    basis: str
    rate: float
    spend: str
    category: str


@dataclass(frozen=True)
class Budget:
    id: str
    version: int
    year: int
    title: str
    hub_session_gbp: float
    weights: tuple[tuple[int, float], ...]  # (from age, weight), ascending
    lines: tuple[Line, ...]


def parse(text: str, path: str) -> Budget:
    raw = tomllib.loads(text)
    try:
        lines = []
        for i, item in enumerate(raw["lines"]):
            line = Line(
                item["code"],
                item["title"],
                item["basis"],
                float(item["rate_gbp"]),
                item["spend"],
                item["category"],
            )
            for value, allowed, key in (
                (line.basis, BASES, "basis"),
                (line.spend, SPENDS, "spend"),
                (line.category, tuple(CATEGORIES), "category"),
            ):
                if value not in allowed:
                    raise BudgetError(
                        f"{path}: lines[{i}].{key} must be one of {', '.join(allowed)}"
                    )
            lines.append(line)
        weights = tuple(sorted((int(k), float(v)) for k, v in raw["weights"].items()))
        if not weights or weights[0][0] != 0:
            raise BudgetError(f"{path}: weights must start at age 0")
        return Budget(
            raw["id"],
            int(raw["version"]),
            int(raw["year"]),
            raw["title"],
            float(raw["hub_session_gbp"]),
            weights,
            tuple(lines),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, BudgetError):
            raise
        raise BudgetError(f"{path}: {exc!r} is missing or malformed") from exc


def load() -> Budget:
    folder = files("wraparound").joinpath("data").joinpath("budget")
    found = sorted(p for p in folder.iterdir() if p.name.endswith(".toml"))
    budgets = [parse(p.read_text(encoding="utf-8"), f"data/budget/{p.name}") for p in found]
    return max(budgets, key=lambda b: (b.year, b.version))


def _weight(budget: Budget, age: int) -> float:
    w = budget.weights[0][1]
    for start, value in budget.weights:
        if age >= start:
            w = value
    return w


def weight_factors(budget: Budget, on: dt.date) -> dict[str, float]:
    """Weighted list / list per practice, normalised so the locality's weighted list equals
    its list."""
    raw: dict[str, float] = defaultdict(float)
    weighted: dict[str, float] = defaultdict(float)
    for practice, birth in Patient.objects.filter(
        practice__isnull=False, death_date__isnull=True
    ).values_list("practice_id", "birth_date"):
        age = (on - birth).days // 365 if birth else 40
        raw[practice] += 1
        weighted[practice] += _weight(budget, age)
    total_raw, total_w = sum(raw.values()), sum(weighted.values())
    scale = total_raw / total_w if total_w else 1.0
    return {p: weighted[p] / raw[p] * scale for p in raw}


def hub_sessions_by_month(first: int, last: int) -> dict[int, int]:
    start = months.month_start(first)
    end = months.month_start(last + 1)
    seen = set(
        Slot.objects.filter(start__date__gte=start, start__date__lt=end, session__isnull=False)
        .values_list("session_id", "start__date")
        .distinct()
    )
    out: dict[int, int] = defaultdict(int)
    for _, day in seen:
        out[months.month_index(day)] += 1
    return out


@dataclass
class Figures:
    budget: Budget
    run: LocalQofRun
    months: list[int]
    cells: dict  # (practice, line code, month) -> spend
    annual: dict  # (practice, line code) -> annual budget
    forecast: dict  # (practice, line code) -> year-end forecast


def compute(budget: Budget) -> Figures | None:
    """Spend and budget from the newest local QOF run's months (its list sizes and
    payments); None before there is one."""
    run = LocalQofRun.latest()
    if run is None:
        return None
    values = list(
        LocalQofValue.objects.filter(run=run).values(
            "practice_id", "period", "list_size", "payment", "latest", "projected_payment"
        )
    )
    lists: dict[tuple[str, int], float] = {}
    paid: dict[tuple[str, int], float] = defaultdict(float)
    projected: dict[str, float] = defaultdict(float)
    for v in values:
        lists[(v["practice_id"], v["period"])] = v["list_size"]
        paid[(v["practice_id"], v["period"])] += v["payment"]
        if v["latest"]:
            projected[v["practice_id"]] += v["projected_payment"] or 0.0
    periods = list(range(run.period_first, run.period_last + 1))
    practices = sorted({p for p, _ in lists})
    factors = weight_factors(budget, months.month_end(run.period_last))
    sessions = hub_sessions_by_month(run.period_first, run.period_last)
    cells: dict = {}
    annual: dict = {}
    forecast: dict = {}
    left = 12 - len(periods)
    for m in periods:
        total_list = sum(lists.get((p, m), 0.0) for p in practices) or 1.0
        for p in practices:
            size = lists.get((p, m), 0.0)
            for line in budget.lines:
                base_size = lists.get((p, periods[0]), 0.0)
                factor = factors.get(p, 1.0) if line.basis == "weighted_patient" else 1.0
                annual[(p, line.code)] = line.rate * base_size * factor
                if line.spend == "list":
                    spend = line.rate * size * factor / 12
                elif line.spend == "local_qof":
                    spend = (
                        paid[(p, m)] - paid.get((p, m - 1), 0.0) if m > periods[0] else paid[(p, m)]
                    )
                elif line.spend == "hub_sessions":
                    spend = sessions.get(m, 0) * budget.hub_session_gbp * size / total_list
                else:
                    spend = annual[(p, line.code)] / 12
                cells[(p, line.code, m)] = spend
    for p in practices:
        for line in budget.lines:
            so_far = sum(cells[(p, line.code, m)] for m in periods)
            if line.spend == "local_qof":
                forecast[(p, line.code)] = max(so_far, projected[p])
            else:
                forecast[(p, line.code)] = so_far + left * so_far / len(periods)
    return Figures(budget, run, periods, cells, annual, forecast)


def by_line(f: Figures) -> list[dict]:
    n = len(f.months)
    out = []
    for line in f.budget.lines:
        annual = sum(v for (p, c), v in f.annual.items() if c == line.code)
        spend = sum(v for (p, c, m), v in f.cells.items() if c == line.code)
        fc = sum(v for (p, c), v in f.forecast.items() if c == line.code)
        ytd = annual * n / 12
        out.append(
            {
                "code": line.code,
                "title": line.title,
                "category": CATEGORIES[line.category],
                "annual": annual,
                "ytd_budget": ytd,
                "ytd_spend": spend,
                "variance": spend - ytd,
                "forecast": fc,
                "forecast_variance": fc - annual,
            }
        )
    return out


def by_month(f: Figures) -> list[dict]:
    annual = sum(f.annual.values())
    out, cum = [], 0.0
    for m in f.months:
        spend = sum(v for (p, c, mm), v in f.cells.items() if mm == m)
        cum += spend - annual / 12
        out.append(
            {
                "period": months.label(m),
                "budget": annual / 12,
                "spend": spend,
                "variance": spend - annual / 12,
                "cumulative_variance": cum,
            }
        )
    return out


def by_category(f: Figures) -> list[dict]:
    rows = by_line(f)
    total_b = sum(r["annual"] for r in rows) or 1.0
    total_f = sum(r["forecast"] for r in rows) or 1.0
    out = []
    for code, label in CATEGORIES.items():
        mine = [r for r, line in zip(rows, f.budget.lines, strict=True) if line.category == code]
        b, fc = sum(r["annual"] for r in mine), sum(r["forecast"] for r in mine)
        out.append(
            {
                "category": label,
                "budget": b,
                "budget_share": 100 * b / total_b,
                "forecast": fc,
                "forecast_share": 100 * fc / total_f,
                "shift": 100 * fc / total_f - 100 * b / total_b,
            }
        )
    return out


def by_practice(f: Figures) -> list[dict]:
    n = len(f.months)
    practices = sorted({p for p, _ in f.annual})
    out = []
    for p in practices:
        annual = sum(v for (pp, c), v in f.annual.items() if pp == p)
        spend = sum(v for (pp, c, m), v in f.cells.items() if pp == p)
        fc = sum(v for (pp, c), v in f.forecast.items() if pp == p)
        out.append(
            {
                "practice_id": p,
                "annual": annual,
                "ytd_spend": spend,
                "variance": spend - annual * n / 12,
                "forecast": fc,
                "forecast_variance": fc - annual,
            }
        )
    return out
