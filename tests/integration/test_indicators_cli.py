"""``wraparound indicators`` end to end on the small synthetic locality, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

BIN = Path(sys.executable).parent / "wraparound"


def test_indicators_command(small_warehouse, tmp_path):
    out = tmp_path / "indicators"
    proc = subprocess.run(
        [str(BIN), "indicators", "--warehouse", str(small_warehouse), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "indicators computed" in proc.stdout and "Awaiting data:" in proc.stdout
    run_dir = out / json.loads((out / "latest.json").read_text())["run_id"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    values = pl.read_parquet(run_dir / "indicator_values.parquet")
    computed = {d["id"] for d in manifest["definitions"] if d["status"] == "computed"}
    assert computed == set(values["indicator_id"].unique())
    assert len(computed) >= 14
    # Every practice appears, 36 months of rates, statuses only from the limits.
    practices = values.filter(pl.col("level") == "practice")
    assert (
        practices.filter(pl.col("indicator_id") == "ae_attendances_rate")["period"].n_unique() == 36
    )
    flagged = practices.filter(pl.col("funnel_status") == "high")
    assert (flagged["value"] > flagged["funnel_upper998"]).all()
    outcomes = pl.read_parquet(run_dir / "outcomes.parquet")
    assert set(outcomes["measure"]) == {"emergency_admissions", "ae_attendances", "excess_bed_days"}
    for name in manifest["publishable"]:
        public = pl.read_parquet(run_dir / name)
        # Gaps are derived from the disclosure-controlled quintile rows; the rest carry counts.
        assert name.endswith("inequality_gaps.parquet") or "suppressed" in public.columns
    # A suppressed row gives nothing away: not its value, and not the funnel limits, which
    # are computed at the practice's own denominator.
    published = pl.read_parquet(run_dir / "public" / "indicator_values.parquet")
    hidden = published.filter(pl.col("suppressed"))
    assert hidden.height > 0
    for column in (
        "value",
        "numerator",
        "denominator",
        "funnel_lower998",
        "funnel_upper998",
        "funnel_lower95",
        "funnel_upper95",
        "decile",
    ):
        assert hidden[column].null_count() == hidden.height, column


def test_indicators_command_rejects_a_missing_warehouse(tmp_path):
    proc = subprocess.run(
        [str(BIN), "indicators", "--warehouse", str(tmp_path / "none")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "not a warehouse" in proc.stderr
