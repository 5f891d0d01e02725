"""Training, calibration and scoring of the 12-month emergency admission model.

Gradient-boosted trees (LightGBM) learn the risk from the feature table; a held-out slice of
the training year (chosen by a seeded draw, so the same seed and data give the same model)
stops the boosting early and then fits Platt scaling on the trees' raw scores. Platt rather
than isotonic: it is monotone and smooth, so it never ties patients that the trees had
ranked apart, and two parameters cannot over-fit a slice of tens of thousands of patients.

The trees are shallow (depth 3) on purpose: on the held-out year they discriminate as well
as deeper ones (the risk is close to additive in log-odds), and the per-patient SHAP
contributions behind every patient's reasons cost time in proportion to leaves x depth^2,
which decides whether a million patients are scored in one or in several minutes.

The model's size is bounded whatever the size of the locality: ``data/risk.toml`` caps the
trees (``max_trees``; early stopping ends sooner on small data) and sets the learning rate,
both chosen on the held-out year (``benchmarks/bench_scoring.py --sweep``), and caps the
training rows with a sample stratified by outcome (each class sampled at the same seeded
rate, so the admission rate, and with it the calibration, is the cohort's).

Everything that defines a model (features in order, parameters, seed, best iteration,
calibration) is kept on the ``RiskModel`` so that a model version can be recorded and
re-created exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pyarrow as pa

from wraparound.analytics.risk import config as risk_config
from wraparound.analytics.risk.metrics import logistic_fit, sigmoid

HOLDOUT_SHARE = 0.2

DEFAULT_PARAMS = {
    "objective": "binary",
    "num_leaves": 8,
    "max_depth": 3,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}


def matrix(table: pa.Table, features: list[str]) -> np.ndarray:
    """The feature columns as a float32 matrix, nulls as NaN (LightGBM's "missing")."""
    out = np.empty((table.num_rows, len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        out[:, j] = table.column(name).to_numpy(zero_copy_only=False).astype(np.float32)
    return out


def stratified_sample(y: np.ndarray, limit: int | None, seed: int) -> np.ndarray | None:
    """Row indices (ascending) of a seeded sample of at most ``limit`` rows that keeps the
    share of each outcome, or None when there are no more than ``limit`` rows."""
    if limit is None or y.size <= limit:
        return None
    rng = np.random.default_rng([seed, 20261202])
    share = limit / y.size
    chosen = []
    for value in np.unique(y):
        rows = np.flatnonzero(y == value)
        chosen.append(rng.choice(rows, round(rows.size * share), replace=False))
    return np.sort(np.concatenate(chosen))


def holdout_mask(n: int, seed: int, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """The calibration slice: a seeded draw over rows (rows come sorted by patient_id)."""
    return np.random.default_rng(seed).random(n) < share


@dataclass
class RiskModel:
    booster: lgb.Booster
    features: list[str]
    params: dict
    seed: int
    platt: tuple[float, float]  # intercept, slope on the trees' raw score
    best_iteration: int
    training: dict = field(default_factory=dict)  # index date, rows, events

    def raw(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, raw_score=True, num_iteration=self.best_iteration)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability of an emergency admission in the next 12 months."""
        a, b = self.platt
        return sigmoid(a + b * self.raw(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-patient SHAP contributions to the raw score (last column: the expected value),
        scaled by the Platt slope so that they add up to the calibrated log-odds."""
        contrib = self.booster.predict(x, pred_contrib=True, num_iteration=self.best_iteration)
        return contrib * self.platt[1]


def train(
    x: np.ndarray,
    y: np.ndarray,
    features: list[str],
    seed: int,
    params: dict | None = None,
    threads: int | None = None,
    config: risk_config.ModelConfig | None = None,
) -> RiskModel:
    """Fit the trees on most of the rows (at most ``max_training_rows``, a stratified
    sample), stop early (at ``max_trees`` at the latest) and calibrate on the held-out rest.
    ``config`` defaults to ``data/risk.toml``'s ``[model]``."""
    config = config or risk_config.load().model
    params = {
        **DEFAULT_PARAMS,
        "learning_rate": config.learning_rate,
        **(params or {}),
        "seed": seed,
        "num_threads": threads or os.cpu_count() or 1,
    }
    cohort_rows, cohort_events = int(y.size), int(y.sum())
    sample = stratified_sample(y, config.max_training_rows, seed)
    if sample is not None:
        x, y = x[sample], y[sample]
    hold = holdout_mask(y.size, seed)
    fit_set = lgb.Dataset(x[~hold], y[~hold], feature_name=features, free_raw_data=True)
    hold_set = lgb.Dataset(x[hold], y[hold], reference=fit_set)
    booster = lgb.train(
        params,
        fit_set,
        num_boost_round=config.max_trees,
        valid_sets=[hold_set],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    raw = booster.predict(x[hold], raw_score=True, num_iteration=best)
    platt = logistic_fit(y[hold], raw)
    return RiskModel(
        booster,
        list(features),
        params,
        seed,
        platt,
        best,
        {
            "rows": cohort_rows,
            "events": cohort_events,
            "sample_rows": int(y.size),
            "holdout_rows": int(hold.sum()),
            "max_trees": config.max_trees,
            "early_stopping_rounds": config.early_stopping_rounds,
        },
    )
