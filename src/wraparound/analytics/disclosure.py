"""Statistical disclosure control for published figures.

The rule (NHS England's small-numbers rule, as Wraparound states it next to every published
figure, ``RULE``):

1. counts of 1 to 7 are suppressed, and so is everything derived from them;
2. every other count is rounded to the nearest 5 (zero is shown: it reveals nothing about a
   person);
3. **every published value, interval, funnel limit, status, rank and trend is calculated
   from the rounded counts**, never from the true ones. A value calculated from true counts
   gives them away: 35/45 shown at 84.1% can only be 37/44. From rounded counts a value
   says nothing the rounded counts do not;
4. before publication the output is differenced as an onlooker would difference it
   (``count_bounds``: totals are sums of their parts, so a neighbourhood minus its shown
   practices bounds a suppressed one); while any count, suppressed or shown, can be pinned
   to one value, one more row is suppressed (secondary suppression: the row whose hiding
   leaves fewest counts pinned, a practice before a total);
5. an age-standardised rate cannot be calculated from the rounded totals (it needs the
   counts of every age band), so it is not published; its rounded counts are. A median is
   published to the whole unit, so its half-units do not tell whether the count is even.

Opted-out patients are already absent from every count (the indicator pipeline never lets
them in); this module is the last step before publication. ``tests/app/
test_reconstruction_attack.py`` runs the reconstruction attack over every published row.
"""

from __future__ import annotations

import hashlib
import math

import polars as pl

from wraparound import vocabulary
from wraparound.analytics.indicators import compute
from wraparound.analytics.indicators.definition import Indicator

SUPPRESS_MIN = 1
SUPPRESS_MAX = 7
ROUND_TO = 5

RULE = (
    "Counts of 1 to 7 are suppressed (marked “suppressed”), and so is anything "
    "calculated from them; all other counts are rounded to the nearest 5. Every rate, "
    "percentage, interval and comparison shown is calculated from the rounded counts, so "
    "it reveals nothing more than they do. Where a total minus the figures shown would "
    "reveal a suppressed figure, another figure is suppressed too. Age-standardised rates "
    "are not published, because they cannot be calculated from rounded counts. Patients "
    "who have opted out of sharing their data for planning and research (the national "
    "data opt-out) are not counted."
)

COUNTS = list(vocabulary.INDICATOR_COUNTS)
DERIVED = [
    *vocabulary.INDICATOR_INTERVALS,
    "funnel_status",
    "funnel_status95",
    "assessment",
    "decile",
    "percentile_rank",
    "change_12m",
    *vocabulary.FUNNEL_LIMITS,
    "trend",
]
"""Everything calculated from a row's counts (the first five are the quintile tables'). The
funnel limits are included: at a practice's own denominator they would give it away."""
INTERVALS = DERIVED[:5]
GROUP = ["indicator_id", "period", "subgroup"]
ROW = [*GROUP, "level", "org_id", "parent_id"]
DERIVABLE = ("proportion", "crude_rate", "ratio")


def round_count(value: pl.Expr) -> pl.Expr:
    """To the nearest multiple of 5, halves rounded up (2.5 people -> 5)."""
    return (value / ROUND_TO + 0.5).floor() * ROUND_TO


def is_small(value: pl.Expr) -> pl.Expr:
    return value.is_not_null() & (value >= SUPPRESS_MIN) & (value < SUPPRESS_MAX + 1)


def disclose(df: pl.DataFrame, counts: list[str], derived: list[str]) -> pl.DataFrame:
    """Rules 1 and 2, row by row: a row with any count in 1-7 loses those counts and every
    ``derived`` column; other counts are rounded. Adds ``suppressed`` (bool). The derived
    columns of the other rows are left as they are: ``publish`` recalculates them."""
    small = pl.lit(False)
    for column in counts:
        small = small | is_small(pl.col(column))
    df = df.with_columns(suppressed=small)
    return _hide(df, counts, derived, round_others=True)


def _hide(df: pl.DataFrame, counts, derived, round_others: bool = False) -> pl.DataFrame:
    hidden = pl.col("suppressed")
    return df.with_columns(
        *[
            pl.when(hidden)
            .then(None)
            .otherwise(round_count(pl.col(c)) if round_others else pl.col(c))
            .alias(c)
            for c in counts
        ],
        *[pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c) for c in derived],
    )


# ---------------------------------------------------------------------------------------------
# Rule 4: secondary suppression, by differencing our own output
# ---------------------------------------------------------------------------------------------

BIG = 1e12


def _start(shown, hidden: bool, real: bool) -> list[float]:
    """What an onlooker knows of one true count from its published form alone."""
    if hidden or shown is None:
        return [0.0, BIG]
    if shown == 0:
        return [0.0, 0.0]
    half = ROUND_TO / 2 if real else ROUND_TO // 2
    return [max(shown - half, 0.0), shown + half]


def count_bounds(rows: list[dict], column: str, real: bool) -> dict[str, list[float]]:
    """Each row's true ``column`` as far as the published rows of one group (an indicator,
    month and subgroup) pin it down: start from what each published count says, then use
    that a total is the sum of its parts (``parent_id``; a row may also be part of a second
    breakdown, ``breakdown`` and ``also_part_of``: a neighbourhood's deprivation quintiles)
    until nothing changes. On a tree of sums over intervals this is each count's exact
    feasible range; with two breakdowns it is an outer bound. Whole counts stay whole
    (``real`` for person-years)."""
    bounds = {r["org_id"]: _start(r[column], r["suppressed"], real) for r in rows}
    children: dict[tuple, list[str]] = {}
    for r in rows:
        if r["parent_id"] in bounds:
            children.setdefault((r["parent_id"], r.get("breakdown", "")), []).append(r["org_id"])
        for parent in r.get("also_part_of", ()):
            if parent in bounds:
                children.setdefault((parent, "also"), []).append(r["org_id"])
    for _ in range(200):
        changed = False
        for (parent, _breakdown), kids in children.items():
            lo = sum(bounds[k][0] for k in kids)
            hi = sum(bounds[k][1] for k in kids)
            p = bounds[parent]
            top = [max(p[0], lo), min(p[1], hi)]
            for k in kids:
                b = bounds[k]
                new = [max(b[0], top[0] - (hi - b[1])), min(b[1], top[1] - (lo - b[0]))]
                if not real:
                    new = [float(math.ceil(new[0] - 1e-9)), float(math.floor(new[1] + 1e-9))]
                if new != b:
                    bounds[k], changed = new, True
            if top != p:
                bounds[parent], changed = top, True
        if not changed:
            break
    return bounds


ENUMERATE = 400
"""Ranges wider than this hold far more than one value of a count."""


def _clamp(lo: float, hi: float, small_hi: float) -> tuple[float, float]:
    return max(lo, SUPPRESS_MIN), min(hi, small_hi)


def _pinned(row: dict, n: list[float], d: list[float], kind: str, primary: bool) -> bool:
    """Whether an onlooker can tell one true count of this row exactly (other than zero,
    which the rule shows): every (numerator, denominator) in the ranges, with
    numerator <= denominator for a proportion and, for a suppressed row that is the only one
    hidden among its siblings, a count of 1-7; pinned when only one numerator, one
    denominator (whole counts) or one pair survives."""
    real = kind == "crude_rate"
    (n_lo, n_hi), (d_lo, d_hi) = n, d
    small_d = SUPPRESS_MAX + (1 if real else 0)
    hidden = row["suppressed"]
    if hidden and primary:
        # Assume, as an onlooker would, that a lone suppressed row is a primary one; if that
        # leaves nothing, it was a secondary suppression and the assumption is dropped.
        nl, nh, dl, dh = n_lo, n_hi, d_lo, d_hi
        if not (dl < SUPPRESS_MAX + 1 and dh >= SUPPRESS_MIN):
            nl, nh = _clamp(nl, nh, SUPPRESS_MAX)
        if not (nl <= SUPPRESS_MAX and nh >= SUPPRESS_MIN):
            dl, dh = _clamp(dl, dh, small_d)
        if nl <= nh and dl <= dh:
            n_lo, n_hi, d_lo, d_hi = nl, nh, dl, dh
        else:
            primary = False
    # A count pinned to 0 is not a disclosure: the rule shows zeros, and a zero total says
    # its parts are zero.
    if n_hi - n_lo > ENUMERATE or real or d_hi - d_lo > ENUMERATE:
        # A whole range is too wide to enumerate, or the denominator is person-time.
        numerators = [] if n_hi - n_lo > ENUMERATE else list(range(int(n_lo), int(n_hi) + 1))
        if hidden and primary and real and not (d_lo < small_d and d_hi >= SUPPRESS_MIN):
            numerators = [x for x in numerators if SUPPRESS_MIN <= x <= SUPPRESS_MAX] or numerators
        return (len(numerators) == 1 and numerators[0] != 0) or (d_lo == d_hi and d_lo != 0)
    lo, hi = int(n_lo), int(n_hi)
    ys = (int(d_lo), int(d_hi))
    seen = _pairs(lo, hi, ys, kind == "proportion", small=hidden and primary)
    if seen is None and hidden and primary:  # no small pair: it was a secondary suppression
        seen = _pairs(lo, hi, ys, kind == "proportion", small=False)
    if seen is None:
        return False
    (x_min, x_max), (y_min, y_max) = seen
    return (x_min == x_max and x_min != 0) or (y_min == y_max and y_min != 0)


def _pairs(
    lo: int, hi: int, ys: tuple[int, int], proportion: bool, small: bool
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The numerators and denominators that some possible (numerator, denominator) pair
    takes, as (least, greatest) of each, or None when no pair is possible: numerators in
    ``lo..hi``, denominators in ``ys``, a numerator no greater than its denominator for a
    proportion and, when ``small``, one of the two a count of 1-7. A count is pinned when
    its least and greatest are one value, so the extremes say all ``_pinned`` needs; each
    numerator's denominators are one run of whole numbers, so one pass over the numerators
    finds them (listing every pair was the square of the ranges' widths, most of a 1M
    indicators run)."""
    x_min = x_max = y_min = y_max = None
    for x in range(lo, hi + 1):
        y_lo, y_hi = (max(ys[0], x) if proportion else ys[0]), ys[1]
        if small and not 1 <= x <= SUPPRESS_MAX:
            y_lo, y_hi = max(y_lo, 1), min(y_hi, SUPPRESS_MAX)
        if y_lo > y_hi:
            continue
        if x_min is None:
            x_min, y_min, y_max = x, y_lo, y_hi
        x_max = x
        y_min, y_max = min(y_min, y_lo), max(y_max, y_hi)
    if x_min is None:
        return None
    return (x_min, x_max), (y_min, y_max)


def _leaks(rows: list[dict], kind: str) -> list[str]:
    """Rows of one group with a count an onlooker can pin down (see ``_pinned``)."""
    nb = count_bounds(rows, "numerator", False)
    db = count_bounds(rows, "denominator", kind == "crude_rate")
    hidden: dict[tuple, int] = {}
    for r in rows:
        key = (r["level"], r["parent_id"], r.get("breakdown", ""))
        hidden[key] = hidden.get(key, 0) + int(r["suppressed"])
    out = []
    for r in rows:
        primary = hidden[(r["level"], r["parent_id"], r.get("breakdown", ""))] == 1
        if kind == "median":  # the denominator is the only count
            lo, hi = db[r["org_id"]]
            if r["suppressed"] and primary:
                lo, hi = _clamp(lo, hi, SUPPRESS_MAX)
            if lo == hi and lo != 0:
                out.append(r["org_id"])
            continue
        if _pinned(r, nb[r["org_id"]], db[r["org_id"]], kind, primary):
            out.append(r["org_id"])
    return out


LEVEL_ORDER = {"practice": 0, "neighbourhood": 1, "locality": 2}


def _hidden(rows: list[dict], org_id: str) -> list[dict]:
    return [
        {**r, "suppressed": True, "numerator": None, "denominator": None}
        if r["org_id"] == org_id
        else r
        for r in rows
    ]


def _next_to_hide(rows: list[dict], kind: str, leaks=None) -> str | None:
    """The shown row whose suppression leaves the fewest rows that can be pinned (by
    ``leaks``, ``_leaks`` unless given); among equals a practice before a neighbourhood
    before the locality, then the smallest denominator, then the lowest id. Hiding a total
    whose parts are all shown would achieve nothing (it is their sum), and this search never
    prefers it.

    The rows are tried in that tie-break order, and the first whose suppression leaves
    nothing pinned is the answer: no row can leave fewer, and every row after it loses the
    tie. Each try differences the whole group, so trying every row made the search grow with
    the square of a group's rows (a locality's practices): at 1M patients it was most of an
    indicators run. Usually the first few rows tried are enough."""
    leaks = leaks or _leaks
    order = sorted(
        (r for r in rows if not (r["suppressed"] or r.get("fixed"))),
        key=lambda r: (LEVEL_ORDER.get(r["level"], 3), r["denominator"] or 0, r["org_id"]),
    )
    best, fewest = None, None
    for r in order:  # in tie-break order, so an equal count never displaces an earlier row
        left = len(leaks(_hidden(rows, r["org_id"]), kind))
        if fewest is None or left < fewest:
            best, fewest = r["org_id"], left
        if left == 0:
            break
    return best


class Memo:
    """Rule 4's answers by their question: the rows one group (an indicator, month and
    subgroup) was searched with, as a digest, and the rows the search hid. The search is a
    function of those rows alone, so a group whose rows are the same as in an earlier run
    (a month the indicators run reused, ``indicators/reuse.py``) takes the earlier answer
    instead of searching again: the same answer, without the cost. ``seen`` holds what this
    run asked, which is what the next run keeps."""

    def __init__(self, known: dict[str, list] | None = None) -> None:
        self.known = dict(known or {})
        self.seen: dict[str, list] = {}
        self.hits = 0

    def answer(self, kind: str, rows: list[dict], search) -> list:
        digest = hashlib.sha256(repr((kind, rows)).encode()).hexdigest()
        if digest in self.known:
            self.hits += 1
            found = self.known[digest]
        else:
            found = search()
        self.seen[digest] = found
        return found


def _search(rows: list[dict], kind: str, leaks=None) -> list[str]:
    """Rule 4 in one group: the rows hidden, in order, until nothing can be pinned."""
    leaks = leaks or _leaks
    hidden = []
    while leaks(rows, kind):
        target = _next_to_hide(rows, kind, leaks)
        if target is None:
            break
        rows = _hidden(rows, target)
        hidden.append(target)
    return hidden


def secondary(
    df: pl.DataFrame,
    counts: list[str],
    derived: list[str],
    kinds: dict[str, str],
    memo: Memo | None = None,
) -> pl.DataFrame:
    """Rule 4: difference our own output as an onlooker would (``count_bounds``) and, while
    any count in a group can be pinned down, suppress one more row (``_next_to_hide``).
    Groups are one indicator, month and subgroup over practice -> neighbourhood ->
    locality. ``memo``: answers from an earlier run, for groups with the same rows."""
    memo = memo or Memo()
    extra: list[tuple] = []
    columns = [*GROUP, "level", "org_id", "parent_id", "suppressed", *counts]
    for key, group in df.select(columns).group_by(GROUP, maintain_order=True):
        rows = group.to_dicts()
        kind = kinds.get(key[0], "proportion")
        for target in memo.answer(kind, rows, lambda: _search(rows, kind)):  # noqa: B023
            extra.append((*key, target))
    if not extra:
        return df
    more = pl.DataFrame(
        extra, schema={**{c: df.schema[c] for c in GROUP}, "org_id": pl.String}, orient="row"
    ).with_columns(_also=pl.lit(True))
    df = df.join(more, on=[*GROUP, "org_id"], how="left", nulls_equal=True)
    df = df.with_columns(suppressed=pl.col("suppressed") | pl.col("_also").fill_null(False))
    return _hide(df.drop("_also"), counts, derived)


# ---------------------------------------------------------------------------------------------
# Rule 3: every derived figure from the rounded counts
# ---------------------------------------------------------------------------------------------


def _with_month(df: pl.DataFrame) -> pl.DataFrame:
    """The month index back from its ``YYYY-MM`` label (trends compare with 12 months
    earlier)."""
    year = pl.col("period").str.slice(0, 4).cast(pl.Int32)
    month = pl.col("period").str.slice(5, 2).cast(pl.Int32)
    return df.with_columns(_month=year * 12 + month - 1)


def _rederive_rates(indicator: Indicator, shown: pl.DataFrame) -> pl.DataFrame:
    """Value, intervals, peer, funnel, status, ranks and trend of the shown (not suppressed)
    rows of one proportion or crude rate, from their rounded counts, with the functions the
    exact figures use (``compute``). Returns ``ROW`` + ``DERIVED`` + ``peer_value``."""
    keys = ["_month", *[c for c in ROW if c != "period"]]
    base = compute.summarise(indicator, shown.select(*keys, *COUNTS), keys, None)
    by = ["_month", "subgroup"]
    locality = base.filter(pl.col("level") == "locality")
    parts = [locality]
    for level in ("practice", "neighbourhood"):
        rows = compute.with_funnel(indicator, base.filter(pl.col("level") == level), locality, by)
        if level == "practice":
            rows = compute.with_ranks(rows, by)
        parts.append(rows)
    rows = pl.concat(parts, how="diagonal_relaxed").rename({"_month": "period"})
    rows = compute.with_trend(indicator, rows, ["level", "org_id", "parent_id", "subgroup"])
    return rows.rename({"period": "_month"})


def _rederive(indicator: Indicator, rows: pl.DataFrame) -> pl.DataFrame:
    """One indicator's disclosed rows with every derived column recalculated (rule 3) or,
    for an age-standardised rate, withheld (rule 5)."""
    derived = [*DERIVED, "peer_value"]
    if indicator.type == "dsr":
        return rows.with_columns(*[pl.lit(None, rows.schema[c]).alias(c) for c in derived])
    if indicator.type == "median":
        return rows.with_columns(
            value=(pl.col("value") + 0.5).floor(),
            change_12m=pl.lit(None, pl.Float64),
            decile=pl.lit(None, rows.schema["decile"]),
            percentile_rank=pl.lit(None, pl.Float64),
            trend=pl.lit(None, pl.String),
        )
    if indicator.type not in DERIVABLE:
        raise ValueError(f"{indicator.id}: no published derivation for type {indicator.type}")
    rows = _with_month(rows)
    shown = rows.filter(~pl.col("suppressed"))
    keys = ["_month", *[c for c in ROW if c != "period"]]
    fresh = _rederive_rates(indicator, shown) if shown.height else None
    out = rows.drop(derived)
    if fresh is None:
        out = out.with_columns(*[pl.lit(None, rows.schema[c]).alias(c) for c in derived])
    else:
        fresh = fresh.select(
            *keys, *[pl.col(c).cast(rows.schema[c]) for c in derived if c in fresh.columns]
        )
        out = out.join(fresh, on=keys, how="left", nulls_equal=True)
        missing = [c for c in derived if c not in out.columns]
        out = out.with_columns(*[pl.lit(None, rows.schema[c]).alias(c) for c in missing])
    return out.select(rows.columns).drop("_month")


def publish_values(
    values: pl.DataFrame, library: tuple[Indicator, ...], memo: Memo | None = None
) -> pl.DataFrame:
    """The publishable indicator values (practices, neighbourhoods, the locality; every
    month and subgroup) after rules 1 to 5."""
    by_id = {i.id: i for i in library}
    kinds = {i.id: i.type for i in library}
    out = secondary(disclose(values, COUNTS, DERIVED), COUNTS, DERIVED, kinds, memo)
    parts = [
        _rederive(by_id[indicator_id], rows)
        for (indicator_id,), rows in out.group_by(["indicator_id"], maintain_order=True)
    ]
    return pl.concat(parts, how="vertical_relaxed") if parts else out


def publish_quintiles(
    quintiles: pl.DataFrame,
    library: tuple[Indicator, ...],
    values: pl.DataFrame | None = None,
    memo: Memo | None = None,
) -> pl.DataFrame:
    """Values by deprivation quintile after rules 1 to 5 (value and intervals from the
    rounded counts). Rule 4 treats the quintiles as what they are: each neighbourhood's (and
    the locality's) quintiles sum to its row of the published indicator values (``values``,
    from ``publish_values``), and each neighbourhood's quintile is part of the locality's;
    quintile rows are suppressed until no count can be pinned from the two tables together
    or from the quintiles alone (``_joint_and_alone_leaks``)."""
    out = disclose(quintiles, COUNTS, INTERVALS)
    if values is None:
        out = _secondary_by_quintile(out, library)
    else:
        out = _secondary_with_values(out, values, library, memo)
    by_id = {i.id: i for i in library}
    parts = []
    keys = ["indicator_id", "period", "subgroup", "level", "org_id", "imd_quintile"]
    for (indicator_id,), rows in out.group_by(["indicator_id"], maintain_order=True):
        indicator = by_id[indicator_id]
        if indicator.type in DERIVABLE:
            shown = rows.filter(~pl.col("suppressed"))
            fresh = compute.summarise(indicator, shown.select(*keys, *COUNTS), keys, None)
            rows = rows.drop(INTERVALS).join(
                fresh.select(*keys, *INTERVALS), on=keys, how="left", nulls_equal=True
            )
        elif indicator.type == "median":
            rows = rows.with_columns(value=(pl.col("value") + 0.5).floor())
        else:
            rows = rows.with_columns(*[pl.lit(None, pl.Float64).alias(c) for c in INTERVALS])
        parts.append(rows.select(out.columns))
    return pl.concat(parts, how="vertical_relaxed") if parts else out


def _secondary_by_quintile(rows: pl.DataFrame, library) -> pl.DataFrame:
    """Rule 4 within each quintile: neighbourhoods are the parts of the locality's row."""
    locality = rows.filter(pl.col("level") == "locality")["org_id"].unique().to_list()
    tagged = rows.with_columns(
        _subgroup=pl.col("subgroup"),
        subgroup=pl.col("subgroup") + "/" + pl.col("imd_quintile").cast(pl.String),
        parent_id=pl.when(pl.col("level") == "neighbourhood").then(
            pl.lit(locality[0] if locality else None, pl.String)
        ),
    )
    kinds = {i.id: i.type for i in library}
    out = secondary(tagged, COUNTS, INTERVALS, kinds)
    return out.with_columns(subgroup=pl.col("_subgroup")).drop("_subgroup", "parent_id")


def _secondary_with_values(
    quintiles: pl.DataFrame, values: pl.DataFrame, library, memo: Memo | None = None
):
    """Rule 4 over the indicator values and their quintiles together (see
    ``publish_quintiles``); only quintile rows are suppressed here (the values are already
    published)."""
    memo = memo or Memo()
    kinds = {i.id: i.type for i in library}
    columns = [*GROUP, "level", "org_id", "suppressed", *COUNTS]
    shown_values = {
        key: group.to_dicts() for key, group in values.select(*columns, "parent_id").group_by(GROUP)
    }
    locality = values.filter(pl.col("level") == "locality")["org_id"].unique().to_list()
    top = locality[0] if locality else None
    extra: list[tuple] = []
    q_columns = [*columns, "imd_quintile"]
    for key, group in quintiles.select(q_columns).group_by(GROUP, maintain_order=True):
        parts = []
        for r in group.to_dicts():
            q = f"q{r['imd_quintile']}"
            parts.append(
                {
                    **r,
                    "org_id": f"{r['org_id']}/{q}",
                    "parent_id": r["org_id"],
                    "breakdown": "imd",
                    "also_part_of": [f"{top}/{q}"] if r["level"] == "neighbourhood" else [],
                }
            )
        rows = [{**v, "fixed": True} for v in shown_values.get(key, [])] + parts
        kind = kinds.get(key[0], "proportion")
        search = lambda: _search(rows, kind, _joint_and_alone_leaks)  # noqa: B023, E731
        for target in memo.answer(f"{kind}+quintiles", rows, search):
            org, q = target.split("/")
            extra.append((*key, org, int(q[1:])))
    if not extra:
        return quintiles
    more = pl.DataFrame(
        extra,
        schema={
            **{c: quintiles.schema[c] for c in GROUP},
            "org_id": pl.String,
            "imd_quintile": quintiles.schema["imd_quintile"],
        },
        orient="row",
    ).with_columns(_also=pl.lit(True))
    out = quintiles.join(more, on=[*GROUP, "org_id", "imd_quintile"], how="left")
    out = out.with_columns(suppressed=pl.col("suppressed") | pl.col("_also").fill_null(False))
    return _hide(out.drop("_also"), COUNTS, INTERVALS)


def _quintiles_alone(rows: list[dict]) -> list[list[dict]]:
    """The quintile rows of ``_secondary_with_values`` as the inequalities table shows them
    on its own: one group per quintile, the neighbourhoods the parts of the locality."""
    by_quintile: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("breakdown") != "imd":
            continue
        q = r["org_id"].split("/")[1]
        parent = r["also_part_of"][0] if r["also_part_of"] else None
        part = {**r, "parent_id": parent, "breakdown": "", "also_part_of": []}
        by_quintile.setdefault(q, []).append(part)
    return list(by_quintile.values())


def _joint_and_alone_leaks(rows: list[dict], kind: str) -> list[str]:
    """Rows an onlooker can pin from the values and quintiles together (``_leaks`` on the
    joint rows) or from the inequalities table alone. Neither view covers the other: the
    joint one bounds counts more tightly, but a neighbourhood's quintile that is the only
    one hidden among the neighbourhoods of that quintile looks like a primary suppression
    (a count of 1-7) only in the table alone, where its siblings are the other
    neighbourhoods rather than its own other quintiles."""
    out = set(_leaks(rows, kind))
    for group in _quintiles_alone(rows):
        out.update(_leaks(group, kind))
    return sorted(out)


def publish_outcomes(outcomes: pl.DataFrame, per: float, target_reduction: float) -> pl.DataFrame:
    """Admissions, A&E and bed days after rules 1-4: events and person-years suppressed or
    rounded (neighbourhoods are the parts of the locality's month), and every rate (monthly,
    rolling 12 months, baseline, target, change, share of the way) recalculated from the
    rounded monthly figures. A rolling or baseline rate with a suppressed month in it is
    suppressed."""
    if outcomes.height == 0:
        return outcomes
    counts = ["events", "person_years"]
    rates = [
        "rate_per_1000",
        "rolling_12m_rate",
        "baseline_rate",
        "target_rate",
        "change_vs_baseline_pct",
        "share_of_way",
    ]
    out = disclose(outcomes, counts, rates)
    locality = out.filter(pl.col("level") == "locality")["org_id"].unique().to_list()
    tagged = out.rename({"events": "numerator", "person_years": "denominator"}).with_columns(
        _indicator=pl.col("indicator_id"),
        indicator_id=pl.col("measure"),
        subgroup=pl.lit("all"),
        parent_id=pl.when(pl.col("level") == "neighbourhood").then(
            pl.lit(locality[0] if locality else None, pl.String)
        ),
    )
    tagged = secondary(tagged, COUNTS, rates, {m: "crude_rate" for m in out["measure"]})
    out = _with_month(
        tagged.rename({"numerator": "events", "denominator": "person_years"})
        .with_columns(indicator_id=pl.col("_indicator"))
        .drop("_indicator", "subgroup", "parent_id")
    )
    keys = ["measure", "level", "org_id"]
    start = pl.col("baseline_year").str.slice(0, 4).cast(pl.Int32) * 12 + 3  # April
    in_base = (pl.col("_month") >= start) & (pl.col("_month") < start + 12)
    hidden = pl.col("suppressed").cast(pl.Int32)
    out = out.sort([*keys, "_month"]).with_columns(
        rate_per_1000=pl.col("events") / pl.col("person_years") * per,
        _ev=pl.col("events").rolling_sum(12).over(keys),
        _py=pl.col("person_years").rolling_sum(12).over(keys),
        _hid=hidden.rolling_sum(12).over(keys),
        _span=pl.col("_month").diff(11).over(keys),
        _bev=pl.col("events").filter(in_base).sum().over(keys),
        _bpy=pl.col("person_years").filter(in_base).sum().over(keys),
        _bhid=hidden.filter(in_base).sum().over(keys),
        _bn=in_base.sum().over(keys),
    )
    rolling = pl.when((pl.col("_span") == 11) & (pl.col("_hid") == 0)).then(
        pl.col("_ev") / pl.col("_py") * per
    )
    baseline = pl.when((pl.col("_bn") == 12) & (pl.col("_bhid") == 0)).then(
        pl.col("_bev") / pl.col("_bpy") * per
    )
    out = out.with_columns(rolling_12m_rate=rolling, baseline_rate=baseline).with_columns(
        target_rate=pl.col("baseline_rate") * (1 - target_reduction)
    )
    out = out.with_columns(
        change_vs_baseline_pct=(pl.col("rolling_12m_rate") / pl.col("baseline_rate") - 1) * 100,
        share_of_way=(pl.col("baseline_rate") - pl.col("rolling_12m_rate"))
        / (pl.col("baseline_rate") - pl.col("target_rate")),
    )
    return out.select(*outcomes.columns, "suppressed")
