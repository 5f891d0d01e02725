"""``wraparound local-qof``: a scheme's achievement and payment for every practice, published
as a run under ``DIR/results/local_qof/<run_id>/`` (built aside, renamed into place whole, then
``latest.json``), the way every run is (``analytics/results.py``).

Files: ``monthly.parquet`` (practice x line x month), ``year.parquet`` (the latest month with
the projection: the claims), ``claims.csv`` (``claims.COLUMNS``), ``missing.parquet`` (the
patients who would still count, by pseudonym: for the practices' direct care through the app,
never published) and ``manifest.json`` (the scheme's id, version and SHA-256, the months, the
inputs, the counts and timings).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import polars as pl

from wraparound.analytics import results
from wraparound.analytics.indicators import compile as compiler
from wraparound.analytics.indicators import inputs as optional
from wraparound.analytics.indicators import periods as months
from wraparound.analytics.local_qof import achievement, claims
from wraparound.analytics.local_qof import scheme as schemes
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

KIND = "local_qof"


def _data_window(engine) -> tuple[dt.date, dt.date]:
    enc = engine.table("encounters")
    row = engine.to_arrow(enc.aggregate(first=enc.start.min(), last=enc.start.max()))
    first, last = row.column("first")[0], row.column("last")[0]
    if not last.is_valid:
        raise ValueError("the warehouse has no encounters: no month to report")
    return first.as_py().date(), last.as_py().date()


def _gp_roles(engine) -> dict[str, float]:
    """GP whole-time equivalents per practice (practitioner roles with role ``gp``; a role
    without an FTE counts as 1.0): the early warning's patients-per-GP signal."""
    roles = engine.table("practitioner_roles")
    gp = roles.filter(roles.role == "gp")
    gp = gp.group_by("org_id").agg(n=gp.fte.fill_null(1.0).sum())
    table = engine.to_arrow(gp)
    return {
        org: float(n)
        for org, n in zip(table["org_id"].to_pylist(), table["n"].to_pylist(), strict=True)
        if org is not None
    }


def run(
    warehouse: Path,
    scheme_id: str | None = None,
    as_of: dt.date | None = None,
    scheme: schemes.Scheme | None = None,
) -> dict:
    """Compute and publish ``scheme`` (default: the newest version of ``scheme_id``, or the
    only scheme); ``as_of`` stops the year at that month's end (a year in progress)."""
    warehouse = Path(warehouse)
    wh = Warehouse(warehouse)
    if not wh.exists():
        raise ValueError(f"{warehouse} is not a warehouse (no manifest.json)")
    plan = scheme or schemes.current(scheme_id)
    found = optional.read(warehouse)
    started = time.perf_counter()
    with connect(wh) as engine:
        first_day, last_day = _data_window(engine)
        if as_of is not None:
            last_day = min(last_day, months.month_end(months.month_index(as_of)))
        orgs = engine.table("organisations")
        practices = engine.to_arrow(orgs.filter(orgs.kind == "practice").select("org_id"))
        # No app events yet is nothing recorded: those lines count no one as met.
        events = found.app_events or optional.APP_EVENT_SCHEMA.empty_table()
        inputs = compiler.Inputs(
            app_events=engine.memtable(events),
            risk=engine.memtable(found.risk) if found.risk else None,
            app_appointments=engine.memtable(found.app_appointments)
            if found.app_appointments
            else None,
        )
        waiting = sorted(
            {
                f"{line.code}: {need}"
                for line in plan.lines
                for need in line.indicator.requires
                if getattr(found, need) is None and need != "app_events"
            }
        )
        if waiting:
            raise ValueError(
                f"scheme {plan.id} v{plan.version} awaits data ({'; '.join(waiting)}): run "
                "stratify first"
            )
        result = achievement.compute(
            engine,
            plan,
            inputs,
            first_day,
            last_day,
            practices=practices["org_id"].to_pylist(),
        )
        gps = _gp_roles(engine)
    seconds = time.perf_counter() - started
    run_id = results.new_run_id()
    stage = results.staging(warehouse, KIND, run_id)
    result.monthly.write_parquet(stage / "monthly.parquet")
    result.year.write_parquet(stage / "year.parquet")
    result.missing.write_parquet(stage / "missing.parquet")
    table = claims.rows(result.year, plan.id, plan.version, plan.label)
    (stage / "claims.csv").write_text(claims.to_csv(table), encoding="utf-8")
    manifest = {
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "warehouse": {"path": str(warehouse.resolve()), "snapshot": wh.manifest.snapshot},
        "scheme": {
            "id": plan.id,
            "version": plan.version,
            "year": plan.label,
            "sha256": plan.sha256,
            "title": plan.title,
        },
        "periods": {
            "first": months.label(result.first_period),
            "last": months.label(result.last_period),
            "final": bool(result.year["final"].any()) if result.year.height else False,
        },
        "inputs": found.described,
        "no_app_events": found.app_events is None,
        "row_counts": {
            "monthly": result.monthly.height,
            "claims": result.year.height,
            "missing": result.missing.height,
        },
        "totals": {
            "payment_gbp": round(float(result.year["payment"].sum()), 2),
            "projected_payment_gbp": round(
                float(result.year["projected_payment"].fill_null(0.0).sum()), 2
            ),
        },
        "gp_fte": gps,
        "timings": {"compute_s": round(seconds, 2), **result.timings},
    }
    paths.run_manifest(stage).write_text(json.dumps(manifest, indent=2, default=str))
    results.publish(warehouse, KIND, run_id, {"created_at": manifest["created_at"]})
    return manifest


def latest(warehouse: Path) -> Path | None:
    return results.latest_run(Path(warehouse), KIND)


def read_year(run_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "year.parquet")
