"""The same analytics give the same answers on every engine (DuckDB and Spark in local mode),
over a whole synthetic locality: the cross-check of the hand-worked spec cases, which run on
every engine through the ``engine`` fixture (tests/engines.py) in the manner of ehrQL's spec
tests.

Each engine runs the pipeline once, over its own copy of the session's small synthetic
locality, selected only by ``WRAPAROUND_ENGINE``: the feature table, the eFI, and a whole
``stratify`` run (scores, streams, registers, register changes, metrics, model record) and
the whole indicator library (with an app-events export, so none is left awaiting data).
Then the results are compared: exactly for counts, integers, strings, dates and lists, and
to 1e-9 relative for floats. LightGBM is pinned to the same seed and thread count on both
runs, so identical feature tables must give identical models and scores; any difference in
a score therefore means a feature differed.

Spark starts once per test process (about 15 s), and every Spark query here shares it.
Spark reads its copy through ``WRAPAROUND_SPARK_WAREHOUSE_URL`` (a ``file://`` URL here), the
setting that points executors at a warehouse on object storage.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil

import polars as pl
import pytest
from engines import SPARK_GROUP, spark_local
from polars.testing import assert_frame_equal

from wraparound.analytics import frailty, results, stratify
from wraparound.analytics.indicators import definition
from wraparound.analytics.indicators.definition import APP_EVENT_KINDS
from wraparound.analytics.indicators.inputs import APP_EVENTS_DIR
from wraparound.analytics.indicators.run import run as run_indicators
from wraparound.analytics.population import registered_on
from wraparound.analytics.summary import summarise
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPARK_GROUP)]

ENGINES = ("duckdb", "spark")
SEED = 42
THREADS = 2
REL_TOL = 1e-9
RESULT_FILES = ("scores.parquet", "registers.parquet", "register_changes.parquet")
APP_EVENTS_EVERY = 7
"""Every seventh patient gets each kind of app event, so that the indicators built on what
the app records (named GP, care plans, reviews) compute on both engines too."""
VOLATILE = {"run_id", "timings", "phase_windows", "created_at"}
"""Keys that name or time a run, which differ between any two runs on any engine."""


@pytest.fixture
def env(monkeypatch):
    spark_local(monkeypatch)
    return monkeypatch


def _pipeline(warehouse) -> dict:
    """Everything compared, from the engine that ``WRAPAROUND_ENGINE`` selects. The feature
    table is the one ``stratify.run`` scores (its ``read_cohorts`` step, at the current
    index date), kept as it passes rather than computed a second time: on Spark each
    feature query costs seconds."""
    read = stratify.read_cohorts
    kept: list[stratify.Cohorts] = []

    def keep(*args, **kwargs):
        kept.append(read(*args, **kwargs))
        return kept[-1]

    with pytest.MonkeyPatch.context() as spy:
        spy.setattr(stratify, "read_cohorts", keep)
        metrics = stratify.run(warehouse, seed=SEED, threads=THREADS)
    (cohorts,) = kept
    with connect(warehouse) as engine:
        engine_name = engine.name
        as_of = cohorts.dates.training
        people = registered_on(engine, as_of).select("patient_id", "age")
        efi = pl.from_arrow(
            engine.to_arrow(frailty.efi(engine, people, as_of).order_by("patient_id"))
        )
    run_dir = results.latest_run(warehouse, stratify.KIND)
    manifest = run_indicators(warehouse)
    indicators = results.kind_dir(warehouse, "indicators") / manifest["run_id"]
    return {
        "indicator_values": pl.read_parquet(indicators / "indicator_values.parquet"),
        "engine": engine_name,
        "features": cohorts.current,
        "efi": efi,
        "metrics": metrics,
        "model": json.loads((run_dir / "model.json").read_text()),
        **{name: pl.read_parquet(run_dir / name) for name in RESULT_FILES},
    }


def _write_app_events(warehouse) -> None:
    """The same deterministic app export in each engine's copy: every kind, for every
    seventh patient, dated through the last two years of the data."""
    patients = pl.from_arrow(Warehouse(warehouse).read("patients", ["patient_id"]))
    chosen = patients["patient_id"].sort().gather_every(APP_EVENTS_EVERY)
    rows = [
        {"patient_id": pid, "kind": kind, "date": dt.date(2024, 1, 1) + dt.timedelta(days=i % 700)}
        for i, pid in enumerate(chosen)
        for kind in APP_EVENT_KINDS
    ]
    folder = warehouse / APP_EVENTS_DIR
    folder.mkdir()
    pl.DataFrame(rows).write_parquet(folder / "app_events.parquet")


@pytest.fixture(scope="module")
def runs(small_warehouse, tmp_path_factory):
    """The pipeline on each engine, over identical copies of the warehouse (a run publishes
    its results into the warehouse, so the engines must not share one)."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        spark_local(mp)
        for name in ENGINES:
            warehouse = tmp_path_factory.mktemp(f"parity_{name}") / "warehouse"
            shutil.copytree(small_warehouse, warehouse)
            _write_app_events(warehouse)
            mp.setenv("WRAPAROUND_ENGINE", name)
            # Spark reads the snapshot through a URL, as on object storage (s3a://), while
            # the driver follows the manifest through the local path.
            mp.setenv("WRAPAROUND_SPARK_WAREHOUSE_URL", warehouse.as_uri())
            out[name] = _pipeline(warehouse)
            assert out[name]["engine"] == name
    return out


def _same_frame(duckdb: pl.DataFrame, spark: pl.DataFrame) -> None:
    """Same columns, types and row order; exact but for floats (1e-9 relative)."""
    assert duckdb.schema == spark.schema
    assert_frame_equal(duckdb, spark, check_exact=False, rel_tol=REL_TOL, abs_tol=0.0)


def _same_value(duckdb, spark, where: str = "") -> None:
    """Nested JSON-like values: exact, but floats to 1e-9 relative (NaN equals NaN)."""
    if isinstance(duckdb, dict):
        assert isinstance(spark, dict), where
        keys = set(duckdb) - VOLATILE
        assert keys == set(spark) - VOLATILE, where
        for key in keys:
            _same_value(duckdb[key], spark[key], f"{where}.{key}")
    elif isinstance(duckdb, list | tuple):
        assert isinstance(spark, list | tuple) and len(duckdb) == len(spark), where
        for i, (a, b) in enumerate(zip(duckdb, spark, strict=True)):
            _same_value(a, b, f"{where}[{i}]")
    elif isinstance(duckdb, float) and not isinstance(spark, bool):
        assert isinstance(spark, float | int), where
        both_nan = math.isnan(duckdb) and math.isnan(spark)
        assert both_nan or math.isclose(duckdb, spark, rel_tol=REL_TOL, abs_tol=0.0), (
            f"{where}: {duckdb} != {spark}"
        )
    else:
        assert duckdb == spark, f"{where}: {duckdb!r} != {spark!r}"


def test_summary_identical_on_duckdb_and_spark(small_warehouse, env):
    env.setenv("WRAPAROUND_ENGINE", "duckdb")
    on_duckdb = summarise(small_warehouse)
    env.setenv("WRAPAROUND_ENGINE", "spark")
    on_spark = summarise(small_warehouse)
    assert on_spark == on_duckdb
    assert on_duckdb["emergency_admissions"] > 0


def test_feature_table_is_identical(runs):
    duckdb, spark = runs["duckdb"]["features"], runs["spark"]["features"]
    assert duckdb.height > 2000
    assert duckdb["emergency_admissions"].sum() > 0 and duckdb["efi"].is_not_null().any()
    _same_frame(duckdb, spark)


def test_efi_is_identical(runs):
    duckdb, spark = runs["duckdb"]["efi"], runs["spark"]["efi"]
    assert duckdb["efi_deficits"].sum() > 0
    _same_frame(duckdb, spark)


@pytest.mark.parametrize("name", RESULT_FILES)
def test_stratify_results_are_identical(runs, name):
    """Scores (with streams, bands, ranks, reasons), registers and register changes."""
    duckdb, spark = runs["duckdb"][name], runs["spark"][name]
    assert duckdb.height > 0
    _same_frame(duckdb, spark)


def test_indicator_values_are_identical(runs):
    """Indicator rows are not in a guaranteed order, so both are sorted by their keys."""
    duckdb, spark = runs["duckdb"]["indicator_values"], runs["spark"]["indicator_values"]
    library = definition.load()
    # The locality has the app's events but no hub appointments (those come from the access
    # app), no referral steps (the referrals app) and no FFT answers (the feedback app), so
    # only the indicators that need those are left awaiting data.
    app_only = {"app_appointments", "app_referrals", "app_feedback"}
    expected = {i.id for i in library if not app_only & set(i.requires)}
    assert len(expected) >= 21 and expected != {i.id for i in library}
    assert set(duckdb["indicator_id"]) == expected, "some did not compute"
    assert set(spark["indicator_id"]) == expected
    keys = [c for c, t in duckdb.schema.items() if not t.is_float()]
    _same_frame(duckdb.sort(keys, nulls_last=True), spark.sort(keys, nulls_last=True))


def test_stratify_metrics_and_model_are_identical(runs):
    duckdb, spark = runs["duckdb"], runs["spark"]
    assert duckdb["metrics"]["auroc"] > 0.5
    _same_value(duckdb["metrics"], spark["metrics"], "metrics")
    _same_value(duckdb["model"], spark["model"], "model")
    assert duckdb["model"]["model_version"] == spark["model"]["model_version"]


def test_unknown_engine_is_refused(small_warehouse, env):
    env.setenv("WRAPAROUND_ENGINE", "oracle")
    with pytest.raises(ValueError, match="unknown engine 'oracle'"):
        summarise(small_warehouse)
