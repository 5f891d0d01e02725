"""The evaluation recovers a known effect (issue 16): on panels with a true effect the 95%
interval holds it, and on panels with none the effect is rarely called significant.

The panels are generated here, at the level the evaluation's statistics work on (a practice
by month panel of event counts and exposure; ``analytics/evaluation.py``), so many seeds
are cheap: practices of different sizes and baseline rates, a shared seasonal cycle and
trend, overdispersed counts (a Gamma-Poisson mixture per practice and month), and a
staggered start. The end-to-end test (tests/integration/test_evaluation_end_to_end.py)
shows the same estimate recovering the generator's simulated effect through the engine.

Honest numbers: ``RUNS`` seeds each. The true effect must lie in the 95% interval in at
least 90% of them; with 20 runs, passing (18 or more covered) rules out a true coverage
under about 72% (one-sided 95% Clopper-Pearson bound), so the test is a check for gross
miscalibration, not a proof of 95%. A zero effect may be significant in at most 2 of the
runs (10%; at a true 5% rate, 3 or more happen with probability 0.08). The seeds are fixed,
so the outcome is the same on every run of the suite. Measured on 40 seeds of the 36-month
version: 39/40 covered, 0/40 null runs significant (the t interval on few practices is, if
anything, conservative).
"""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_panels import simulate_panel

from wraparound.analytics import evaluation

RUNS = 20
OUTCOME = "emergency_admissions"


@pytest.fixture(scope="module")
def runs():
    out = {"effect": [], "null": []}
    for seed in range(RUNS):
        out["effect"].append(
            evaluation.did(simulate_panel(seed, -0.15), OUTCOME, event_study=False)
        )
        out["null"].append(
            evaluation.did(simulate_panel(1000 + seed, 0.0), OUTCOME, event_study=False)
        )
    return out


def test_true_effect_inside_the_95_interval_in_at_least_90_percent_of_runs(runs):
    covered = sum(r["relative_lower"] <= -0.15 <= r["relative_upper"] for r in runs["effect"])
    assert covered >= 0.9 * RUNS, f"{covered}/{RUNS} intervals held the true -15%"
    # And the estimates centre on the truth, not merely wide intervals: the mean of 20
    # estimates, each with a standard error near 0.06, within 0.05 (about 3.5 standard
    # errors of the mean).
    mean = float(np.mean([r["relative"] for r in runs["effect"]]))
    assert abs(mean + 0.15) < 0.05, mean


def test_zero_effect_rarely_significant(runs):
    false = sum(r["significant"] for r in runs["null"])
    assert false <= 2, f"{false}/{RUNS} null runs significant"


def test_an_indicator_series_is_evaluated_as_its_own_panel():
    """A published indicator's practice rows (numerator over denominator, monthly) become the
    same panel the evaluation builds from encounters, and give the same estimate."""
    import datetime as dt

    import polars as pl

    from wraparound.analytics.evaluation_run import indicator_panel

    panel = simulate_panel(5, -0.15)
    values = panel.select(
        pl.lit("x").alias("indicator_id"),
        pl.col("month").dt.strftime("%Y-%m").alias("period"),
        pl.lit("practice").alias("level"),
        pl.col("practice_id").alias("org_id"),
        pl.lit("all").alias("subgroup"),
        pl.col(OUTCOME).alias("numerator"),
        pl.col("exposure").alias("denominator"),
    )
    practices = panel.group_by("practice_id").agg(pl.col("first_treated").first())
    rebuilt = indicator_panel(values, "x", practices, dt.date(2023, 4, 1))
    assert rebuilt.height == panel.height
    again = evaluation.did(rebuilt, "x", event_study=False)
    direct = evaluation.did(panel, OUTCOME, event_study=False)
    assert again["att"] == pytest.approx(direct["att"])
    assert indicator_panel(values, "missing", practices, dt.date(2023, 4, 1)) is None
