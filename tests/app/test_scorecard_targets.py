"""A plan's targets on the practice scorecard: ``outpatient_follow_up_ratio`` holds the seed
plan's reductions in follow-ups per first attendance by specialty (issue 14: ophthalmology
12%, rheumatology 12%, urology 10%, ENT 6%), and its specialty table shows, for each
specialty with a target, the practice's ratio over the baseline financial year, the target
(baseline less the reduction), the 12 months to the latest month and whether they meet it;
worked out here from the run's own monthly counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from django.urls import reverse
from scorecard_world import csv_rows, html_table

from wraparound.analytics import results
from wraparound.analytics.indicators import definition
from wraparound.analytics.indicators.run import run as run_indicators
from wraparound.apps.records.models import User
from wraparound.apps.scorecard import load

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

INDICATOR = "outpatient_follow_up_ratio"
TARGETS = {"130": 12.0, "410": 12.0, "101": 10.0, "120": 6.0}


@pytest.fixture(scope="module")
def targets_warehouse(small_warehouse, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("targets") / "warehouse"
    shutil.copytree(small_warehouse, root, ignore=shutil.ignore_patterns("results"))
    # The ratio, and A&E attendances for the run's baseline financial year (outcomes).
    wanted = {INDICATOR, "ae_attendances_rate"}
    run_indicators(root, library=tuple(i for i in definition.load() if i.id in wanted))
    return root


@pytest.fixture
def run_dir(targets_warehouse, django_db_setup) -> Path:
    run_dir = results.latest_run(targets_warehouse, "indicators")
    load.load_run(run_dir)
    return run_dir


def _months(first: int, count: int) -> list[str]:
    return [f"{(first + i) // 12:04d}-{(first + i) % 12 + 1:02d}" for i in range(count)]


def test_the_targets_are_data_in_the_definition(run_dir):
    (ratio,) = [i for i in definition.load() if i.id == INDICATOR]
    assert dict(ratio.targets.reduction_pct) == TARGETS
    assert "Dudley" in ratio.targets.source
    catalogue = {d["id"]: d for d in json.loads((run_dir / "definitions.json").read_text())}
    assert catalogue[INDICATOR]["targets"]["reduction_pct"] == {k: v for k, v in TARGETS.items()}


def test_specialty_table_shows_baseline_target_and_last_12_months(login, run_dir):
    ods = User.objects.get(username="gp").scope_org_id
    response = login("gp").get(reverse("scorecard_practice", args=[ods]))
    assert response.status_code == 200
    table = html_table(response, f"specialty-{INDICATOR}")
    assert table[0][-5:] == [
        "Planned reduction (%)",
        "Baseline year value",
        "Target",
        "Last 12 months",
        "Meets target",
    ]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    year = int(manifest["baseline_year"][:4])
    values = pl.read_parquet(run_dir / "indicator_values.parquet").filter(
        (pl.col("indicator_id") == INDICATOR)
        & (pl.col("level") == "practice")
        & (pl.col("org_id") == ods)
    )
    latest = values["period"].max()
    last_index = int(latest[:4]) * 12 + int(latest[5:7]) - 1

    def ratio(code: str, months: list[str]) -> float:
        rows = values.filter((pl.col("subgroup") == code) & pl.col("period").is_in(months))
        return rows["numerator"].sum() / rows["denominator"].sum()

    shown = {row[0]: row for row in table[1:]}
    for code, reduction in TARGETS.items():
        row = next(v for k, v in shown.items() if k.endswith(f"({code})"))
        baseline = ratio(code, _months(year * 12 + 3, 12))  # April to March
        last = ratio(code, _months(last_index - 11, 12))
        target = baseline * (1 - reduction / 100)
        assert row[-5:] == [
            f"{reduction:.0f}",
            f"{baseline:.2f}",
            f"{target:.2f}",
            f"{last:.2f}",
            "yes" if last <= target else "no",
        ], code
        # A ratio is shown to two decimal places.
        month = values.filter((pl.col("subgroup") == code) & (pl.col("period") == latest))
        value = month["value"][0]
        assert row[4] == ("" if value is None else f"{value:.2f}")
    # A specialty without a target leaves the target columns blank.
    orthopaedics = next(v for k, v in shown.items() if k.endswith("(110)"))
    assert orthopaedics[-5:] == ["", "", "", "", ""]
    # The CSV is the table, cell for cell.
    csv = login("gp").get(reverse("scorecard_specialties_csv", args=[ods, INDICATOR]))
    assert csv_rows(csv) == table
