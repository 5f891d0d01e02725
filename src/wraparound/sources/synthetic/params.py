"""Loading the generator's parameters (parameters.toml) and small helpers over them."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

import numpy as np


@cache
def parameters() -> dict:
    return tomllib.loads(
        resources.files("wraparound.sources.synthetic").joinpath("parameters.toml").read_text()
    )


def knots_logit(knots: list[list[float]], age: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of a logit-by-age profile (flat beyond the ends)."""
    xs = np.array([k[0] for k in knots], dtype=float)
    ys = np.array([k[1] for k in knots], dtype=float)
    return np.interp(age, xs, ys)


def step_by_age(ages: list[float], values: list[float], age: np.ndarray) -> np.ndarray:
    """A value per age band: ``values[i]`` applies from ``ages[i]`` up to ``ages[i+1]``."""
    idx = np.searchsorted(np.asarray(ages, dtype=float), age, side="right") - 1
    return np.asarray(values, dtype=float)[np.clip(idx, 0, len(values) - 1)]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
