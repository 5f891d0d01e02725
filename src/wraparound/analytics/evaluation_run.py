"""``wraparound evaluate``: build an intervention's panels through the engine, analyse each
outcome (``evaluation.py``) and publish the report for the app to read.

Writes ``DIR/evaluation/<intervention>/`` (``warehouse/paths.evaluation``):

* ``report.json``: the intervention (its logic model included), the window, per outcome the
  difference-in-differences, interrupted time series and placebo, the balance table, and
  the group's monthly rates in treated and comparison practices (for the chart);
* ``panel.parquet``: the practice-by-month panel itself, and ``practices.parquet``.

Files are written beside the final folder and moved into place, so a reader sees the old
report or the new one, never half of one. The app reads ``report.json`` only; the request
path never runs an analysis.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import time
from pathlib import Path

import polars as pl
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from wraparound.analytics import evaluation
from wraparound.analytics.evaluation_panel import OUTCOMES, build, window
from wraparound.interventions import OUTCOME_MEASURES, Intervention
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect

BALANCE = (
    "list_size",
    "group_size",
    "group_mean_age",
    "share_65_plus",
    "mean_imd_decile",
    *(f"pre_{o}_rate" for o in OUTCOMES),
)


def _clean(value):
    """JSON without NaN or infinities (null instead)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def intervention_summary(iv: Intervention) -> dict:
    return {
        "id": iv.id,
        "version": iv.version,
        "name": iv.name,
        "description": iv.description.strip(),
        "practices": list(iv.practices),
        "neighbourhoods": list(iv.neighbourhoods),
        "start": iv.start.isoformat(),
        "rollout": [{"code": c, "start": d.isoformat()} for c, d in iv.rollout],
        "cohort_date": iv.cohort_date.isoformat(),
        "group": {"efi_category": list(iv.efi_categories), "register": list(iv.registers)},
        "logic_model": {
            "inputs": list(iv.inputs),
            "activities": list(iv.activities),
            "outputs": list(iv.outputs),
            "outcomes": [
                {"id": o.id, "name": o.name, "measures": list(o.measures)} for o in iv.outcomes
            ],
        },
        "simulated_change": iv.simulated_change,
    }


def series(panel: pl.DataFrame, outcome: str) -> list[dict]:
    """The group's monthly rate per 1,000 person-months, treated and comparison practices."""
    out = (
        panel.with_columns(treated=pl.col("first_treated").is_not_null())
        .group_by(["month", "treated"])
        .agg(pl.col(outcome).sum(), pl.col("exposure").sum())
        .with_columns(rate=1000 * pl.col(outcome) / pl.col("exposure").clip(lower_bound=1e-9))
        .sort("month")
    )
    rows: dict[dt.date, dict] = {}
    for r in out.iter_rows(named=True):
        row = rows.setdefault(r["month"], {"month": r["month"].isoformat()})
        row["treated" if r["treated"] else "comparison"] = r["rate"]
    return list(rows.values())


def indicator_panel(
    values: pl.DataFrame, indicator_id: str, practices: pl.DataFrame, first: dt.date
) -> pl.DataFrame | None:
    """The practice-by-month panel of one published indicator (``indicator_values.parquet``
    of the newest indicators run): its numerator as the events and its denominator as the
    exposure, so the analyses run on the indicator's own figure (rescaled: the relative
    effect is the same). Whole practices, not the intervention's group: an indicator already
    says whom it counts. None if the run has no practice series of it."""
    rows = values.filter(
        (pl.col("indicator_id") == indicator_id)
        & (pl.col("level") == "practice")
        & (pl.col("subgroup").is_null() | (pl.col("subgroup") == "all"))
        & pl.col("denominator").is_not_null()
        & (pl.col("denominator") > 0)
    )
    if rows.is_empty():
        return None
    panel = (
        rows.with_columns(month=pl.col("period").str.to_date("%Y-%m"))
        .with_columns(
            period=(pl.col("month").dt.year() - first.year) * 12
            + pl.col("month").dt.month().cast(pl.Int32)
            - first.month
        )
        .filter(pl.col("period") >= 0)
        .select(
            pl.col("org_id").alias("practice_id"),
            pl.col("period").cast(pl.Int64),
            "month",
            pl.col("numerator").cast(pl.Float64).alias(indicator_id),
            pl.col("denominator").cast(pl.Float64).alias("exposure"),
        )
        .join(practices.select("practice_id", "first_treated"), on="practice_id", how="inner")
        .sort(["practice_id", "period"])
    )
    return panel if panel["period"].n_unique() >= 6 else None


def _indicators(warehouse: Path, names: list[str], practices, first) -> tuple[dict, list]:
    """Each named indicator's analyses, and the ones that could not be evaluated, why."""
    from wraparound.analytics.results import latest_run
    from wraparound.vocabulary import INDICATORS

    run = latest_run(Path(warehouse), INDICATORS)
    results, skipped = {}, []
    values = None
    if run is not None and (run / "indicator_values.parquet").exists():
        values = pl.read_parquet(run / "indicator_values.parquet")
    for name in names:
        panel = None if values is None else indicator_panel(values, name, practices, first)
        if panel is None:
            reason = (
                "no indicators run has been published (wraparound indicators)"
                if values is None
                else "no monthly practice series of it in the newest indicators run"
            )
            skipped.append({"measure": name, "reason": reason})
            continue
        try:
            results[name] = evaluation.analyse(panel, name) | {
                "name": f"Indicator {name} (whole practices)",
                "series": series(panel, name),
                "indicator": True,
            }
        except ValueError as exc:
            skipped.append({"measure": name, "reason": str(exc)})
    return results, skipped


def evaluate(
    warehouse: Path, intervention: Intervention, *, progress: bool = True, engine: str | None = None
) -> dict:
    started = time.perf_counter()
    outcomes = [m for m in intervention.measures if m in OUTCOME_MEASURES] or list(OUTCOMES)
    other = [m for m in intervention.measures if m not in OUTCOME_MEASURES]
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        disable=not progress,
        transient=True,
    )
    with bar:
        task = bar.add_task("evaluation: panels", total=1 + len(outcomes))
        with connect(warehouse, engine) as eng:
            first, last = window(eng)
            panel, practices = build(eng, intervention, (first, last))
        bar.advance(task)
        bar.update(task, total=1 + len(outcomes) + len(other))
        results = {}
        for outcome in outcomes:
            bar.update(task, description=f"evaluation: {outcome}")
            results[outcome] = evaluation.analyse(panel, outcome) | {
                "name": OUTCOME_MEASURES[outcome],
                "series": series(panel, outcome),
            }
            bar.advance(task)
        bar.update(task, description="evaluation: indicators")
        indicator_results, skipped = _indicators(warehouse, other, practices, first)
        results.update(indicator_results)
        bar.advance(task, len(other))
    report = {
        "intervention": intervention_summary(intervention),
        "window": {"first_month": first.isoformat(), "last_month": last.isoformat()},
        "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "outcomes": results,
        "not_evaluated": skipped,
        "balance": evaluation.balance(practices, list(BALANCE)),
        "practices": practices.select(
            "practice_id",
            "name",
            "neighbourhood_id",
            "start",
            "list_size",
            "group_size",
            "treated",
        ).to_dicts(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    _publish(warehouse, intervention.id, report, panel, practices)
    return report


def _publish(warehouse, intervention_id, report, panel, practices) -> None:
    final = paths.evaluation(warehouse, intervention_id)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "report.json").write_text(json.dumps(_clean(report), indent=2))
    panel.write_parquet(tmp / "panel.parquet")
    practices.write_parquet(tmp / "practices.parquet")
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def read_report(warehouse: Path, intervention_id: str) -> dict | None:
    """The published report, or None if ``evaluate`` has not been run."""
    path = paths.evaluation(warehouse, intervention_id) / "report.json"
    return json.loads(path.read_text()) if path.exists() else None
