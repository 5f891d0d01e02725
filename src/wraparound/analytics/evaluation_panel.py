"""The evaluation's panels, over the engine: the intervention's group, followed month by month
at every practice of the locality, treated or not.

* **The group** is fixed on the cohort date (``Intervention.cohort_date``, the earliest
  start): patients registered and alive then who meet the intervention's ``[group]`` rule
  (an eFI category, for those 65 and over, or a register; the same rule the generator uses
  to simulate an effect). Each belongs to the practice they were registered with that day,
  for the whole window (an intention-to-treat assignment: a later move does not move them).
* **Exposure**: each member's registered, living person-days in each month (from the
  registrations and deaths, as ``population.person_days_by_period`` counts them), in
  person-months.
* **Outcomes**: the members' attended emergency admissions and A&E attendances starting in
  the month, and excess bed days (days beyond the 14-day trim point of
  ``data/indicators/excess_bed_days_rate.toml``, counted in the month of admission).

Comparison practices follow the same kind of patient from the same day, so the group's
own dynamics (deaths, regression to the mean after being identified) are the same on both
sides of the difference-in-differences.
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl
import pyarrow as pa
from ibis import _

from wraparound import clinical
from wraparound.analytics import frailty
from wraparound.analytics.population import registered_on
from wraparound.interventions import Intervention

OUTCOMES = ("emergency_admissions", "ae_attendances", "excess_bed_days")
TRIM_DAYS = 14
DAYS_PER_MONTH = 365.25 / 12


def months(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of every month from ``first``'s to ``last``'s."""
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(dt.date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + 1, 1, 1) if d.month == 12 else dt.date(d.year, d.month + 1, 1)


def window(engine) -> tuple[dt.date, dt.date]:
    """The months with encounters: from the first whole month to the month of the last."""
    enc = engine.table("encounters")
    row = engine.to_arrow(enc.aggregate(first=enc.start.min(), last=enc.start.max()))
    first, last = row.column("first")[0].as_py(), row.column("last")[0].as_py()
    if first is None:
        raise ValueError("the warehouse has no encounters to evaluate")
    first = first.date()
    first_month = _next_month(first) if first.day > 1 else first
    return first_month, last.date().replace(day=1)


def cohort(engine, intervention: Intervention) -> ibis.Table:
    """The group on the cohort date: patient_id, practice_id, age, sex, lsoa."""
    on = intervention.cohort_date
    people = registered_on(engine, on)
    flags = []
    if intervention.efi_categories:
        scored = frailty.efi(engine, people.select("patient_id", "age"), on)
        frail = scored.filter(scored.efi_category.isin(list(intervention.efi_categories)))
        flags.append(frail.select("patient_id"))
    if intervention.registers:
        rules = {r.register_id: r for r in clinical.registers()}
        codes = [c for reg in intervention.registers for c in rules[reg].codes]
        cond = engine.table("conditions")
        on_register = cond.filter(
            cond.code.isin(codes)
            & (cond.onset_date <= on)
            & (cond.abatement_date.isnull() | (cond.abatement_date > on))
        )
        flags.append(on_register.select("patient_id"))
    chosen = flags[0]
    for f in flags[1:]:
        chosen = chosen.union(f)
    return people.semi_join(chosen.distinct(), "patient_id")


def build(
    engine, intervention: Intervention, span: tuple[dt.date, dt.date] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The monthly practice panel (columns in ``analytics/evaluation.py``) and one row per
    practice with its characteristics, for the balance table. ``span`` is ``window``'s
    answer when the caller has it already (it scans every encounter)."""
    first, last = span or window(engine)
    if not first < intervention.cohort_date <= last:
        raise ValueError(
            f"{intervention.id} starts {intervention.cohort_date}, outside the warehouse's "
            f"months {first:%Y-%m} to {last:%Y-%m}"
        )
    month_list = months(first, last)
    # The group is read three times below (person-days, events, the practice table), and
    # choosing it scores the whole list's frailty: fetched once and handed back to the
    # engine as a small table (tens of thousands of rows at 1M) instead of recomputed each
    # time, which was a third of the evaluation's time at 1M (docs/evaluation.md).
    group = engine.memtable(engine.to_arrow(cohort(engine, intervention)))
    periods = engine.memtable(
        pa.table(
            {
                "period": pa.array(range(len(month_list)), pa.int64()),
                "start": pa.array(month_list, pa.date32()),
                "end": pa.array([_next_month(m) for m in month_list], pa.date32()),
            }
        )
    )
    assign = group.select("patient_id", home=group.practice_id)
    exposure = (
        _person_days(engine, periods, assign)
        .group_by(["home", "period"])
        .agg(exposure=_.days.sum() / DAYS_PER_MONTH)
    )
    enc = engine.table("encounters")
    enc = enc.filter(
        enc.kind.isin(["emergency_admission", "ae_attendance"])
        & (enc.status == "attended")
        & (enc.start.date() >= first)
        & (enc.start.date() < _next_month(last))
    ).join(assign, "patient_id")
    stay = enc.end.delta(enc.start, unit="day")
    enc = enc.mutate(
        period=(enc.start.year() - first.year) * 12 + enc.start.month() - first.month,
        excess=ibis.ifelse(
            (enc.kind == "emergency_admission") & enc.end.notnull(),
            (stay - TRIM_DAYS).clip(lower=0),
            0,
        ),
    )
    counts = enc.group_by(["home", "period"]).agg(
        emergency_admissions=(enc.kind == "emergency_admission").sum(),
        ae_attendances=(enc.kind == "ae_attendance").sum(),
        excess_bed_days=enc.excess.sum(),
    )
    exposure_df = pl.from_arrow(engine.to_arrow(exposure))
    counts_df = pl.from_arrow(engine.to_arrow(counts))
    practices = _practices(engine, group, intervention, first)
    grid = practices.select("practice_id", "first_treated").join(
        pl.DataFrame(
            {"period": list(range(len(month_list))), "month": month_list},
            schema={"period": pl.Int64, "month": pl.Date},
        ),
        how="cross",
    )
    panel = (
        grid.join(
            exposure_df.rename({"home": "practice_id"}).with_columns(
                pl.col("period").cast(pl.Int64)
            ),
            on=["practice_id", "period"],
            how="left",
        )
        .join(
            counts_df.rename({"home": "practice_id"}).with_columns(pl.col("period").cast(pl.Int64)),
            on=["practice_id", "period"],
            how="left",
        )
        .with_columns(
            pl.col("exposure").fill_null(0.0).cast(pl.Float64),
            *[pl.col(o).fill_null(0).cast(pl.Float64) for o in OUTCOMES],
        )
        .sort(["practice_id", "period"])
    )
    pre = panel.filter(pl.col("month") < intervention.cohort_date)
    pre_rates = pre.group_by("practice_id").agg(
        *[
            (1000 * pl.col(o).sum() / pl.col("exposure").sum().clip(lower_bound=1e-9)).alias(
                f"pre_{o}_rate"
            )
            for o in OUTCOMES
        ]
    )
    practices = practices.join(pre_rates, on="practice_id", how="left")
    return panel, practices


def _person_days(engine, periods: ibis.Table, assign: ibis.Table) -> ibis.Table:
    """Registered, living person-days of the group's members in each period (the
    ``population.person_days_by_period`` definition), restricted to the members before the
    range join, so a million-patient list is not expanded month by month: home, period,
    days."""
    reg = engine.table("registrations").semi_join(assign, "patient_id")
    pats = engine.table("patients").semi_join(assign, "patient_id")
    joined = reg.join(pats, "patient_id").join(assign, "patient_id")
    far = ibis.date(9999, 12, 31)
    spells = joined.select(
        "home",
        begin_at=joined.start_date,
        stop_at=ibis.least(joined.end_date.fill_null(far), joined.death_date.fill_null(far)),
    )
    overlap = periods.join(
        spells, (spells.begin_at < periods.end) & (spells.stop_at > periods.start)
    )
    days = ibis.least(overlap.stop_at, overlap.end).delta(
        ibis.greatest(overlap.begin_at, overlap.start), unit="day"
    )
    return overlap.select("home", "period", days=days)


def _practices(
    engine, group: ibis.Table, intervention: Intervention, first_month: dt.date
) -> pl.DataFrame:
    """Every practice with its neighbourhood, start month (null if comparison), list size,
    group size, and the list's share 65 and over and mean IMD decile on the cohort date."""
    orgs = pl.from_arrow(engine.to_arrow(engine.table("organisations")))
    practices = orgs.filter(pl.col("kind") == "practice").select(
        "org_id", "name", pl.col("parent_id").alias("neighbourhood_id")
    )
    on = intervention.cohort_date
    listed = registered_on(engine, on)
    areas = engine.table("areas")
    listed = listed.left_join(areas, "lsoa")
    lists = pl.from_arrow(
        engine.to_arrow(
            listed.group_by("practice_id").agg(
                list_size=_.count(),
                share_65_plus=(_.age >= 65).mean(),
                mean_imd_decile=_.imd_decile.mean(),
            )
        )
    )
    groups = pl.from_arrow(
        engine.to_arrow(
            group.group_by("practice_id").agg(group_size=_.count(), group_mean_age=_.age.mean())
        )
    )
    rows = []
    for r in practices.iter_rows(named=True):
        start = intervention.start_of(r["org_id"], r["neighbourhood_id"])
        rows.append(
            {
                "practice_id": r["org_id"],
                "name": r["name"],
                "neighbourhood_id": r["neighbourhood_id"],
                "start": start,
                "first_treated": None
                if start is None
                else (start.year - first_month.year) * 12 + start.month - first_month.month,
            }
        )
    out = pl.DataFrame(
        rows,
        schema={
            "practice_id": pl.String,
            "name": pl.String,
            "neighbourhood_id": pl.String,
            "start": pl.Date,
            "first_treated": pl.Int64,
        },
    )
    return (
        out.join(lists, on="practice_id", how="left")
        .join(groups, on="practice_id", how="left")
        .with_columns(
            pl.col("group_size").fill_null(0),
            pl.col("list_size").fill_null(0),
            treated=pl.col("first_treated").is_not_null(),
        )
        .filter(pl.col("list_size") > 0)
        .sort("practice_id")
    )
