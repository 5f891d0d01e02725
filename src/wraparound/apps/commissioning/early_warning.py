"""Early warning for vulnerable practices: a score per practice and month from the signals
the system holds, each flag naming its signal and threshold; the signals and thresholds are
data (``data/early_warning/signals.toml``, format in ``docs/clinical-content.md``).

Sources of a signal's value for a practice and month:

- ``patients_per_gp``: the list at the month's end (the local QOF run) over the practice's
  GP whole-time equivalents in the organisation data (``practitioner_roles.fte``; a role
  without one counts as 1.0);
- ``indicator:ID``: the practice's value of that indicator in the scorecard (access: booking
  lead time, DNA, the hub access standards); missing when not computed (awaiting data);
- ``outliers_worse``: indicators worse than peers outside the 99.8% limits that month;
- ``local_qof_points_pct``: local QOF points earned as a share of the points available;
- ``fft_positive_pct``: the Friends and Family Test's positive share (the feedback app),
  missing in a month without responses;
- ``list_growth_pct``: the list against its size 12 months earlier (or the first month held).

A signal with no value raises no flag and is shown as "no data". Who sees which practices:
``visible_practices`` (commissioners every practice; a support and development hub user, a
commissioner with ``SupportAssignment`` rows, only those practices).
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass
from importlib.resources import files

from wraparound.analytics.indicators import periods as months
from wraparound.apps.commissioning.models import LocalQofRun, LocalQofValue, SupportAssignment
from wraparound.apps.records.models import Organisation
from wraparound.apps.scorecard.models import IndicatorRun, IndicatorValue, Outlier

FLAG_WHEN = ("above", "below", "at_least")
SOURCES = (
    "patients_per_gp",
    "outliers_worse",
    "local_qof_points_pct",
    "fft_positive_pct",
    "list_growth_pct",
)


class SignalError(ValueError):
    pass


@dataclass(frozen=True)
class Signal:
    code: str
    title: str
    source: str
    flag_when: str
    threshold: float
    weight: float
    unit: str

    def flagged(self, value: float | None) -> bool:
        if value is None:
            return False
        if self.flag_when == "above":
            return value > self.threshold
        if self.flag_when == "below":
            return value < self.threshold
        return value >= self.threshold

    @property
    def rule(self) -> str:
        words = {"above": "above", "below": "below", "at_least": "at least"}[self.flag_when]
        return f"{words} {self.threshold:g} {self.unit}"


def parse(text: str, path: str) -> tuple[Signal, ...]:
    raw = tomllib.loads(text)
    out = []
    for i, s in enumerate(raw.get("signals", [])):
        try:
            signal = Signal(
                s["code"],
                s["title"],
                s["source"],
                s["flag_when"],
                float(s["threshold"]),
                float(s["weight"]),
                s["unit"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SignalError(f"{path}: signals[{i}]: {exc!r} is missing or malformed") from exc
        if signal.flag_when not in FLAG_WHEN:
            raise SignalError(f"{path}: signals[{i}].flag_when must be one of {FLAG_WHEN}")
        if not (signal.source in SOURCES or signal.source.startswith("indicator:")):
            raise SignalError(f"{path}: signals[{i}].source {signal.source!r} is unknown")
        out.append(signal)
    if not out:
        raise SignalError(f"{path}: no signals")
    return tuple(out)


def load() -> tuple[Signal, ...]:
    path = files("wraparound").joinpath("data").joinpath("early_warning").joinpath("signals.toml")
    return parse(path.read_text(encoding="utf-8"), "data/early_warning/signals.toml")


def visible_practices(user) -> list[str]:
    """Every practice for a commissioner; only the assigned practices for a support and
    development hub user (a commissioner with assignments)."""
    assigned = list(
        SupportAssignment.objects.filter(user=user).values_list("practice_id", flat=True)
    )
    if assigned:
        return sorted(assigned)
    return sorted(Organisation.objects.filter(kind="practice").values_list("org_id", flat=True))


def _fft() -> dict[tuple[str, int], float]:
    try:
        from wraparound.apps.feedback import rollup
    except ImportError:  # the feedback app is not installed: no FFT signal
        return {}
    out = {}
    for row in rollup.rows(levels=("practice",)):
        if row.value is not None:
            out[(row.code, months.month_index(row.month))] = row.value
    return out


def scores(practices: list[str], signals: tuple[Signal, ...]) -> list[dict] | None:
    """One row per practice and month of the newest local QOF run: each signal's value and
    flag, the score and the flags' descriptions; None before there is a run."""
    run = LocalQofRun.latest()
    if run is None:
        return None
    periods = list(range(run.period_first, run.period_last + 1))
    lists: dict[tuple[str, int], float] = {}
    points: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for v in LocalQofValue.objects.filter(run=run, practice_id__in=practices).values(
        "practice_id", "period", "list_size", "points", "max_points"
    ):
        key = (v["practice_id"], v["period"])
        lists[key] = v["list_size"]
        points[key][0] += v["points"]
        points[key][1] += v["max_points"]
    gps = run.manifest.get("gp_fte", {})
    indicators: dict[tuple[str, str, int], float] = {}
    wanted = [s.source.split(":", 1)[1] for s in signals if s.source.startswith("indicator:")]
    outliers: dict[tuple[str, int], int] = defaultdict(int)
    ind_run = IndicatorRun.latest()
    if ind_run is not None:
        for v in IndicatorValue.objects.filter(
            run=ind_run, level="practice", org_id__in=practices, indicator_id__in=wanted
        ).values("indicator_id", "org_id", "period", "value"):
            if v["value"] is not None:
                y, m = v["period"].split("-")
                indicators[(v["indicator_id"], v["org_id"], int(y) * 12 + int(m) - 1)] = v["value"]
        for o in Outlier.objects.filter(
            run=ind_run, org_id__in=practices, assessment="worse"
        ).values("org_id", "period"):
            y, m = o["period"].split("-")
            outliers[(o["org_id"], int(y) * 12 + int(m) - 1)] += 1
    fft = _fft()
    rows = []
    for p in practices:
        for m in periods:
            size = lists.get((p, m))
            before = lists.get((p, max(periods[0], m - 12)))
            got, top = points[(p, m)]
            values = {
                "patients_per_gp": size / gps[p] if size is not None and gps.get(p) else None,
                "outliers_worse": float(outliers[(p, m)]) if ind_run is not None else None,
                "local_qof_points_pct": 100 * got / top if top else None,
                "fft_positive_pct": fft.get((p, m)),
                "list_growth_pct": 100 * (size - before) / before
                if size is not None and before
                else None,
            }
            row = {"practice_id": p, "period": months.label(m), "score": 0.0, "flags": []}
            for s in signals:
                if s.source.startswith("indicator:"):
                    value = indicators.get((s.source.split(":", 1)[1], p, m))
                else:
                    value = values[s.source]
                row[s.code] = value
                if s.flagged(value):
                    row["score"] += s.weight
                    row["flags"].append(f"{s.title}: {value:.1f}, {s.rule}")
            rows.append(row)
    return rows
