"""Load the newest local QOF run (``DIR/results/local_qof/latest.json``) into the app.

Called by ``wraparound app refresh``. A run already loaded is not loaded again; a new one is
loaded whole in one transaction and only then made current, and earlier runs' rows are
deleted (their files stay on disk). The action lists arrive as pseudonyms and are resolved
here to the app's patients (for the practices' direct care); a pseudonym with no patient in
the app (no identity) is left out and counted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
from django.db import transaction

from wraparound.analytics import results
from wraparound.apps.commissioning.models import ActionItem, LocalQofRun, LocalQofValue
from wraparound.apps.records import lookup
from wraparound.apps.records.models import Organisation
from wraparound.warehouse import paths

KIND = "local_qof"
BATCH = 2000
_FIELDS = [
    f.name
    for f in LocalQofValue._meta.concrete_fields
    if f.name not in ("id", "run", "latest", "final") and not f.name.startswith("projected")
]


def _clean(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def load_latest_local_qof(warehouse_dir: Path) -> str | None:
    run_dir = results.latest_run(Path(warehouse_dir), KIND)
    if run_dir is None:
        return None
    if LocalQofRun.objects.filter(run_id=run_dir.name).exists():
        return run_dir.name
    manifest = json.loads(paths.run_manifest(run_dir).read_text())
    monthly = pl.read_parquet(run_dir / "monthly.parquet")
    year = pl.read_parquet(run_dir / "year.parquet")
    missing = pl.read_parquet(run_dir / "missing.parquet")
    last = int(year["period"].max()) if year.height else int(monthly["period"].max())
    projected = {(r["practice_id"], r["code"]): r for r in year.iter_rows(named=True)}
    with transaction.atomic():
        s = manifest["scheme"]
        run = LocalQofRun.objects.create(
            run_id=run_dir.name,
            scheme_id=s["id"],
            scheme_version=s["version"],
            scheme_year=s["year"],
            scheme_title=s["title"],
            scheme_sha256=s["sha256"],
            period_first=int(monthly["period"].min()),
            period_last=last,
            final=manifest["periods"]["final"],
            manifest=manifest,
        )

        def values():
            for r in monthly.select(_FIELDS).iter_rows(named=True):
                extra = {}
                if r["period"] == last:
                    y = projected[(r["practice_id"], r["code"])]
                    extra = {
                        "latest": True,
                        "final": y["final"],
                        "projected_achievement": _clean(y["projected_achievement"]),
                        "projected_points": _clean(y["projected_points"]),
                        "projected_payment": _clean(y["projected_payment"]),
                    }
                yield LocalQofValue(run=run, **{k: _clean(v) for k, v in r.items()}, **extra)

        LocalQofValue.objects.bulk_create(values(), batch_size=BATCH)
        practices = set(Organisation.objects.values_list("org_id", flat=True))
        ids = lookup.by_pseudonym(missing["patient_id"].unique())
        ActionItem.objects.bulk_create(
            (
                ActionItem(
                    run=run,
                    practice_id=r["practice_id"],
                    code=r["code"],
                    patient_id=ids[r["patient_id"]],
                    action=r["action"],
                )
                for r in missing.iter_rows(named=True)
                if r["patient_id"] in ids and r["practice_id"] in practices
            ),
            batch_size=BATCH,
        )
        LocalQofRun.objects.exclude(pk=run.pk).delete()
        run.current = True
        run.save(update_fields=["current"])
    return run.run_id
