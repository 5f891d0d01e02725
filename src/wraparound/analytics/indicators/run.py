"""``wraparound indicators``: every indicator for every practice, neighbourhood and the
locality (and clinician, for practices' own use), per month, published as Parquet.

A run is built in ``OUT/.<run_id>.tmp/``, renamed into place whole as ``OUT/<run_id>/``, and
only then does ``OUT/latest.json`` (replaced atomically) point at it, so the app never reads
half a run. ``manifest.json`` in the run says what it was computed from: the warehouse
snapshot, each definition's version and SHA-256, the optional inputs, the periods, and which
indicators are awaiting data.

Files (``docs/indicators.md`` describes every column):

- ``indicator_values.parquet``: all levels, exact figures (internal: clinician rows are
  never published);
- ``scorecard.parquet``: the latest month, practices and their clinicians;
- ``outliers.parquet``, ``outliers_latest.csv``: practices outside the 99.8% limits;
- ``inequalities.parquet``, ``inequality_gaps.parquet``: by deprivation quintile;
- ``outcomes.parquet``: admissions, A&E and excess bed days against the baseline;
- ``public/``: the publishable tables after disclosure control (``disclosure.RULE``);
- ``definitions.json``: the indicator catalogue the app shows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import polars as pl
import pyarrow.compute as pc

from wraparound.analytics import disclosure, outcomes, results
from wraparound.analytics.indicators import compile as compiler
from wraparound.analytics.indicators import compute, definition, inputs, levels, reuse
from wraparound.analytics.indicators import outliers as outlier_report
from wraparound.analytics.indicators import periods as months
from wraparound.analytics.indicators.definition import Indicator
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

LATEST = "latest.json"
COUNTS = disclosure.COUNTS
# Everything calculated from a row's counts, suppressed with them (disclosure.DERIVED).
DERIVED = disclosure.DERIVED


def default_out(warehouse: Path) -> Path:
    return results.kind_dir(Path(warehouse), paths.INDICATORS)


def run(
    warehouse: Path,
    out: Path | None = None,
    baseline_year: int | None = None,
    library: tuple[Indicator, ...] | None = None,
    full: bool = False,
) -> dict:
    """Compute and publish every indicator; returns the run's manifest.

    Months the data written since the previous published run cannot have changed are taken
    from that run's cells (``reuse.py``); ``full`` computes every month again."""
    warehouse = Path(warehouse)
    wh = Warehouse(warehouse)
    if not wh.exists():
        raise ValueError(f"{warehouse} is not a warehouse (no manifest.json)")
    out = Path(out) if out else default_out(warehouse)
    library = library or definition.load()
    found = inputs.read(warehouse)
    previous = None if full else latest_run(out)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    cells: dict[str, pl.DataFrame] = {}
    raw: dict[str, pl.DataFrame] = {}
    linked: dict[str, Path] = {}
    status: dict[str, str] = {}
    computed_months: dict[str, int] = {}
    with connect(wh) as engine:
        first_day, last_day = _data_window(engine)
        period_set = months.from_data(first_day, last_day)
        orgs = _orgs(engine)
        app_inputs = compiler.Inputs(
            app_events=engine.memtable(found.app_events) if found.app_events else None,
            risk=engine.memtable(found.risk) if found.risk else None,
            app_appointments=engine.memtable(found.app_appointments)
            if found.app_appointments
            else None,
            app_referrals=engine.memtable(found.app_referrals) if found.app_referrals else None,
            app_feedback=engine.memtable(found.app_feedback) if found.app_feedback else None,
        )
        fingerprints = {
            i.id: reuse.fingerprint(i, engine.name, reuse.cohort_hash(i, found.risk))
            for i in library
        }
        plan = reuse.plan(engine, wh, library, found, period_set, last_day, fingerprints, previous)
        timings["changes_s"] = time.perf_counter() - started
        contexts: dict[tuple[int, ...] | None, compiler.Context] = {}

        def context(only: set[int] | None) -> compiler.Context:
            key = None if only is None else tuple(sorted(only))
            if key not in contexts:
                chosen = period_set if only is None else period_set.restricted(only)
                contexts[key] = compiler.Context(engine, chosen, app_inputs, last_day)
            return contexts[key]

        try:
            for indicator in library:
                missing = [r for r in indicator.requires if getattr(found, r) is None]
                if missing:
                    status[indicator.id] = f"awaiting data: {', '.join(missing)}"
                    continue
                clock = time.perf_counter()
                todo = plan.months[indicator.id]
                kept = None
                if todo is not None:
                    source = plan.previous_cells(indicator.id)
                    before = pl.read_parquet(source)
                    kept = before.filter(
                        pl.col("period").is_between(period_set.first, period_set.last)
                        & ~pl.col("period").is_in(sorted(todo))
                    )
                    if not todo and kept.height == before.height:
                        linked[indicator.id] = source
                if todo is None or todo:
                    compiled = compiler.compile_indicator(context(todo), indicator)
                    frames = {
                        k: engine.to_polars(getattr(compiled, k))
                        if getattr(compiled, k) is not None
                        else None
                        for k in ("cells", "numerator", "denominator")
                    }
                    frame = compute.cells_frame(indicator, **frames)
                    if kept is not None:
                        frame = pl.concat([kept, frame.cast(kept.schema)], how="vertical")
                    frame = compute.canonical(frame)
                else:
                    frame = compute.canonical(kept, in_order=True)
                raw[indicator.id] = frame
                cells[indicator.id] = _reported(indicator, frame, period_set, found)
                status[indicator.id] = "computed"
                computed_months[indicator.id] = (
                    len(period_set.indexes) if todo is None else len(todo)
                )
                timings[f"query:{indicator.id}"] = time.perf_counter() - clock
        finally:
            for ctx in contexts.values():
                ctx.release()
    timings["queries_s"] = time.perf_counter() - started
    if not any(frame.height for frame in cells.values()):
        awaiting = sum(s.startswith("awaiting") for s in status.values())
        raise ValueError(
            f"none of the {len(library)} indicators has a figure to publish ({awaiting} "
            "awaiting data, the rest with no rows in the periods); nothing was published"
        )
    clock = time.perf_counter()
    memo = disclosure.Memo(_memo(plan.previous))
    tables = _tables(library, cells, orgs, baseline_year, memo)
    timings["statistics_s"] = time.perf_counter() - clock
    run_id = results.new_run_id()
    manifest = {
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "warehouse": {"path": str(warehouse.resolve()), **_snapshot(wh)},
        "periods": {
            "first": months.label(period_set.first),
            "last": months.label(period_set.last),
            "data_from": first_day.isoformat(),
            "data_to": last_day.isoformat(),
        },
        "baseline_year": tables.pop("baseline_year"),
        "definitions": [
            {"id": i.id, "version": i.version, "sha256": i.sha256, "status": status[i.id]}
            for i in library
        ],
        "inputs": found.described,
        "disclosure_rule": disclosure.RULE,
        "publishable": sorted(f"public/{name}.parquet" for name in tables["public"]),
        "row_counts": {name: t.height for name, t in tables.items() if name != "public"},
        "timings": {k: round(v, 2) for k, v in timings.items()},
        # Which months each indicator computed (the rest came from the previous run) and why.
        "months_computed": computed_months,
        "reuse_reasons": plan.reasons,
        "reused_from": plan.previous.name if plan.previous is not None else None,
        "reuse": {
            **reuse.state(wh, period_set, last_day, fingerprints),
            "disclosure_groups": len(memo.seen),
            "disclosure_groups_reused": memo.hits,
        },
    }
    _publish(out, run_id, tables, library, manifest, raw, linked, found, memo)
    return manifest


def _memo(previous: Path | None) -> dict:
    """The previous run's rule-4 answers (``disclosure.Memo``), when it is being reused."""
    path = previous / reuse.DISCLOSURE_MEMO if previous is not None else None
    return json.loads(path.read_text()) if path is not None and path.exists() else {}


def _data_window(engine) -> tuple[dt.date, dt.date]:
    enc = engine.table("encounters")
    row = engine.to_arrow(enc.aggregate(first=enc.start.min(), last=enc.start.max()))
    first, last = row.column("first")[0], row.column("last")[0]
    if not last.is_valid:
        raise ValueError("the warehouse has no encounters: no period to report")
    return first.as_py().date(), last.as_py().date()


def _orgs(engine) -> compute.Orgs:
    orgs = engine.to_polars(engine.table("organisations").select("org_id", "kind", "parent_id"))
    practices = orgs.filter(pl.col("kind") == "practice")
    locality = orgs.filter(pl.col("kind") == "locality")["org_id"].to_list()
    return compute.Orgs(
        neighbourhood_of=dict(zip(practices["org_id"], practices["parent_id"], strict=True)),
        locality_id=locality[0] if locality else "locality",
    )


def _snapshot(wh: Warehouse) -> dict:
    m = wh.manifest
    return {"snapshot": m.snapshot, "batch": m.batch, "committed_at": m.committed_at}


def _lookback(indicator: Indicator) -> int:
    """Months of history a period needs (12 for 'in the last 12 months')."""
    windows = [1]
    stack = [*indicator.denominator.where, *indicator.numerator.where]
    while stack:
        condition = stack.pop()
        stack.extend(condition.children)
        windows.append(condition.param("within_months", 1))
        windows.append(condition.param("older_than_months", 0) + 1)
    return max(windows)


def _reported(
    indicator: Indicator, frame: pl.DataFrame, period_set: months.Periods, found: inputs.Found
) -> pl.DataFrame:
    """Only the periods whose look-back lies within the data: a 12-month measure in the
    first month of data would count 1 month of care as if it were 12. App-recorded measures
    start when the app's records do."""
    start = period_set.data_start
    if "app_events" in indicator.requires:
        # The smallest date in Arrow: as a Python list, every event's date was built as an
        # object for each indicator (half of a run that reused every month, at 300k).
        first_event = pc.min(found.app_events["date"]).as_py()
        start = max(start, months.month_index(first_event))
    return frame.filter(pl.col("period") >= start + _lookback(indicator) - 1)


def _tables(
    library,
    cells: dict[str, pl.DataFrame],
    orgs: compute.Orgs,
    baseline_year: int | None,
    memo: disclosure.Memo | None = None,
) -> dict:
    weights = pl.from_arrow(compiler.esp2013())
    values, quintiles = [], []
    for indicator in library:
        if indicator.id not in cells or cells[indicator.id].height == 0:
            continue
        c = cells[indicator.id]
        values.append(levels.indicator_values(indicator, c, orgs, weights))
        quintiles.append(levels.inequalities(indicator, c, orgs, weights))
    values_df = pl.concat(values, how="vertical_relaxed")
    quintile_df = pl.concat(quintiles, how="vertical_relaxed")
    titles = {i.id: (i.title, i.direction) for i in library}
    outlier_df = outlier_report.outliers(values_df, titles)
    latest = values_df.filter(
        pl.col("level").is_in(["practice", "clinician"])
        & (pl.col("period_end") == pl.col("period_end").max().over("indicator_id"))
    )
    hood = orgs.frame()
    outcome_df = outcomes.outcomes(
        {k: v for k, v in cells.items() if k in outcomes.MEASURES.values()},
        hood,
        orgs.locality_id,
        baseline_year,
    )
    # Every published figure is derived from the rounded counts (disclosure.py, rule 3).
    public_values = disclosure.publish_values(
        values_df.filter(pl.col("publishable")), library, memo
    )
    public_quintiles = disclosure.publish_quintiles(quintile_df, library, public_values, memo)
    public = {
        "indicator_values": public_values,
        "inequalities": public_quintiles,
        "inequality_gaps": levels.gaps(public_quintiles),
        "outcomes": disclosure.publish_outcomes(
            outcome_df, outcomes.PER, outcomes.TARGET_REDUCTION
        ),
    }
    return {
        "indicator_values": values_df,
        "scorecard": latest,
        "outliers": outlier_df,
        "inequalities": quintile_df,
        "inequality_gaps": levels.gaps(quintile_df),
        "outcomes": outcome_df,
        "public": public,
        "baseline_year": outcome_df["baseline_year"][0] if outcome_df.height else None,
    }


def catalogue(library) -> list[dict]:
    """The definitions as the app shows them."""
    return [
        {
            "id": i.id,
            "version": i.version,
            "title": i.title,
            "description": i.description,
            "why_it_matters": i.why_it_matters,
            "type": i.type,
            "direction": i.direction,
            "multiplier": i.multiplier,
            "unit": i.unit,
            "tags": list(i.tags),
            "standard_population": i.standard_population,
            "author": i.author,
            "review_date": i.review_date.isoformat(),
            "source": i.source,
            "requires": list(i.requires),
            "targets": None
            if i.targets is None
            else {"reduction_pct": dict(i.targets.reduction_pct), "source": i.targets.source},
            "sha256": i.sha256,
        }
        for i in library
    ]


def _publish(
    out: Path,
    run_id: str,
    tables: dict,
    library,
    manifest: dict,
    raw: dict[str, pl.DataFrame],
    linked: dict[str, Path],
    found: inputs.Found,
    memo: disclosure.Memo,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stage = out / f".{run_id}.tmp"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "public").mkdir(parents=True)
    # What the next run reuses: every indicator's cells (unchanged ones hard-linked from the
    # previous run) and the app inputs read, to tell which of their rows change.
    (stage / reuse.CELLS_DIR).mkdir()
    for indicator_id, frame in raw.items():
        target = stage / reuse.CELLS_DIR / f"{indicator_id}.parquet"
        if indicator_id in linked:
            try:
                os.link(linked[indicator_id], target)
                continue
            except OSError:
                pass
        frame.write_parquet(target)
    (stage / reuse.DISCLOSURE_MEMO).write_text(json.dumps(memo.seen))
    (stage / reuse.INPUTS_DIR).mkdir()
    for name in reuse.APP_INPUTS:
        if (table := getattr(found, name)) is not None:
            pl.from_arrow(table).write_parquet(stage / reuse.INPUTS_DIR / f"{name}.parquet")
    for name, table in tables.items():
        if name == "public":
            for public_name, public_table in table.items():
                public_table.write_parquet(stage / "public" / f"{public_name}.parquet")
        else:
            table.write_parquet(stage / f"{name}.parquet")
    latest = tables["outliers"].filter(pl.col("latest"))
    latest.write_csv(stage / "outliers_latest.csv")
    (stage / "definitions.json").write_text(json.dumps(catalogue(library), indent=2))
    paths.run_manifest(stage).write_text(json.dumps(manifest, indent=2, default=str))
    final = out / run_id
    os.replace(stage, final)
    pointer = out / f".{LATEST}.tmp"
    pointer.write_text(
        json.dumps({"run_id": run_id, "created_at": manifest["created_at"]}, indent=2)
    )
    os.replace(pointer, out / LATEST)
    return final


def latest_run(out: Path) -> Path | None:
    """The directory of the newest published run under ``out``, or None."""
    pointer = Path(out) / LATEST
    if not pointer.exists():
        return None
    run_dir = Path(out) / json.loads(pointer.read_text())["run_id"]
    return run_dir if run_dir.exists() else None
