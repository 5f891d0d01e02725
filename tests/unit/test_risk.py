"""The risk model on a small synthetic locality: reproducible, calibrated enough to be
useful, and explained in plain words."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from wraparound.analytics import features as feats
from wraparound.analytics import stratify
from wraparound.analytics.risk import explain
from wraparound.analytics.risk.config import ModelConfig
from wraparound.analytics.risk.model import stratified_sample, train
from wraparound.warehouse.engine import connect

FEATURE_NAME = re.compile(r"[a-z]+_[a-z]+")


@pytest.fixture(scope="module")
def training(small_warehouse):
    with connect(small_warehouse) as engine:
        df = stratify.labelled(engine, dt.date(2024, 4, 1))
    return stratify._xy(df, feats.model_features()), df


def test_same_seed_and_data_give_the_same_model(training):
    (x, y), _ = training
    a = train(x, y, feats.model_features(), seed=7, threads=2)
    b = train(x, y, feats.model_features(), seed=7, threads=2)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert a.platt == b.platt


def test_contributions_add_up_to_the_calibrated_log_odds(training):
    (x, y), _ = training
    model = train(x, y, feats.model_features(), seed=1)
    contrib = model.contributions(x[:50])
    p = model.predict(x[:50])
    np.testing.assert_allclose(contrib.sum(axis=1) + model.platt[0], np.log(p / (1 - p)), rtol=1e-6)


def test_reasons_are_plain_words_and_true_of_the_patient(training):
    (x, y), df = training
    model = train(x, y, feats.model_features(), seed=1)
    reasons = explain.reasons(
        model.contributions(x), x, model.features, df["efi_category"].to_list()
    ).to_pylist()
    assert sum(1 for r in reasons if r) > 0.5 * len(reasons)
    names = model.features
    for i, patient in enumerate(reasons):
        assert len(patient) <= explain.MAX_REASONS
        assert len(set(patient)) == len(patient)
        for text in patient:
            assert not FEATURE_NAME.search(text), text
            assert "None" not in text and "nan" not in text
            if text == "heart failure":
                assert x[i, names.index("ltc_heart_failure")] == 1
    admitted = [i for i in range(len(reasons)) if x[i, names.index("emergency_admissions")] >= 2]
    hospital = ("emergency admission", "in hospital", "A&E")
    assert admitted
    mentioned = [any(word in text for text in reasons[i] for word in hospital) for i in admitted]
    assert sum(mentioned) >= len(admitted) / 2


def test_every_feature_but_sex_has_a_phrase():
    missing = set(feats.model_features()) - set(explain.phrases())
    assert missing == {"female"}


def test_severe_frailty_is_worded_as_a_clinician_would():
    phrase = explain.phrases()["efi_deficits"]
    assert phrase.render(14, "severe") == "severe frailty (eFI 0.39)"
    assert phrase.render(14, None) == "14 frailty deficits recorded"


def test_the_tree_cap_bounds_the_model_whatever_the_data(training):
    (x, y), _ = training
    capped = train(x, y, feats.model_features(), seed=1, config=ModelConfig(max_trees=5))
    assert capped.best_iteration <= 5 and capped.booster.num_trees() <= 5
    assert capped.training["max_trees"] == 5


def test_a_training_sample_keeps_the_admission_rate_and_the_seed_fixes_it(training):
    (x, y), _ = training
    config = ModelConfig(max_training_rows=1000)
    a = train(x, y, feats.model_features(), seed=3, config=config)
    b = train(x, y, feats.model_features(), seed=3, config=config)
    assert a.training["rows"] == y.size > 1000
    assert abs(a.training["sample_rows"] - 1000) <= 1
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    rows = stratified_sample(y, 1000, seed=3)
    assert np.all(np.diff(rows) > 0)
    assert abs(y[rows].mean() - y.mean()) < 1 / 1000 + 1e-9
    assert stratified_sample(y, y.size, seed=3) is None


def test_the_baselines_learn_from_the_models_sample(training):
    (_x, y), df = training
    config = ModelConfig(max_training_rows=1000, max_trees=20)
    model, report, _ = stratify.validate(df, df, seed=3, threads=2, config=config)
    assert abs(model.training["sample_rows"] - 1000) <= 1
    _, full, _ = stratify.validate(df, df, seed=3, threads=2, config=ModelConfig(max_trees=20))
    lr = report["baselines"]["logistic_regression"]["auroc"]
    assert lr != full["baselines"]["logistic_regression"]["auroc"]
    assert report["n"] == full["n"] == y.size
