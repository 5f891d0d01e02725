"""The simple models the risk model must beat, fitted on the same training rows and scored
on the same held-out year. If gradient-boosted trees cannot beat a table of admission rates
by age and sex, or by last year's admissions, their complexity is not earning its keep; the
logistic regression on the same features shows what the trees add over a linear model.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MAX_PRIOR_ADMISSIONS = 5
AGE_BAND_YEARS = 5
MAX_AGE_BAND = 90


def _rate_table(keys_train: np.ndarray, y: np.ndarray, keys_test: np.ndarray) -> np.ndarray:
    """Observed rate per key in training, looked up for the test rows (overall rate for a
    key not seen in training)."""
    levels, inverse = np.unique(keys_train, return_inverse=True)
    rates = np.bincount(inverse, weights=y) / np.bincount(inverse)
    pos = np.clip(np.searchsorted(levels, keys_test), 0, levels.size - 1)
    return np.where(levels[pos] == keys_test, rates[pos], y.mean())


def age_sex(train: dict, y: np.ndarray, test: dict) -> np.ndarray:
    def key(d):
        band = np.minimum(d["age"] // AGE_BAND_YEARS * AGE_BAND_YEARS, MAX_AGE_BAND)
        return band * 2 + d["female"]

    return _rate_table(key(train), y, key(test))


def prior_admissions(train: dict, y: np.ndarray, test: dict) -> np.ndarray:
    def key(d):
        return np.minimum(d["emergency_admissions"], MAX_PRIOR_ADMISSIONS)

    return _rate_table(key(train), y, key(test))


def logistic(
    x_train: np.ndarray, y: np.ndarray, x_test: np.ndarray, fill: np.ndarray, seed: int
) -> np.ndarray:
    """Logistic regression on the model's features (standardised; a missing value, which
    only "days since the last admission" can have, is filled with ``fill``)."""

    def prepare(x):
        return np.where(np.isnan(x), fill[None, :], x)

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(prepare(x_train), y)
    return model.predict_proba(prepare(x_test))[:, 1]
