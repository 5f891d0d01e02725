"""Performance of a risk score against observed outcomes.

Discrimination (AUROC, AUPRC) comes from scikit-learn, so these figures match what any
analyst would compute. Calibration is by logistic recalibration: the outcome regressed on
logit(p) gives a slope (1 is ideal; below 1 means predictions are too extreme) and an
intercept; calibration-in-the-large is the intercept with the slope fixed at 1 (0 is ideal;
positive means the model under-predicts). The top-x% figures are what a commissioner buys:
of the patients a register of that size would hold, how many were admitted (PPV), and what
share of all admitted patients it would have found (sensitivity).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

TOP_PERCENTS = (0.5, 1.0, 2.0, 5.0)
MIN_EVENTS = 10
"""Subgroups with fewer events (or non-events) than this get no discrimination or
calibration figures: the estimates would be noise, and the counts nearly identifying."""

_EPS = 1e-7


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def logistic_fit(
    y: np.ndarray, x: np.ndarray, offset: np.ndarray | None = None, fit_slope: bool = True
) -> tuple[float, float]:
    """Maximum-likelihood ``(intercept, slope)`` of ``P(y) = sigmoid(a + b·x + offset)`` by
    Newton-Raphson; with ``fit_slope=False`` the slope is held at 0 (so an offset of logit(p)
    gives calibration-in-the-large). Two parameters need no general-purpose solver, and an
    unpenalised fit is what the calibration literature defines."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    off = np.zeros_like(x) if offset is None else np.asarray(offset, dtype=float)
    design = np.column_stack([np.ones_like(x), x]) if fit_slope else np.ones((x.size, 1))
    beta = np.zeros(design.shape[1])
    for _ in range(50):
        p = sigmoid(design @ beta + off)
        w = np.maximum(p * (1 - p), 1e-12)
        hessian = design.T @ (design * w[:, None])
        step = np.linalg.solve(hessian, design.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return (float(beta[0]), float(beta[1])) if fit_slope else (float(beta[0]), 0.0)


def calibration(y: np.ndarray, p: np.ndarray) -> dict:
    """Calibration slope and intercept (y on logit p) and calibration-in-the-large."""
    lp = logit(p)
    intercept, slope = logistic_fit(y, lp)
    large, _ = logistic_fit(y, np.zeros_like(lp), offset=lp, fit_slope=False)
    return {
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        "calibration_in_the_large": large,
    }


def top_k(n: int, percent: float) -> int:
    """How many patients the top ``percent`` of ``n`` is (at least one)."""
    return max(1, math.ceil(n * percent / 100 - 1e-9))


def top_fractions(y: np.ndarray, p: np.ndarray, percents=TOP_PERCENTS) -> dict:
    """PPV and sensitivity of flagging the ``percent`` highest scores. Ties at the cut are
    broken by position, as a fixed-size register must."""
    y = np.asarray(y)
    order = np.argsort(-np.asarray(p), kind="stable")
    hits = np.cumsum(y[order])
    total = y.sum()
    ppv, sens = {}, {}
    for pct in percents:
        k = top_k(y.size, pct)
        key = f"{pct:g}"
        ppv[key] = float(hits[k - 1] / k)
        sens[key] = float(hits[k - 1] / total) if total else None
    return {"ppv_top": ppv, "sensitivity_top": sens}


def deciles(y: np.ndarray, p: np.ndarray) -> list[dict]:
    """Observed and mean predicted risk in each tenth of predicted risk (1 = lowest)."""
    order = np.argsort(np.asarray(p), kind="stable")
    out = []
    for i, part in enumerate(np.array_split(order, 10), start=1):
        out.append(
            {
                "decile": i,
                "n": int(part.size),
                "observed": float(np.mean(y[part])),
                "predicted": float(np.mean(p[part])),
            }
        )
    return out


def evaluate(y: np.ndarray, p: np.ndarray) -> dict:
    """Every headline metric of scores ``p`` against 0/1 outcomes ``y``."""
    y = np.asarray(y, dtype=np.int8)
    p = np.asarray(p, dtype=float)
    events = int(y.sum())
    out: dict = {
        "n": int(y.size),
        "events": events,
        "observed_rate": float(y.mean()) if y.size else None,
        "mean_predicted": float(p.mean()) if y.size else None,
    }
    if min(events, y.size - events) < MIN_EVENTS:
        return out | {
            "auroc": None,
            "auprc": None,
            "brier": None,
            "calibration_slope": None,
            "calibration_intercept": None,
            "calibration_in_the_large": None,
        }
    out |= {
        "auroc": float(roc_auc_score(y, p)),
        "auprc": float(average_precision_score(y, p)),
        "brier": float(np.mean((p - y) ** 2)),
    }
    out |= calibration(y, p)
    return out


def full_report(y: np.ndarray, p: np.ndarray) -> dict:
    """``evaluate`` plus top-x% PPV and sensitivity and the decile table."""
    return evaluate(y, p) | top_fractions(y, p) | {"deciles": deciles(y, p)}


def by_group(y: np.ndarray, p: np.ndarray, groups: dict[str, np.ndarray]) -> dict:
    """``evaluate`` within each level of each grouping (e.g. sex, age band), so unequal
    performance is visible. Missing levels are reported as "unknown"."""
    out = {}
    for name, labels in groups.items():
        labels = np.asarray([("unknown" if v is None else str(v)) for v in labels])
        out[name] = {
            level: evaluate(y[labels == level], p[labels == level])
            for level in sorted(set(labels.tolist()))
        }
    return out
