"""The cost-curve benchmark measures what it says: every stage runs for real, each gets its
own time and peak, results merge by (stage, engine, size), and the plot is drawn. One small
size on DuckDB (Spark's side runs the same code with other settings); figures are not
asserted, only that they are there and make sense."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"

pytestmark = pytest.mark.slow


@pytest.fixture
def bench(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(
        "bench_cost_curves", BENCHMARKS / "bench_cost_curves.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = tmp_path / "results"
    monkeypatch.setattr(module, "RESULTS", results)
    monkeypatch.setattr(sys.modules["_measure"], "RESULTS", results)
    return module, results


def _run(module, monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["bench_cost_curves.py", *argv])
    module.main()


def test_every_stage_is_measured_and_plotted(bench, tmp_path, monkeypatch, capsys):
    module, results = bench
    workdir = tmp_path / "work"
    stages = ["synthesis", "ingest", "features", "training", "scoring", "indicators"]
    _run(
        module,
        monkeypatch,
        "--patients",
        "3000",
        "--engines",
        "duckdb",
        "--workdir",
        str(workdir),
        "--stages",
        *stages,
    )
    payload = json.loads((results / "cost_curves.json").read_text())
    rows = {(r["stage"], r["engine"]): r for r in payload["rows"]}
    assert set(rows) == {("synthesis", "none"), ("ingest", "none")} | {
        (s, "duckdb") for s in stages[2:]
    }
    assert rows[("ingest", "none")]["resources"] > 3000
    for row in rows.values():
        assert row["status"] == "ok" and row["patients"] == 3000
        assert row["seconds"] > 0 and row["peak_rss_mib"] > 50
    stratify_total = rows[("features", "duckdb")]["process_seconds"]
    phases = sum(rows[(s, "duckdb")]["seconds"] for s in ("features", "training", "scoring"))
    assert phases <= stratify_total
    assert rows[("indicators", "duckdb")]["computed"] > 10
    assert (results / "cost_curves.png").stat().st_size > 10_000
    assert "features     duckdb" in capsys.readouterr().out

    # A second run finds everything recorded and measures nothing again.
    before = (results / "cost_curves.json").read_text()
    _run(
        module,
        monkeypatch,
        "--patients",
        "3000",
        "--engines",
        "duckdb",
        "--workdir",
        str(workdir),
        "--stages",
        *stages,
    )
    after = json.loads((results / "cost_curves.json").read_text())
    assert [r["measured_at"] for r in after["rows"]] == [
        r["measured_at"] for r in json.loads(before)["rows"]
    ]


def test_growth_is_the_log_log_slope(bench):
    module, _ = bench
    rows = [
        {
            "stage": "features",
            "engine": "duckdb",
            "status": "ok",
            "patients": n,
            "seconds": n / 1000 * 2,
            "peak_rss_mib": 100.0,
        }
        for n in (100_000, 300_000, 1_000_000)
    ]
    growth = module.growth(rows)["features/duckdb"]
    assert growth["time_exponent"] == pytest.approx(1.0)
    assert growth["memory_exponent"] == pytest.approx(0.0)


def test_a_duckdb_run_under_another_limit_is_recorded_beside_the_default(bench):
    module, _ = bench
    args = module.argparse.Namespace(duckdb_memory_limit="2GB")
    assert module.label("duckdb", args) == "duckdb@2GB"
    assert module.label("spark", args) == "spark"
    args.duckdb_memory_limit = module.DEFAULT_DUCKDB_LIMIT
    assert module.label("duckdb", args) == "duckdb"
