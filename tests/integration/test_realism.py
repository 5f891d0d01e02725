"""A 100k-patient synthetic locality looks like England (the figures in DESIGN.md)."""

from __future__ import annotations

import pytest

from wraparound import clinical
from wraparound.analytics.summary import summarise
from wraparound.sources.synthetic.writer import write_synthetic

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("realism")]


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    out = tmp_path_factory.mktemp("realism") / "warehouse"
    write_synthetic(out, patients=100_000, seed=2026, progress=False)
    return summarise(out)


@pytest.mark.parametrize("register", clinical.registers(), ids=lambda r: r.register_id)
def test_prevalence_within_10_percent_of_england(summary, register):
    """Every register, not only the checked ones: the local QOF's prevalence adjustment pays
    on register sizes (issue 16)."""
    got = summary["registers"][register.register_id]["prevalence_pct"]
    assert abs(got / register.prevalence_pct - 1) <= 0.10, (
        f"{register.register_id}: {got:.2f}% vs England {register.prevalence_pct}%"
    )


def test_emergency_admission_rates_like_england(summary):
    rates = summary["emergency_admissions_per_1000"]
    assert 95 <= rates["overall"] <= 120
    assert rates["by_age"]["85+"] > 400
    assert rates["by_age"]["85+"] > rates["by_age"]["75-84"] > rates["by_age"]["65-74"]
    assert rates["by_age"]["65-74"] > rates["by_age"]["18-64"]
    assert 0.4 <= summary["emergency_admissions_share_65_plus"] <= 0.6


def test_other_hospital_use_in_plausible_ranges(summary):
    assert 250 <= summary["ae_attendances_per_1000"] <= 500
    # England: about 1.5 to 2 outpatient follow-ups per first attendance (issue 14).
    assert 1.3 <= summary["outpatient_follow_ups_per_first"] <= 2.3
    assert 3 <= summary["gp_appointments_per_person_year"] <= 7
    assert summary["practices"] >= 5 and summary["neighbourhoods"] >= 2
