"""Plain-words reasons for each patient's score, from the model's own per-patient
contributions (LightGBM's TreeSHAP ``pred_contrib``).

A reason is a feature that pushed this patient's risk **up**, worded from
``data/risk_phrases.csv`` ("2 emergency admissions in the last year", "heart failure",
"severe frailty (eFI 0.39)"). The wording is data so that clinicians can change it without
touching code. A feature is only given as a reason when its phrase's ``when`` condition
holds for the patient: trees can give a small positive contribution to the *absence* of a
condition, and "heart failure" must never be said of someone who does not have it.

Phrases depend only on (feature, value, eFI category), so each distinct phrase is formatted
once and patients share it; the per-patient work is array arithmetic.
"""

from __future__ import annotations

import csv
import functools
import io
import operator
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
import pyarrow as pa

from wraparound.vocabulary import EFI_CATEGORIES

MAX_REASONS = 3
MIN_CONTRIBUTION = 0.05
"""Log-odds a feature must add to the patient's risk to be named (about +5% relative odds)."""

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
_CATEGORIES = EFI_CATEGORIES


@dataclass(frozen=True)
class Phrase:
    feature: str
    one: str
    many: str
    when: str
    fallback: str

    def applies(self, values: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(values)
        if not self.when:
            return ok
        op = next(o for o in sorted(_OPS, key=len, reverse=True) if self.when.startswith(o))
        with np.errstate(invalid="ignore"):
            return ok & _OPS[op](values, float(self.when[len(op) :]))

    def render(self, value: float, category: str | None) -> str:
        template = self.one if value == 1 else self.many
        context = {"value": _number(value), "efi_category": category, "efi": f"{value / 36:.2f}"}
        if "{efi" in template and category is None:
            template = self.fallback or template
        return template.format(**context)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


@functools.cache
def phrases() -> dict[str, Phrase]:
    """The phrase for each feature, from ``data/risk_phrases.csv``."""
    text = files("wraparound").joinpath("data/risk_phrases.csv").read_text()
    rows = csv.DictReader(io.StringIO(text))
    out = {}
    for row in rows:
        when = row["when"].strip()
        if when and not any(when.startswith(o) for o in _OPS):
            raise ValueError(f"data/risk_phrases.csv: bad condition {when!r} for {row['feature']}")
        out[row["feature"]] = Phrase(row["feature"], row["one"], row["many"], when, row["fallback"])
    return out


def reasons(
    contributions: np.ndarray,
    x: np.ndarray,
    features: list[str],
    efi_category: list[str | None],
    limit: int = MAX_REASONS,
) -> pa.ListArray:
    """Up to ``limit`` reasons per patient, strongest first, as a list<string> array.

    ``contributions`` is ``RiskModel.contributions`` (n x features+1), ``x`` the feature
    matrix, ``efi_category`` the patient's category (None under 65).
    """
    n = x.shape[0]
    table = phrases()
    usable = np.full(contributions[:, :-1].shape, False)
    for j, name in enumerate(features):
        if name in table:
            usable[:, j] = table[name].applies(x[:, j])
    score = np.where(
        usable & (contributions[:, :-1] >= MIN_CONTRIBUTION), contributions[:, :-1], -np.inf
    )
    depth = min(score.shape[1], limit + 3)  # spare slots for phrases said twice
    top = np.argsort(-score, axis=1, kind="stable")[:, :depth]
    rows = np.repeat(np.arange(n), depth)
    cols = top.ravel()
    valid = np.isfinite(score[rows, cols])
    category = np.array(
        [_CATEGORIES.index(c) if c in _CATEGORIES else -1 for c in efi_category], dtype=np.int64
    )
    values = x[rows, cols]
    key = np.stack(
        [cols, np.nan_to_num(values, nan=-1).astype(np.int64) * 10, category[rows]], axis=1
    )[valid]
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    texts = [
        table[features[j]].render(v / 10, _CATEGORIES[c] if c >= 0 else None) for j, v, c in uniq
    ]
    text_ids = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    phrase_of_key = np.array([text_ids[t] for t in texts], dtype=np.int64)
    ids = np.full(rows.size, -1, dtype=np.int64)
    ids[valid] = phrase_of_key[inverse.ravel()]
    ids = ids.reshape(n, depth)
    # Drop a phrase already given for this patient (diabetes is a register and a deficit).
    for k in range(1, depth):
        repeated = (ids[:, :k] == ids[:, k : k + 1]).any(axis=1)
        ids[repeated, k] = -1
    keep = ids >= 0
    keep &= np.cumsum(keep, axis=1) <= limit
    offsets = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
    dictionary = pa.array(list(text_ids), pa.string())
    flat = dictionary.take(pa.array(ids[keep]))
    return pa.ListArray.from_arrays(pa.array(offsets), flat)
