"""End to end (issue 16): the generator simulates a known effect, the evaluation finds it.

One 30,000-patient locality (five practices in two neighbourhoods) is generated with an
intervention at two practices, one starting three months after the other, halving the
emergency-admission hazard of a broad high-needs group; the evaluation then runs through
the engine as ``wraparound evaluate`` does. The many-seed calibration of the same estimator
is tests/unit/test_evaluation_calibration.py; with two treated practices the interval here
is wide (Student's t on one degree of freedom), so this test checks the generator's truth,
the oracle, the published report and that the point estimate lands near the truth.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from wraparound import interventions
from wraparound.analytics.evaluation_panel import cohort
from wraparound.analytics.evaluation_run import evaluate, read_report
from wraparound.sources.synthetic.writer import write_synthetic
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("evaluation_e2e")]

CHANGE = -0.5
TOML = f"""
id = "test_halving"
version = "1"
name = "Test: admissions halved"
[where]
practices = ["P90001", "P90004"]
[when]
start = "2025-04-01"
rollout = [{{ code = "P90004", start = "2025-07-01" }}]
[group]
efi_category = ["moderate", "severe"]
register = ["palliative_care", "heart_failure", "copd", "dementia"]
[logic_model]
inputs = ["x"]
activities = ["y"]
outputs = ["z"]
[[logic_model.outcome]]
id = "fewer_admissions"
measures = ["emergency_admissions"]
[simulation]
admission_hazard_change = {CHANGE}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluation")
    toml = root / "test_halving.toml"
    toml.write_text(TOML)
    iv = interventions.load(toml)
    out = root / "warehouse"
    summary = write_synthetic(out, patients=30_000, seed=7, progress=False, intervention=iv)
    report = evaluate(out, iv, progress=False)
    return out, iv, summary, report


def test_the_oracle_holds_what_was_prevented(world):
    out, _, summary, _ = world
    prevented = pl.read_parquet(paths.oracle_intervention(out))
    assert prevented.height == summary["intervention"]["prevented_admissions"] > 50
    assert set(prevented["practice_id"]) <= {"P90001", "P90004"}
    starts = {"P90001": "2025-04-01", "P90004": "2025-07-01"}
    for row in prevented.iter_rows(named=True):
        assert row["date"].isoformat() >= starts[row["practice_id"]]
    stated = json.loads(paths.oracle_intervention_summary(out).read_text())
    assert stated["admission_hazard_change"] == CHANGE


def test_the_simulated_change_is_the_stated_one(world):
    """Among the group's admissions at treated practices after their start, the share
    prevented is the stated change (binomial tolerance: 4 standard errors)."""
    out, iv, _, _ = world
    prevented = pl.read_parquet(paths.oracle_intervention(out))
    with connect(out) as engine:
        members = pl.from_arrow(engine.to_arrow(cohort(engine, iv).select("patient_id")))
    panel = pl.read_parquet(paths.evaluation(out, iv.id) / "panel.parquet")
    post = panel.filter(pl.col("period") >= pl.col("first_treated"))
    kept = post["emergency_admissions"].sum()
    lost = prevented.join(members, on="patient_id").height
    share = lost / (kept + lost)
    se = (0.25 / (kept + lost)) ** 0.5
    assert abs(share + CHANGE) < 4 * se + 0.03, (share, kept, lost)


def test_the_evaluation_recovers_the_effect(world):
    out, iv, _, report = world
    did = report["outcomes"]["emergency_admissions"]["did"]
    assert did["relative_lower"] <= CHANGE <= did["relative_upper"]
    assert abs(did["relative"] - CHANGE) < 0.2, did["relative"]
    assert did["treated_practices"] == 2 and did["comparison_practices"] == 3
    assert read_report(out, iv.id)["intervention"]["id"] == "test_halving"
    balance = {b["characteristic"] for b in report["balance"]}
    assert {"list_size", "group_size", "pre_emergency_admissions_rate"} <= balance
    assert "relative" in report["outcomes"]["emergency_admissions"]["its"]
    assert "relative" in report["outcomes"]["emergency_admissions"]["placebo"]
