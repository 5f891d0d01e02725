"""Load the newest stratification run (``DIR/results/risk/latest.json``) into the app.

Only patients on a register (``registers.parquet``: practice, neighbourhood and locality
registers, one row per patient per register) are copied, once each, with their score row
from ``scores.parquet``; ``register_changes.parquet`` marks who is new: entered some register
in this run and stayed on none. A run that is
already loaded is not loaded again, so a refresh after every ingest is cheap.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from django.db import transaction

from wraparound.analytics import results
from wraparound.apps.records import bulk, lookup
from wraparound.apps.records.models import Organisation
from wraparound.apps.registers.models import RegisterEntry, RegisterRun
from wraparound.vocabulary import SCORE_COLUMNS
from wraparound.warehouse import paths

BATCH = 5000
SCORED = tuple(c for c in SCORE_COLUMNS if c not in ("index_date", "rank", "opted_out"))
"""The score columns a register entry keeps, in the vocabulary's order."""
ENTRY_FIELDS = ("run", "patient", "practice", "neighbourhood", *SCORED[3:], "is_new")


def _on_register(run_dir: Path, scores: pl.DataFrame) -> pl.DataFrame:
    path = run_dir / "registers.parquet"
    if not path.exists():
        return scores
    members = pl.read_parquet(path).select("patient_id").unique()
    return scores.join(members, on="patient_id", how="semi")


def _entered(run_dir: Path) -> set[str]:
    path = run_dir / "register_changes.parquet"
    if not path.exists():
        return set()
    changes = pl.read_parquet(path, columns=["patient_id", "change"])
    entered = set(changes.filter(pl.col("change") == "entered")["patient_id"].to_list())
    stayed = set(changes.filter(pl.col("change") == "stayed")["patient_id"].to_list())
    return entered - stayed


def load_latest_run(warehouse_dir: Path) -> RegisterRun | None:
    """Load the newest run if it is not loaded yet and make it current; return the current
    run (or None when nothing has been stratified)."""
    run_dir = results.latest_run(warehouse_dir, paths.RISK)
    if run_dir is None:
        return RegisterRun.objects.filter(current=True).first()
    existing = RegisterRun.objects.filter(run_id=run_dir.name).first()
    if existing is not None:
        if not existing.current:
            with transaction.atomic():
                RegisterRun.objects.update(current=False)
                RegisterRun.objects.filter(pk=existing.pk).update(current=True)
        return existing
    scores = _on_register(run_dir, pl.read_parquet(run_dir / "scores.parquet"))
    entered = _entered(run_dir)
    ids = lookup.by_pseudonym(scores["patient_id"])
    orgs = set(Organisation.objects.values_list("org_id", flat=True))
    card = run_dir / "model_card.md"
    first = scores.row(0, named=True) if scores.height else {}
    with transaction.atomic():
        run = RegisterRun.objects.create(
            run_id=run_dir.name,
            model_version=str(first.get("model_version", "")),
            index_date=first.get("index_date") or "1970-01-01",
            model_card=card.read_text() if card.exists() else "",
        )
        entered_list = pl.Series(sorted(entered), dtype=pl.String)
        frame = scores.filter(
            pl.col("patient_id").is_in(pl.Series(list(ids), dtype=pl.String).implode())
            & pl.col("practice_id").is_in(pl.Series(sorted(orgs), dtype=pl.String).implode())
            & pl.col("neighbourhood_id").is_in(pl.Series(sorted(orgs), dtype=pl.String).implode())
        ).with_columns(
            is_new=pl.col("patient_id").is_in(entered_list.implode()),
            efi_category=pl.col("efi_category").fill_null(""),
        )
        bulk.upsert(
            RegisterEntry,
            ENTRY_FIELDS,
            (
                (run.pk, ids[r[0]], *r[1:9], list(r[9] or []), list(r[10] or []), r[11])
                for r in frame.select(*SCORED, "is_new").iter_rows()
            ),
            key=["run", "patient"],
            update=(),
        )
        RegisterRun.objects.exclude(pk=run.pk).update(current=False)
        RegisterRun.objects.filter(pk=run.pk).update(current=True)
    run.refresh_from_db()
    return run
