"""Local QOF achievement over the engine: per practice, scheme line and month of the scheme
year, the numerator, denominator and exceptions; then points and payment (``formulas``), the
year to date, a projection to the year end, and who is still missing.

Each line's indicator gives one row per patient and month in its denominator, with whether
the numerator is met (``compile.patient_rows``, the same rows the indicators run counts).
Exceptions are worked out here from the scheme's personalised care adjustments and count only
for people who did not meet the numerator (a patient who achieved is counted, whatever is
coded), as in QOF. Months are the month ends of the scheme year the data cover: the figure of
a month is the achievement if the year ended that day (the indicator's look-back windows end
there). Opted-out patients are left out, as in every indicator.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import ibis
import polars as pl

from wraparound import clinical
from wraparound.analytics.indicators import compile as compiler
from wraparound.analytics.indicators import periods as months
from wraparound.analytics.local_qof import formulas
from wraparound.analytics.local_qof.scheme import Exception_, Line, Scheme

FOREVER = compiler.FOREVER


class SchemeYearError(ValueError):
    """The data hold no complete month of the scheme year."""


@dataclass(frozen=True)
class Result:
    """``monthly``: one row per practice, line and month. ``year``: one row per practice and
    line at the latest month, with the projection to the year end (the claims). ``missing``:
    the patients (pseudonyms) who would still count this year, per practice and line."""

    monthly: pl.DataFrame
    year: pl.DataFrame
    missing: pl.DataFrame
    first_period: int
    last_period: int
    timings: dict = field(default_factory=dict)


def scheme_periods(scheme: Scheme, data_start: dt.date, data_end: dt.date) -> months.Periods:
    """The complete months of the scheme year within the data."""
    first = months.month_index(scheme.first_day)
    last = months.month_index(scheme.last_day)
    data_last = months.month_index(data_end)
    if data_end != months.month_end(data_last):
        data_last -= 1
    last = min(last, data_last)
    start = max(first, months.month_index(data_start))
    if last < start:
        raise SchemeYearError(
            f"the data ({data_start} to {data_end}) hold no complete month of the "
            f"{scheme.label} scheme year"
        )
    return months.Periods(first=start, last=last, data_start=months.month_index(data_start))


def _in_range(rows: ibis.Table, periods: ibis.Table) -> ibis.Table:
    joined = periods.join(rows, (periods.period >= rows.m_from) & (periods.period <= rows.m_to))
    return joined.select("patient_id", "period").distinct()


def _window(month, n: int):
    return month, month + (n - 1)


def _exception_source(engine, line: Line, rule: Exception_, period_set) -> ibis.Table:
    """(patient_id, m_from, m_to): the months in which the adjustment applies to a patient,
    kept to those overlapping the scheme year (so recent registrations only, not every
    spell)."""
    if rule.kind == "codelist":
        codes = clinical.codelist(str(rule.arg))
        parts = []
        for name, date in (("conditions", "onset_date"), ("observations", "date")):
            t = engine.table(name)
            t = t.filter(t.code.isin(codes) & t[date].notnull())
            first, last = _window(months.column(t[date]), rule.within_months)
            parts.append(t.select("patient_id", m_from=first, m_to=last))
        rows = parts[0].union(parts[1])
    elif rule.kind == "registered_within_months":
        reg = engine.table("registrations")
        first, last = _window(months.column(reg.start_date), int(rule.arg))
        rows = reg.select("patient_id", m_from=first, m_to=last)
    else:  # diagnosed_within_months: the first coding of the denominator's registers
        register_ids = line.indicator.denominator.registers
        codes = sorted(
            {c for r in clinical.registers() if r.register_id in register_ids for c in r.codes}
        )
        cond = engine.table("conditions")
        cond = cond.filter(cond.code.isin(codes) & cond.onset_date.notnull())
        onset = cond.group_by("patient_id").agg(onset=cond.onset_date.min())
        first, last = _window(months.column(onset.onset), int(rule.arg))
        rows = onset.select("patient_id", m_from=first, m_to=last)
    return rows.filter((rows.m_to >= period_set.first) & (rows.m_from <= period_set.last))


class _Sources:
    """Each adjustment's source rows, run once per scheme and shared by the lines that use
    it (every line excepts recent registrations: one scan, not four)."""

    def __init__(self, engine, period_set) -> None:
        self.engine = engine
        self.period_set = period_set
        self._cache: dict[tuple, ibis.Table] = {}

    def get(self, line: Line, rule: Exception_) -> ibis.Table:
        diagnosed = rule.kind == "diagnosed_within_months"
        key = (rule, line.indicator.denominator.registers if diagnosed else ())
        if key not in self._cache:
            expr = _exception_source(self.engine, line, rule, self.period_set)
            self._cache[key] = self.engine.memtable(self.engine.to_arrow(expr))
        return self._cache[key]


def line_rows(
    engine, line: Line, periods, inputs: compiler.Inputs, sources: _Sources
) -> ibis.Table:
    """One row per patient and month in the line's denominator: patient_id, period,
    practice_id, met, excepted (an adjustment applies and the numerator is not met)."""
    rows = compiler.patient_rows(engine, line.indicator, periods, inputs)
    rows = rows.select("patient_id", "period", "practice_id", met=rows.met_flag.notnull())
    if not line.exceptions:
        return rows.mutate(excepted=ibis.literal(False))
    parts = [_in_range(sources.get(line, r), periods) for r in line.exceptions]
    excepted = ibis.union(*parts, distinct=True).mutate(exc_flag=ibis.literal(True))
    joined = rows.left_join(excepted, ["patient_id", "period"])
    return joined.select(
        "patient_id",
        "period",
        "practice_id",
        "met",
        excepted=joined.exc_flag.fill_null(False) & ~joined.met,
    )


def list_sizes(engine, periods) -> ibis.Table:
    """Registered, living patients per practice at each month end (opted-out included: the
    list is the list), counted as ``registered_at`` counts them: a patient with overlapping
    registrations on a day once, at the highest practice code.

    Only the patients with more than one registration can overlap, so only they go through
    the per-patient, per-month choice; everyone else's spells are counted straight into the
    practice-month cells. At 1M patients the choice for everyone (ten million patient-months
    grouped by patient) and the join of the result to the patients were half the local QOF
    run's time (docs/benchmarks.md, "Local QOF")."""
    dates = periods.select("period", on=periods.last_day)
    reg = engine.table("registrations")
    pats = engine.table("patients")
    spells = reg.join(pats.select("patient_id", "death_date"), "patient_id").select(
        "patient_id", "practice_id", "start_date", "end_date", "death_date"
    )
    several = reg.group_by("patient_id").agg(n=reg.count())
    several = several.filter(several.n > 1).select("patient_id")

    def on_list(rows: ibis.Table) -> ibis.Table:
        joined = rows.join(
            dates,
            (rows.start_date <= dates.on)
            & (rows.end_date.isnull() | (rows.end_date > dates.on))
            & (rows.death_date.isnull() | (rows.death_date > dates.on)),
        )
        return joined.select("period", "patient_id", "practice_id")

    single = on_list(spells.anti_join(several, "patient_id"))
    multi = on_list(spells.semi_join(several, "patient_id"))
    multi = multi.group_by(["period", "patient_id"]).agg(practice_id=multi.practice_id.max())
    counted = ibis.union(
        single.group_by(["period", "practice_id"]).agg(list_size=single.count()),
        multi.group_by(["period", "practice_id"]).agg(list_size=multi.count()),
    )
    return counted.group_by(["period", "practice_id"]).agg(list_size=counted.list_size.sum())


def compute(
    engine,
    scheme: Scheme,
    inputs: compiler.Inputs,
    data_start: dt.date,
    data_end: dt.date,
    practices: list[str] | None = None,
) -> Result:
    """Every line of ``scheme`` for every practice (``practices``: every practice with a list,
    and any named with none, shown at zero) and month of the year in the data."""
    started = time.perf_counter()
    period_set = scheme_periods(scheme, data_start, data_end)
    periods = engine.memtable(period_set.table())
    sizes = engine.to_polars(list_sizes(engine, periods)).with_columns(
        pl.col("period").cast(pl.Int32), pl.col("list_size").cast(pl.Float64)
    )
    timings = {"list_sizes_s": round(time.perf_counter() - started, 2)}
    sources = _Sources(engine, period_set)
    counts, missing = [], []
    for line in scheme.lines:
        clock = time.perf_counter()
        # Run once, read twice (the counts and who is missing).
        rows = engine.memtable(engine.to_arrow(line_rows(engine, line, periods, inputs, sources)))
        agg = rows.group_by(["period", "practice_id"]).agg(
            numerator=rows.met.cast("int64").sum(),
            denominator=rows.count(),
            exceptions=rows.excepted.cast("int64").sum(),
        )
        counts.append(engine.to_polars(agg).with_columns(code=pl.lit(line.code)))
        last = rows.filter((rows.period == period_set.last) & ~rows.met & ~rows.excepted)
        missing.append(
            engine.to_polars(last.select("practice_id", "patient_id")).with_columns(
                code=pl.lit(line.code), action=pl.lit(line.action)
            )
        )
        timings[f"line:{line.code}_s"] = round(time.perf_counter() - clock, 2)
    grid = _grid(scheme, period_set, sizes, practices)
    cells = pl.concat(counts, how="vertical_relaxed").with_columns(
        pl.col("period").cast(pl.Int32),
        *(pl.col(c).cast(pl.Float64) for c in ("numerator", "denominator", "exceptions")),
    )
    monthly = grid.join(cells, on=["period", "practice_id", "code"], how="left").with_columns(
        *(pl.col(c).fill_null(0.0) for c in ("numerator", "denominator", "exceptions")),
    )
    monthly = payments(monthly, scheme)
    year = project(monthly, scheme, period_set.last)
    missing_df = pl.concat(missing, how="vertical_relaxed").sort(
        ["practice_id", "code", "patient_id"]
    )
    return Result(monthly, year, missing_df, period_set.first, period_set.last, timings)


def _grid(scheme: Scheme, period_set, sizes: pl.DataFrame, practices) -> pl.DataFrame:
    """Every practice x line x month, with its list size (0 where none) and the line's
    parameters."""
    names = sorted(set(sizes["practice_id"].to_list()) | set(practices or []))
    lines = pl.DataFrame(
        {
            "code": [li.code for li in scheme.lines],
            "indicator_id": [li.indicator.id for li in scheme.lines],
            "title": [li.title for li in scheme.lines],
            "lower": [li.lower for li in scheme.lines],
            "upper": [li.upper for li in scheme.lines],
            "max_points": [li.points for li in scheme.lines],
            "pounds_per_point": [li.pounds_per_point for li in scheme.lines],
            "prevalence_reference_pct": [li.prevalence_reference_pct for li in scheme.lines],
        },
        schema_overrides={"prevalence_reference_pct": pl.Float64},
    )
    grid = (
        pl.DataFrame({"practice_id": names}, schema={"practice_id": pl.String})
        .join(
            pl.DataFrame({"period": period_set.indexes}, schema={"period": pl.Int32}), how="cross"
        )
        .join(lines, how="cross")
    )
    return grid.join(sizes, on=["period", "practice_id"], how="left").with_columns(
        pl.col("list_size").fill_null(0.0)
    )


def payments(frame: pl.DataFrame, scheme: Scheme) -> pl.DataFrame:
    """Achievement, points, CPI, APF and payment for rows of counts and line parameters."""
    frame = frame.with_columns(
        achievement=formulas.achievement_expr("numerator", "denominator", "exceptions")
    )
    eligible = pl.col("denominator") - pl.col("exceptions")
    return frame.with_columns(
        points=formulas.points_expr(pl.col("achievement"), "lower", "upper", "max_points"),
        cpi=formulas.cpi_expr("list_size", scheme.average_list_size),
        prevalence=pl.when(pl.col("list_size") > 0).then(
            100.0 * pl.col("denominator") / pl.col("list_size")
        ),
        apf=formulas.apf_expr("denominator", "list_size", "prevalence_reference_pct"),
        patients_to_upper=((pl.col("upper") / 100.0 * eligible - 1e-9).ceil() - pl.col("numerator"))
        .clip(lower_bound=0)
        .cast(pl.Int64),
    ).with_columns(
        payment=pl.col("points") * pl.col("pounds_per_point") * pl.col("cpi") * pl.col("apf")
    )


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys on xs; 0 with fewer than two points."""
    if len(xs) < 2:
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return 0.0 if sxx == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def projected(history: list[tuple[int, float]], last: int, year_end: int) -> float | None:
    """Achievement at the year end from the months so far: the latest achievement plus the
    least-squares monthly trend over the year's months for the months left, within 0..100."""
    if not history:
        return None
    xs = [float(p) for p, _ in history]
    ys = [a for _, a in history]
    latest = dict(history).get(last)
    if latest is None:
        return None
    value = latest + slope(xs, ys) * (year_end - last)
    return max(0.0, min(100.0, value))


def project(monthly: pl.DataFrame, scheme: Scheme, last: int) -> pl.DataFrame:
    """The latest month per practice and line (year to date), with the projected year-end
    achievement, points and payment (list size, CPI and APF held at the latest month)."""
    year_end = months.month_index(scheme.last_day)
    history = (
        monthly.filter(pl.col("achievement").is_not_null())
        .group_by(["practice_id", "code"])
        .agg(pl.col("period"), pl.col("achievement"))
    )
    trend = {
        (r["practice_id"], r["code"]): projected(
            list(zip(r["period"], r["achievement"], strict=True)), last, year_end
        )
        for r in history.iter_rows(named=True)
    }
    latest = monthly.filter(pl.col("period") == last)
    values = [trend.get((p, c)) for p, c in zip(latest["practice_id"], latest["code"], strict=True)]
    latest = latest.with_columns(
        projected_achievement=pl.Series(values, dtype=pl.Float64),
        final=pl.lit(last == year_end),
    )
    return latest.with_columns(
        projected_points=formulas.points_expr(
            pl.col("projected_achievement"), "lower", "upper", "max_points"
        )
    ).with_columns(
        projected_payment=pl.col("projected_points")
        * pl.col("pounds_per_point")
        * pl.col("cpi")
        * pl.col("apf")
    )
