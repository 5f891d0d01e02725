"""Metrics against known values: scikit-learn for discrimination, hand examples for the
top-x% figures, and simulated well-calibrated data for calibration."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from wraparound.analytics.risk import metrics


@pytest.fixture(scope="module")
def calibrated():
    rng = np.random.default_rng(3)
    p = rng.beta(1, 10, 50_000)
    y = (rng.random(p.size) < p).astype(np.int8)
    return y, p


def test_discrimination_and_brier_match_scikit_learn(calibrated):
    y, p = calibrated
    got = metrics.evaluate(y, p)
    assert got["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert got["auprc"] == pytest.approx(average_precision_score(y, p))
    assert got["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_calibration_of_true_probabilities_is_ideal(calibrated):
    y, p = calibrated
    got = metrics.calibration(y, p)
    assert got["calibration_slope"] == pytest.approx(1, abs=0.05)
    assert got["calibration_intercept"] == pytest.approx(0, abs=0.1)
    assert got["calibration_in_the_large"] == pytest.approx(0, abs=0.03)


def test_overconfident_predictions_have_a_slope_below_one(calibrated):
    y, p = calibrated
    lp = metrics.logit(p)
    too_extreme = metrics.sigmoid(lp * 2 + np.log(10))
    assert metrics.calibration(y, too_extreme)["calibration_slope"] == pytest.approx(0.5, abs=0.05)


def test_logistic_fit_matches_an_unpenalised_scikit_learn_fit(calibrated):
    y, p = calibrated
    x = metrics.logit(p)
    sk = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x[:, None], y)
    a, b = metrics.logistic_fit(y, x)
    assert a == pytest.approx(sk.intercept_[0], abs=1e-4)
    assert b == pytest.approx(sk.coef_[0, 0], abs=1e-4)


def test_ppv_and_sensitivity_at_the_top_on_a_hand_example():
    # 200 patients; the 2 highest scores (top 1%) are one admitted, one not; the top 2%
    # (4 patients) hold 3 of the 5 admitted.
    p = np.linspace(0, 0.5, 200)
    y = np.zeros(200, dtype=np.int8)
    y[[199, 197, 196, 10, 20]] = 1
    got = metrics.top_fractions(y, p, percents=(0.5, 1, 2, 5))
    assert got["ppv_top"] == {"0.5": 1.0, "1": 0.5, "2": 0.75, "5": 0.3}
    assert got["sensitivity_top"] == {"0.5": 0.2, "1": 0.2, "2": 0.6, "5": 0.6}


def test_top_k_is_at_least_one_and_rounds_up():
    assert metrics.top_k(100, 0.5) == 1
    assert metrics.top_k(1000, 0.5) == 5
    assert metrics.top_k(1001, 0.5) == 6


def test_deciles_cover_everyone_in_order(calibrated):
    y, p = calibrated
    table = metrics.deciles(y, p)
    assert sum(d["n"] for d in table) == y.size
    predicted = [d["predicted"] for d in table]
    assert predicted == sorted(predicted)


def test_small_subgroups_get_no_figures():
    y = np.array([1, 0, 0, 1, 0, 1] * 20)
    p = np.linspace(0.1, 0.9, y.size)
    groups = {"sex": np.array(["female"] * 108 + ["male"] * 12)}
    got = metrics.by_group(y, p, groups)["sex"]
    assert got["female"]["auroc"] is not None
    assert got["male"]["auroc"] is None and got["male"]["n"] == 12
