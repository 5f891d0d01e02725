"""Load the newest indicators run (``DIR/results/indicators/latest.json``) into the app.

Called by ``wraparound app refresh``. A run already loaded is not loaded again; a new run is
loaded whole in one transaction and only then made current, so a page sees the old run or
the new one, never a mixture. Earlier runs' rows are deleted (their Parquet stays on disk
for audit), which keeps the tables at one run's size.

What is copied, and why only that: the ``all`` subgroup of practices, neighbourhoods and the
locality for every month (trend charts and funnels), clinicians for the latest month only
(``scorecard.parquet``: the within-practice breakdown), the published table
(``public/indicator_values.parquet``) into its own model, outliers (every subgroup), the
latest month of the deprivation quintiles and gaps, and the outcome series. The specialty
subgroups of a broken-down indicator (``outpatient_attendances_by_specialty``) go into their
own model, every month at every level (about 30 practices x 20 specialties x 36 months);
their published copy is not loaded, so the public pages cannot show them.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from django.db import transaction

from wraparound import vocabulary
from wraparound.analytics import results
from wraparound.apps.records import bulk
from wraparound.apps.scorecard import models as m
from wraparound.warehouse import paths

BATCH = 2000
LOAD_VERSION = 2
"""Bumped when the loader copies more (2: specialty subgroups): a run loaded by an older
loader is loaded again."""
PUBLIC_DERIVED = (*vocabulary.FUNNEL_LIMITS, "peer_value")


def _bulk(model, frame: pl.DataFrame, run: m.IndicatorRun) -> int:
    """Insert a frame's rows for ``run`` in one bulk write (``records/bulk.py``), NaN and
    null as None (or '' for a text column), as ``_rows`` makes them."""
    fields = {f.name: f for f in model._meta.concrete_fields if f.name not in ("id", "run")}
    keep = [c for c in frame.columns if c in fields]
    text = {c for c in keep if fields[c].get_internal_type() == "CharField"}
    frame = (
        frame.select(keep)
        .with_columns(
            *[
                pl.col(c).fill_nan(None)
                for c in keep
                if frame.schema[c] in (pl.Float32, pl.Float64)
            ],
        )
        .with_columns(*[pl.col(c).fill_null("") for c in text if frame.schema[c] == pl.String])
    )
    rows = ((run.pk, *r) for r in frame.iter_rows())
    bulk.insert(model, ["run", *keep], rows)
    return frame.height


def _latest_period(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("period") == pl.col("period").max().over("indicator_id"))


def _public(run_dir: Path) -> pl.DataFrame:
    """The published table, 'all' subgroup. Funnel limits and the peer value are blanked on
    suppressed rows as well: limits at a practice's denominator would reveal that small
    denominator (the published Parquet keeps them)."""
    public = pl.read_parquet(run_dir / "public" / "indicator_values.parquet")
    public = public.filter((pl.col("subgroup") == "all") & (pl.col("level") != "clinician"))
    return public.with_columns(
        *[
            pl.when(pl.col("suppressed")).then(None).otherwise(pl.col(c)).alias(c)
            for c in PUBLIC_DERIVED
        ]
    )


def clinician_names(engine) -> dict[str, str]:
    """Practitioner role id -> the practitioner's name, for the within-practice rows."""
    roles = engine.to_polars(
        engine.table("practitioner_roles").select("id", "practitioner_id", "role")
    )
    people = engine.to_polars(engine.table("practitioners").select("id", "name"))
    joined = roles.join(people.rename({"id": "practitioner_id"}), on="practitioner_id", how="left")
    return {r["id"]: f"{r['name'] or r['id']} ({r['role']})" for r in joined.iter_rows(named=True)}


def load_latest_indicators(warehouse_dir: Path, engine=None) -> str | None:
    """Load the newest run unless it is loaded already; return the current run id."""
    run_dir = results.latest_run(Path(warehouse_dir), vocabulary.INDICATORS)
    if run_dir is None:
        current = m.IndicatorRun.latest()
        return current.run_id if current else None
    if m.IndicatorRun.objects.filter(
        run_id=run_dir.name, current=True, load_version=LOAD_VERSION
    ).exists():
        return run_dir.name
    return load_run(run_dir, clinician_names(engine) if engine is not None else {}).run_id


def load_run(run_dir: Path, clinicians: dict[str, str] | None = None) -> m.IndicatorRun:
    """Load one run directory and make it the current run (replacing any other)."""
    manifest = json.loads(paths.run_manifest(run_dir).read_text())
    status = {d["id"]: d["status"] for d in manifest["definitions"]}
    every = pl.read_parquet(run_dir / "indicator_values.parquet").filter(
        pl.col("level") != "clinician"
    )
    # Latest month per indicator over every subgroup: a broken-down indicator has no 'all'.
    latest = dict(every.group_by("indicator_id").agg(pl.col("period").max()).iter_rows())
    values = every.filter(pl.col("subgroup") == "all")
    subgroups = every.filter(pl.col("subgroup") != "all")
    del every
    broken_down = set(subgroups["indicator_id"].unique().to_list())
    definitions = [
        {
            **d,
            "status": status.get(d["id"], ""),
            "latest_period": latest.get(d["id"]),
            "subgroups": d["id"] in broken_down,
        }
        for d in json.loads((run_dir / "definitions.json").read_text())
    ]
    clinician_rows = pl.read_parquet(run_dir / "scorecard.parquet").filter(
        (pl.col("subgroup") == "all") & (pl.col("level") == "clinician")
    )
    quintiles = _latest_period(
        pl.read_parquet(run_dir / "inequalities.parquet").filter(pl.col("subgroup") == "all")
    )
    gaps = _latest_period(
        pl.read_parquet(run_dir / "inequality_gaps.parquet").filter(pl.col("subgroup") == "all")
    )
    outliers = pl.read_parquet(run_dir / "outliers.parquet")
    outcomes = pl.read_parquet(run_dir / "outcomes.parquet")
    with transaction.atomic():
        m.IndicatorRun.objects.filter(run_id=run_dir.name).delete()
        run = m.IndicatorRun.objects.create(
            run_id=run_dir.name,
            created_at=manifest["created_at"],
            period_last=manifest["periods"]["last"],
            baseline_year=manifest.get("baseline_year") or "",
            rule=manifest["disclosure_rule"],
            load_version=LOAD_VERSION,
            definitions=definitions,
            clinicians={
                k: v
                for k, v in (clinicians or {}).items()
                if k in set(clinician_rows["org_id"].to_list())
            },
        )
        _bulk(m.IndicatorValue, values, run)
        _bulk(m.IndicatorValue, clinician_rows, run)
        _bulk(m.SubgroupValue, subgroups, run)
        _bulk(m.PublicValue, _public(run_dir), run)
        _bulk(m.Outlier, outliers, run)
        _bulk(m.QuintileValue, quintiles, run)
        _bulk(m.InequalityGap, gaps, run)
        _bulk(m.Outcome, outcomes, run)
        m.IndicatorRun.objects.exclude(pk=run.pk).delete()
        m.IndicatorRun.objects.filter(pk=run.pk).update(current=True)
    run.current = True
    return run
