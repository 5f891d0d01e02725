"""The reconstruction attack on published figures (issue 11: "35/45 at 84.1% can only be
37/44"), written from the attacker's side and independent of ``analytics/disclosure.py``.

For each published row the attacker knows: the rounded numerator and denominator (or that
they are suppressed), the rule (1-7 suppressed, others to the nearest 5), the shown value
and 95% interval, and every other published row of the same indicator, month and subgroup
(practices, their neighbourhoods, the locality).

1. **Differencing.** Each count's true value lies in an interval: a shown count r in
   [r-2, r+2] (person-years, which are not whole, in [r-2.5, r+2.5]), a shown 0 is 0, a
   suppressed one anything from 0. Totals are sums of their parts (locality = its
   neighbourhoods, neighbourhood = its practices), so bounds propagate until nothing
   changes. On a tree of sums over intervals this fixpoint is each count's exact feasible
   range.
2. **Pairs.** For each row, every (numerator, denominator) in those ranges with numerator <=
   denominator for a proportion and, for a suppressed row that is the only one hidden among
   its siblings (so it cannot be a secondary suppression), a count of 1-7.
3. **Values.** A pair survives if the shown value and interval are what it gives, either
   when calculated from the true counts (the leak the issue found) or when calculated from
   the rounded counts (the stated rule). Whichever the publisher did, the attacker keeps
   the pairs consistent with what is shown.

A count is *recovered* when only one value of it survives, a pair when only one pair
survives. Zero is not a disclosure (the rule shows zeros, and a zero total says its parts
are zero); zeros are counted apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from wraparound.analytics import stats

BIG = 10**9
ROUND_HALF = 2  # a shown count r was one of r-2 .. r+2
SMALL = range(1, 8)
ENUMERATE_MAX = 400  # wider ranges than this hold far more than one pair


@dataclass
class Published:
    """One published row as the attacker reads it (None: suppressed or not shown)."""

    key: tuple  # (indicator, period, subgroup)
    level: str
    org_id: str
    parent_id: str | None
    kind: str  # proportion, crude_rate, dsr, median
    multiplier: float
    numerator: float | None
    denominator: float | None
    suppressed: bool
    value: float | str | None = None  # a float from Parquet, a string from a page
    interval: tuple | None = None  # (lower, upper): floats, or strings from a page
    digits: int | None = None  # decimals shown on a page; None: full precision
    where: str = ""
    also_part_of: tuple[str, ...] = ()  # totals besides parent_id this row is a part of
    breakdown: str = ""  # which breakdown of parent_id the row is a part of (a total can
    # be the sum of its practices and, separately, of its deprivation quintiles)


@dataclass
class Finding:
    rows: int = 0
    pairs_unique: list[str] = field(default_factory=list)
    counts_recovered: list[str] = field(default_factory=list)
    small_recovered: list[str] = field(default_factory=list)
    zeros_shown: int = 0

    @property
    def recovered(self) -> int:
        return len(self.pairs_unique) + len(self.counts_recovered)


def _interval(shown: float | None, hidden: bool, real: bool) -> list[float]:
    if hidden or shown is None:
        return [0.0, float(BIG)]
    if shown == 0:
        return [0.0, 0.0]
    half = 2.5 if real else ROUND_HALF
    return [max(shown - half, 0.0), shown + half]


def _propagate(rows: list[Published], column: str, real: bool) -> dict[str, list[float]]:
    """Bounds of one count for every row of one group, to a fixpoint over the sums. With
    rows that are parts of two totals (a neighbourhood's quintile is part of the
    neighbourhood and of the locality's quintile) the sums no longer form a tree and the
    fixpoint is an outer bound: a relaxation of the exact attack."""
    bounds = {
        r.org_id: _interval(getattr(r, column), r.suppressed or getattr(r, column) is None, real)
        for r in rows
    }
    children: dict[tuple[str, str], list[str]] = defaultdict(list)
    ids = set(bounds)
    for r in rows:
        if r.parent_id in ids:
            children[(r.parent_id, r.breakdown)].append(r.org_id)
        for parent in r.also_part_of:
            if parent in ids:
                children[(parent, "also")].append(r.org_id)
    for _ in range(100):
        changed = False
        for (parent, _breakdown), kids in children.items():
            lo = sum(bounds[k][0] for k in kids)
            hi = sum(bounds[k][1] for k in kids)
            p = bounds[parent]
            new_p = [max(p[0], lo), min(p[1], hi)]
            for k in kids:
                rest_lo = lo - bounds[k][0]
                rest_hi = hi - bounds[k][1]
                b = bounds[k]
                new_k = [max(b[0], new_p[0] - rest_hi), min(b[1], new_p[1] - rest_lo)]
                if not real:
                    new_k = [math.ceil(new_k[0] - 1e-9), math.floor(new_k[1] + 1e-9)]
                if new_k != b:
                    bounds[k] = new_k
                    changed = True
            if new_p != p:
                bounds[parent] = new_p
                changed = True
        if not changed:
            break
    return bounds


def _fmt(value: float, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:.{digits}f}"


def _value_and_interval(row: Published, n: np.ndarray, d: np.ndarray):
    m = row.multiplier
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(d > 0, n / d * m, np.nan)
    if row.kind == "proportion":
        lo, hi = stats.wilson(n, d, 0.95)
        return value, lo * m, hi * m
    lo, hi = stats.rate_limits(n, d, 0.95, m)
    return value, lo, hi


def _matches(row: Published, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Which candidate pairs give the shown value and interval."""
    value, lo, hi = _value_and_interval(row, n.astype(float), d.astype(float))
    if row.digits is None:  # full precision (Parquet)

        def same(a, b):
            if b is None:
                return np.isnan(a)
            return np.isclose(a, b, rtol=1e-9, atol=1e-9)

        ok = same(value, row.value)
        if row.interval is not None:
            ok &= same(lo, row.interval[0]) & same(hi, row.interval[1])
        return ok
    k = row.digits
    text = np.array([_fmt(v, k) for v in value])
    ok = text == (row.value or "")
    if row.interval is not None:
        shown = f"{row.interval[0]} to {row.interval[1]}"
        got = np.array([f"{_fmt(a, k)} to {_fmt(b, k)}" for a, b in zip(lo, hi, strict=True)])
        ok &= got == shown
    return ok


def _candidates(lo: float, hi: float, real: bool, steps: int = 101) -> np.ndarray:
    if real:
        return np.unique(np.linspace(lo, hi, steps)) if hi > lo else np.array([lo])
    return np.arange(int(lo), int(hi) + 1)


def _check_row(row: Published, nb, db, only_hidden: bool, out: Finding) -> None:
    derived = row.kind in ("proportion", "crude_rate") and row.value not in (None, "")
    real_d = row.kind == "crude_rate"
    name = f"{row.where}{row.key} {row.level} {row.org_id}"
    if row.kind == "median":
        # Only the denominator is a count here (a median has no numerator).
        lo, hi = db
        if row.suppressed and only_hidden:
            lo, hi = max(lo, 1), min(hi, 7)
        if lo == hi and lo != 0:
            out.counts_recovered.append(f"{name}: denominator {lo}")
            if lo in SMALL:
                out.small_recovered.append(f"{name}: denominator {lo}")
        return
    if row.suppressed and only_hidden:
        # A lone suppressed row has a count of 1-7 (the attacker assumes so: it is not always
        # true, since a secondary suppression can be alone too, which makes the attack
        # stronger than the truth): if one count cannot be small, the other is. If that
        # leaves nothing, the row was a secondary suppression and the assumption is dropped.
        n2, d2 = list(nb), list(db)
        if not (d2[0] < 8 and d2[1] >= 1):
            n2 = [max(n2[0], 1), min(n2[1], 7)]
        if not (n2[0] <= 7 and n2[1] >= 1):
            d2 = [max(d2[0], 1), min(d2[1], 8 if real_d else 7)]
        if n2[0] <= n2[1] and d2[0] <= d2[1]:
            nb, db = n2, d2
        else:
            only_hidden = False
    if nb[1] - nb[0] > ENUMERATE_MAX or (not real_d and db[1] - db[0] > ENUMERATE_MAX):
        return  # far too many pairs to pin anything
    n = _candidates(nb[0], nb[1], False)
    d = _candidates(db[0], db[1], real_d)
    nn, dd = np.meshgrid(n, d, indexing="ij")
    nn, dd = nn.ravel(), dd.ravel()
    keep = np.ones(nn.shape, dtype=bool)
    if row.kind == "proportion":
        keep &= nn <= dd
    if row.suppressed and only_hidden:
        small = np.isin(nn, SMALL) | ((dd >= 1) & (dd < 8))
        if (keep & small).any():  # else it was a secondary suppression
            keep &= small
    if derived and not row.suppressed:
        rounded = _matches(row, np.array([row.numerator]), np.array([row.denominator]))[0]
        if not rounded:  # the value was not calculated from the rounded counts
            keep &= _matches(row, nn, dd)
    nn, dd = nn[keep], dd[keep]
    numerators = set(nn.tolist())
    if numerators == {0}:  # shown as 0, or implied by a zero total: the rule shows zeros
        out.zeros_shown += 1
    elif len(numerators) == 1:
        value = next(iter(numerators))
        out.counts_recovered.append(f"{name}: numerator {value}")
        if value in SMALL:
            out.small_recovered.append(f"{name}: numerator {value}")
    if not real_d:
        denominators = set(dd.tolist())
        if len(denominators) == 1 and denominators != {0}:
            value = next(iter(denominators))
            out.counts_recovered.append(f"{name}: denominator {value}")
            if value in SMALL:
                out.small_recovered.append(f"{name}: denominator {value}")
        if len(nn) == 1 and not (nn[0] == 0 and dd[0] == 0):
            out.pairs_unique.append(f"{name}: {int(nn[0])}/{int(dd[0])}")


def attack(rows: list[Published], context: list[Published] | None = None) -> Finding:
    """Attack ``rows``; ``context`` adds the other published rows of their groups (the
    totals a page row can be differenced against)."""
    out = Finding()
    groups: dict[tuple, dict[str, Published]] = defaultdict(dict)
    for r in context or []:
        groups[r.key][r.org_id] = r
    for r in rows:
        groups[r.key].setdefault(r.org_id, r)
    bounds: dict[tuple, tuple[dict, dict]] = {}
    for row in rows:
        out.rows += 1
        members = list(groups[row.key].values())
        if row.key not in bounds:
            bounds[row.key] = (
                _propagate(members, "numerator", False),
                _propagate(members, "denominator", row.kind == "crude_rate"),
            )
        nb, db = (b[row.org_id] for b in bounds[row.key])
        if nb[0] > nb[1] or db[0] > db[1]:
            raise AssertionError(f"no true counts fit the published {row.key} {row.org_id}")
        siblings = [m for m in members if m.parent_id == row.parent_id and m.level == row.level]
        only_hidden = sum(m.suppressed for m in siblings) == 1
        _check_row(row, nb, db, only_hidden, out)
    return out
