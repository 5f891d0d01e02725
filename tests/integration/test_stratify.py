"""``wraparound stratify`` end to end on a small synthetic locality: the published files, the
JSON keys, opted-out handling, reproducibility and register changes between refreshes."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

from wraparound.analytics import results, stratify
from wraparound.analytics.risk import config as risk_config
from wraparound.analytics.risk.metrics import top_k
from wraparound.analytics.stratify import run
from wraparound.cli import app
from wraparound.warehouse.engine import connect

REQUIRED = (
    "auroc",
    "auprc",
    "brier",
    "calibration_slope",
    "calibration_intercept",
    "ppv_top",
    "sensitivity_top",
    "baselines",
    "subgroups",
    "oracle_auroc",
)


@pytest.fixture(scope="module")
def warehouse(small_warehouse, tmp_path_factory):
    root = tmp_path_factory.mktemp("stratify") / "wh"
    shutil.copytree(small_warehouse, root)
    return root


@pytest.fixture(scope="module")
def first(warehouse):
    result = CliRunner().invoke(app, ["stratify", "--warehouse", str(warehouse), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_has_the_required_keys(first):
    for key in REQUIRED:
        assert key in first, key
    for key in ("ppv_top", "sensitivity_top"):
        assert set(first[key]) == {"0.5", "1", "2", "5"}
    assert set(first["baselines"]) == {
        "age_sex",
        "prior_emergency_admissions",
        "logistic_regression",
    }
    assert set(first["subgroups"]) == {"sex", "age_band", "imd_quintile", "ethnic_group"}
    assert 0.5 < first["oracle_auroc"] < 1
    assert first["index_dates"] == {
        "training": "2024-04-01",
        "validation": "2025-04-01",
        "current": "2026-04-01",
    }


def test_results_are_published_with_the_model_version(warehouse, first):
    run_dir = results.latest_run(warehouse, "risk")
    assert run_dir.name == first["run_id"]
    for name in (
        "scores.parquet",
        "registers.parquet",
        "register_changes.parquet",
        "metrics.json",
        "model.txt",
        "model.json",
        "model_card.md",
        "calibration.png",
        "roc.png",
    ):
        assert (run_dir / name).stat().st_size > 0, name
    record = json.loads((run_dir / "model.json").read_text())
    for key in (
        "training",
        "data_snapshot",
        "features",
        "parameters",
        "seed",
        "metrics",
        "code_version",
        "model_version",
    ):
        assert key in record
    scores = pl.read_parquet(run_dir / "scores.parquet")
    assert set(scores["model_version"]) == {first["model_version"]}
    assert scores["score"].is_between(0, 1).all()
    card = (run_dir / "model_card.md").read_text()
    for heading in ("Intended use", "Data", "Performance", "by group", "Limitations"):
        assert heading in card


def test_opted_out_patients_are_scored_but_not_trained_on_or_counted(warehouse, first):
    run_dir = results.latest_run(warehouse, "risk")
    scores = pl.read_parquet(run_dir / "scores.parquet")
    opted = scores.filter(pl.col("opted_out"))
    assert opted.height > 0 and opted["score"].is_not_null().all()
    assert sum(first["streams"].values()) == scores.height - opted.height
    with connect(warehouse) as engine:
        dates = stratify.index_dates(engine)
        training = stratify.labelled(engine, dates.training)
        validation = stratify.labelled(engine, dates.validation)
    record = json.loads((run_dir / "model.json").read_text())
    assert (
        record["validated_model"]["training"]["rows"]
        == training.filter(~pl.col("opted_out")).height
    )
    assert first["n"] == validation.filter(~pl.col("opted_out")).height


def test_a_second_refresh_reproduces_scores_and_records_register_changes(warehouse, first):
    first_dir = results.latest_run(warehouse, "risk")
    second = run(warehouse)
    second_dir = results.latest_run(warehouse, "risk")
    assert second_dir.name == second["run_id"] != first["run_id"]
    a = pl.read_parquet(first_dir / "scores.parquet")
    b = pl.read_parquet(second_dir / "scores.parquet")
    assert a.select("patient_id", "score", "reasons").equals(
        b.select("patient_id", "score", "reasons")
    )
    assert second["model_version"] == first["model_version"]
    changes = pl.read_parquet(second_dir / "register_changes.parquet")
    assert set(changes["change"]) == {"stayed"}
    pointer = json.loads((warehouse / "results" / "risk" / "latest.json").read_text())
    assert pointer["previous_run_id"] == first["run_id"]


def test_reasons_are_given_where_they_are_read_and_only_there(warehouse, first):
    run_dir = results.latest_run(warehouse, "risk")
    scores = pl.read_parquet(run_dir / "scores.parquet")
    regs = pl.read_parquet(run_dir / "registers.parquet")
    cfg = risk_config.load()
    on_register = scores["patient_id"].is_in(regs["patient_id"].unique().implode())
    read = (
        on_register
        | scores["stream"].is_in(list(cfg.reasons.streams))
        | (scores["rank"] <= top_k(scores.height, cfg.reasons.top_percent))
    )
    explained = scores["reasons"].is_not_null()
    assert 0 < explained.sum() < scores.height
    assert (explained == read).all()
    assert regs["reasons"].is_not_null().all()
    assert regs["reasons"].list.len().sum() > 0
    assert first["reasons"]["patients"] == explained.sum()
    record = json.loads((run_dir / "model.json").read_text())
    assert record["risk_config_version"] == cfg.version
    assert record["training"]["max_trees"] == cfg.model.max_trees
    assert first["trees"]["deployed"] == record["best_iteration"] <= cfg.model.max_trees
