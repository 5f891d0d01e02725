"""Compile an indicator definition to Ibis expressions over the engine.

The output is a small table of *cells*: counts per period, practice, deprivation quintile and
(where events carry one) clinician, plus age band and sex for standardised rates. Everything
above a cell (neighbourhoods, the locality, quintiles, intervals, funnels) is arithmetic on
cells, so the warehouse is scanned once per indicator and every level adds up exactly.

Month arithmetic: a dated record is turned into the range of periods in which it counts (a
blood pressure taken in month ``d`` is "in the last 12 months" for periods ``d .. d + 11``,
and is the *latest* one until the month before the next reading), and that range is joined to
the period table. This avoids one scan of the population per period.

Opted-out patients (national data opt-out) never enter a cell: indicators are published.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pyarrow as pa
from ibis import _

from wraparound import clinical
from wraparound.analytics.indicators import periods as months
from wraparound.analytics.indicators.definition import Condition, Events, Indicator
from wraparound.analytics.population import age_at, person_days_by_period, registered_at

FOREVER = 10**6
"""A month index later than any real one: 'from month m onwards'."""

DAYS_PER_YEAR = 365.25
ESP_BANDS = 19
"""European Standard Population 2013: 5-year bands 0-4 .. 85-89 and 90+."""

DSR_SEXES = ("female", "male")
UNKNOWN_SUBGROUP = "unknown"
"""The subgroup of a broken-down event that does not say which (no specialty recorded)."""


@dataclass(frozen=True)
class Inputs:
    """The optional inputs beyond the warehouse, as Ibis tables (None when absent).

    ``app_events``: patient_id, kind, date. ``risk``: patient_id, stream, efi_category.
    ``app_appointments``: the app's hub appointments (``inputs.APPOINTMENT_SCHEMA``), counted
    with the warehouse's GP appointments."""

    app_events: ibis.Table | None = None
    risk: ibis.Table | None = None
    app_appointments: ibis.Table | None = None
    app_referrals: ibis.Table | None = None
    app_feedback: ibis.Table | None = None


class Context:
    """What every indicator of one run shares: the engine, the periods, the optional inputs,
    and the expensive intermediate tables, computed once: encounters attributed to practices
    and person-time by age band and sex. They are run through the engine to Arrow and handed
    back as memtables (``to_arrow`` / ``memtable``, so any engine can do it) rather than with
    Ibis ``cache``, whose temporary tables this Ibis and SQLGlot pairing cannot drop."""

    def __init__(
        self, engine, period_set: months.Periods, inputs: Inputs, data_end: dt.date
    ) -> None:
        self.engine = engine
        self.period_set = period_set
        self.periods = engine.memtable(period_set.table())
        self.inputs = inputs
        self.data_end = data_end
        self._events: dict[str, ibis.Table] = {}
        self._person_time: ibis.Table | None = None

    def _materialise(self, expr: ibis.Table) -> ibis.Table:
        return self.engine.memtable(self.engine.to_arrow(expr))

    def events(self, kind: str) -> ibis.Table:
        if kind not in self._events:
            self._events[kind] = self._materialise(_attributed_events(self, kind))
        return self._events[kind]

    def person_time(self) -> ibis.Table:
        if self._person_time is None:
            self._person_time = self._materialise(_person_time_cells(self))
        return self._person_time

    def release(self) -> None:
        """Forget the materialised tables, returning their memory."""
        self._events.clear()
        self._person_time = None


@dataclass(frozen=True)
class Compiled:
    """Cells for one indicator. Proportions and medians have one table with both counts;
    rates have the events (numerator) and the person-time (denominator) separately, because
    a month with person-time and no events is a rate of zero, not a missing cell."""

    cells: ibis.Table | None = None
    numerator: ibis.Table | None = None
    denominator: ibis.Table | None = None


def compile_indicator(ctx: Context, indicator: Indicator) -> Compiled:
    unit = indicator.denominator.unit
    if unit == "patients":
        return Compiled(cells=_patient_cells(ctx.engine, indicator, ctx.periods, ctx.inputs))
    if indicator.type == "ratio":
        return Compiled(
            numerator=_ratio_counts(ctx, indicator, indicator.numerator.events),
            denominator=_ratio_counts(ctx, indicator, indicator.denominator.events),
        )
    if unit == "events":
        return Compiled(cells=_event_cells(ctx, indicator))
    if unit == "responses":
        return Compiled(cells=_response_cells(ctx, indicator))
    return Compiled(
        numerator=_rate_events(ctx, indicator), denominator=_person_time(ctx, indicator)
    )


# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------


def _people(engine) -> ibis.Table:
    """Patients who have not opted out, with their deprivation quintile (1 = most deprived)."""
    pats = engine.table("patients")
    areas = engine.table("areas")
    pats = pats.filter(~pats.opted_out.fill_null(False))
    joined = pats.left_join(areas, pats.lsoa == areas.lsoa)
    return joined.select(
        "patient_id",
        "birth_date",
        "sex",
        imd_quintile=((joined.imd_decile.cast("int16") + 1) // 2).cast("int8"),
    )


def _age_filter(expr: ibis.Table, age: str, indicator: Indicator) -> ibis.Table:
    """Rows whose column ``age`` is within the denominator's age limits."""
    den = indicator.denominator
    if den.min_age is not None:
        expr = expr.filter(expr[age] >= den.min_age)
    if den.max_age is not None:
        expr = expr.filter(expr[age] <= den.max_age)
    return expr


def _in_range(rows: ibis.Table, periods: ibis.Table) -> ibis.Table:
    """(patient_id, period) for every period between each row's m_from and m_to."""
    joined = periods.join(rows, (periods.period >= rows.m_from) & (periods.period <= rows.m_to))
    return joined.select("patient_id", "period").distinct()


def _window(condition: Condition, first_month):
    """(m_from, m_to) of the periods in which a record dated in ``first_month`` counts."""
    if (n := condition.param("within_months")) is not None:
        return first_month, first_month + (n - 1)
    if (n := condition.param("older_than_months")) is not None:
        return first_month + n, ibis.literal(FOREVER)
    return first_month, ibis.literal(FOREVER)  # ever


# ---------------------------------------------------------------------------------------------
# Patients registered at the end of each period
# ---------------------------------------------------------------------------------------------


def _register_months(engine, register_ids, periods) -> ibis.Table:
    codes = sorted(
        {code for r in clinical.registers() if r.register_id in register_ids for code in r.codes}
    )
    cond = engine.table("conditions")
    coded = cond.filter(cond.code.isin(codes))
    rows = coded.select(
        "patient_id",
        m_from=months.column(coded.onset_date).fill_null(0),
        m_to=(months.column(coded.abatement_date) - 1).fill_null(FOREVER),
    )
    return _in_range(rows, periods)


def _risk_months(inputs: Inputs, indicator: Indicator, periods) -> ibis.Table:
    den = indicator.denominator
    risk = inputs.risk
    keep = ibis.literal(False)
    if den.risk_streams:
        keep = keep | risk.stream.isin(list(den.risk_streams))
    if den.efi_categories:
        keep = keep | risk.efi_category.isin(list(den.efi_categories))
    cohort = risk.filter(keep).select("patient_id").distinct()
    return cohort.cross_join(periods.select("period"))


def _patient_cells(engine, indicator: Indicator, periods, inputs: Inputs) -> ibis.Table:
    flagged = patient_rows(engine, indicator, periods, inputs)
    return flagged.group_by(["period", "practice_id", "imd_quintile"]).agg(
        numerator=flagged.met_flag.fill_null(0).sum().cast("float64"),
        denominator=_.count().cast("float64"),
    )


def patient_rows(engine, indicator: Indicator, periods, inputs: Inputs) -> ibis.Table:
    """One row per patient and period in a patients indicator's denominator: patient_id,
    period, practice_id, imd_quintile and ``met_flag`` (1 when the numerator is met, else
    null). The cells sum these; the local QOF engine (``analytics/local_qof``) reads them
    per patient to apply personalised care adjustments and list who is missing."""
    den = indicator.denominator
    members = None
    where = list(den.where)
    if den.registers:
        members = _register_months(engine, den.registers, periods)
    if den.risk_streams or den.efi_categories:
        risk = _risk_months(inputs, indicator, periods)
        members = risk if members is None else members.join(risk, ["patient_id", "period"])
    if members is None and where:
        # With no register or cohort, the first condition's (patient, period) pairs are the
        # members: the registered list is then expanded for the patients who have, say, an
        # app event in the month, not for everyone. Semi-joined afterwards, as the others
        # are, it gave the same rows from the whole list (300k patients x 36 months for a
        # few thousand letters: 7 s of the run's 70 at 300k).
        members = _condition_months(engine, where.pop(0), periods, inputs, None)
    dates = periods.select("period", on=periods.last_day)
    among = members.select("patient_id").distinct() if members is not None else None
    registered = registered_at(engine, dates, among=among)
    base = registered if members is None else registered.join(members, ["patient_id", "period"])
    people = _people(engine).select("patient_id", "imd_quintile")
    base = base.join(people, "patient_id").select(
        "patient_id", "period", "practice_id", "imd_quintile", "age"
    )
    base = _age_filter(base, "age", indicator).select(
        "patient_id", "period", "practice_id", "imd_quintile"
    )
    for condition in where:
        base = base.semi_join(
            _condition_months(engine, condition, periods, inputs, base), ["patient_id", "period"]
        )
    met = base.select("patient_id", "period")
    for condition in indicator.numerator.where:
        met = met.semi_join(
            _condition_months(engine, condition, periods, inputs, base), ["patient_id", "period"]
        )
    return base.left_join(met.mutate(met_flag=ibis.literal(1)), ["patient_id", "period"])


def _condition_months(
    engine, condition: Condition, periods, inputs: Inputs, base: ibis.Table | None
) -> ibis.Table:
    """(patient_id, period) pairs in which a patient condition holds, for the patients of
    ``base`` (None: everyone's)."""
    if condition.op == "any":
        parts = [_condition_months(engine, c, periods, inputs, base) for c in condition.children]
        return ibis.union(*parts, distinct=True)

    def among(rows: ibis.Table) -> ibis.Table:
        return rows if base is None else rows.semi_join(base.select("patient_id"), "patient_id")

    if condition.op in ("latest_observation", "observation_recorded"):
        obs = engine.table("observations")
        code = clinical.observation_codes()[condition.arg].code
        rows = among(obs.filter((obs.code == code) & obs.date.notnull()))
        if condition.op == "observation_recorded":
            return _dated(rows, rows.date, condition, periods)
        return _latest(rows, condition, periods)
    if condition.op == "medication_issued":
        meds = engine.table("medications")
        codes = clinical.codelist(condition.arg)
        rows = among(meds.filter(meds.code.isin(codes) & meds.start_date.notnull()))
        return _dated(rows, rows.start_date, condition, periods)
    events = inputs.app_events
    rows = among(events.filter(events.kind == condition.arg))
    return _dated(rows, rows.date, condition, periods)


def _dated(rows, date, condition: Condition, periods) -> ibis.Table:
    first, last = _window(condition, months.column(date))
    return _in_range(rows.select("patient_id", m_from=first, m_to=last), periods)


def _latest(rows, condition: Condition, periods) -> ibis.Table:
    """Periods in which the patient's latest reading (within the window) meets the test: a
    reading is the latest from its own month until the month before the next reading."""
    ordered = rows.mutate(
        next_date=rows.date.lead().over(group_by="patient_id", order_by=[rows.date, rows.id])
    )
    month = months.column(ordered.date)
    first, last = _window(condition, month)
    until = (months.column(ordered.next_date) - 1).fill_null(FOREVER)
    value = ordered.value
    threshold = condition.param("value")
    test = {
        "at_most": value <= threshold,
        "at_least": value >= threshold,
        "below": value < threshold,
        "above": value > threshold,
    }[condition.param("compare")]
    passing = ordered.filter(test).select("patient_id", m_from=first, m_to=ibis.least(last, until))
    return _in_range(passing, periods)


# ---------------------------------------------------------------------------------------------
# Events in each period
# ---------------------------------------------------------------------------------------------


def _attributed_events(ctx: Context, kind: str) -> ibis.Table:
    """Encounters of one kind in the reported months, with the practice the patient was
    registered with on the day, the patient's age then and at the start of the month,
    deprivation quintile, sex, clinician, booking lead time, whether the patient asked to be
    seen urgently, and length of stay. GP appointments also carry the app's hub appointments
    (``Inputs.app_appointments``), alike: whether each was at a hub, its minutes, the need
    its request recorded and whether its access standard was met (null in the warehouse)."""
    enc = ctx.engine.table("encounters")
    if kind == "referral":  # the app's referrals sent, shaped as encounters (inputs.py)
        shape = enc.select(*REFERRAL_COLUMNS).schema()
        enc = ctx.inputs.app_referrals.cast(shape)
    else:
        enc = enc.filter(enc.kind == kind)
    if kind == "gp_appointment":
        enc = _with_app_appointments(ctx, enc)
    enc = enc.mutate(day=enc.start.date())
    enc = enc.mutate(period=months.column(enc.day))
    enc = enc.filter((enc.period >= ctx.period_set.first) & (enc.period <= ctx.period_set.last))
    if ctx.period_set.only is not None and len(ctx.period_set.only) < (
        ctx.period_set.last - ctx.period_set.first + 1
    ):
        enc = enc.filter(enc.period.isin(list(ctx.period_set.only)))
    reg = ctx.engine.table("registrations")
    spells = enc.join(
        reg,
        (enc.patient_id == reg.patient_id)
        & (reg.start_date <= enc.day)
        & (reg.end_date.isnull() | (reg.end_date > enc.day)),
    )
    keys = [
        "id",
        "patient_id",
        "period",
        "day",
        "end",
        "booked_at",
        "status",
        "practitioner_role_id",
        "specialty",
    ]
    if kind == "gp_appointment":
        keys += ["urgent_request", "org_id", "need", "standard_met", "start"]
    if kind == "outpatient":
        keys += ["first_attendance"]
    spells = spells.group_by(keys).agg(practice_id=_.practice_id.max())
    people = _people(ctx.engine)
    joined = spells.join(people, "patient_id")
    stop = joined.end.date().fill_null(ibis.literal(ctx.data_end))
    columns = {
        "age": age_at(joined.birth_date, joined.day).cast("int16"),
        "age_band": _age_band(age_at(joined.birth_date, joined.day.truncate("M"))),
    }
    if kind == "gp_appointment":  # what access indicators need, and no more (memory)
        columns.update(
            clinician=joined.practitioner_role_id,
            lead_days=joined.day.delta(joined.booked_at.date(), unit="day").cast("int32"),
            urgent_request=joined.urgent_request,
            minutes=joined.end.delta(joined.start, unit="minute").cast("float64"),
            hub=joined.org_id.isin(hubs)
            if (hubs := _hub_codes(ctx.engine))
            else ibis.literal(False),
            need=joined.need,
            standard_met=joined.standard_met,
        )
    else:
        columns.update(
            sex=joined.sex,
            specialty=joined.specialty,
            stay_days=stop.delta(joined.day, unit="day").cast("int32"),
        )
    if kind == "outpatient":
        columns.update(first_attendance=joined.first_attendance)
    return joined.select("period", "practice_id", "imd_quintile", "status", **columns)


REFERRAL_COLUMNS = (
    "id",
    "patient_id",
    "start",
    "end",
    "booked_at",
    "status",
    "practitioner_role_id",
    "specialty",
)
"""The encounter columns the app's referrals sent are given (``inputs.REFERRAL_EVENT_SCHEMA``)."""


def _hub_codes(engine) -> list[str]:
    orgs = engine.table("organisations")
    return engine.to_arrow(orgs.filter(orgs.kind == "hub").select("org_id"))["org_id"].to_pylist()


def _with_app_appointments(ctx: Context, enc: ibis.Table) -> ibis.Table:
    """Warehouse GP appointments, and the app's hub appointments after them in the same
    columns (``need`` and ``standard_met`` null for the warehouse's)."""
    columns = ["id", "patient_id", "start", "end", "booked_at", "status", "org_id"]
    columns += ["practitioner_role_id", "urgent_request"]
    enc = enc.select(
        *columns,
        specialty=enc.specialty,
        need=ibis.null("string"),
        standard_met=ibis.null("boolean"),
    )
    app = ctx.inputs.app_appointments
    if app is None:
        return enc
    app = app.select(
        *columns, specialty=ibis.null("string"), need=app.need, standard_met=app.standard_met
    )
    return enc.union(app.cast(enc.schema()))


def _events(ctx: Context, spec: Events) -> ibis.Table:
    ev = ctx.events(spec.kind)
    ev = ev.filter(ev.status.isin(list(spec.status)))
    if spec.urgent_request is not None:  # not recorded (null) is neither
        ev = ev.filter(ev.urgent_request == spec.urgent_request)
    if spec.need:
        ev = ev.filter(ev.need.isin(list(spec.need)))
    if spec.hub is not None:
        ev = ev.filter(ev.hub == spec.hub)
    if spec.first_attendance is not None:  # not recorded (null) is neither
        ev = ev.filter(ev.first_attendance == spec.first_attendance)
    return ev


def _subgroup(ev: ibis.Table, indicator: Indicator):
    """The breakdown's value of each event: its specialty (``unknown`` when none is
    recorded, never the whole-practice row), or null without a breakdown."""
    if indicator.numerator.by == "specialty":
        return ev.specialty.fill_null(UNKNOWN_SUBGROUP)
    return ibis.null("string")


def _ratio_counts(ctx: Context, indicator: Indicator, spec: Events) -> ibis.Table:
    """One side of a ratio: events counted per period, practice, quintile and subgroup. The
    two sides are joined after the engine (``compute.cells_frame``), so a practice with
    events on one side only still has a cell (a numerator of 0, or a denominator of 0: no
    value)."""
    ev = _age_filter(_events(ctx, spec), "age", indicator)
    ev = ev.mutate(subgroup=_subgroup(ev, indicator))
    return ev.group_by(["period", "practice_id", "imd_quintile", "subgroup"]).agg(
        count=_.count().cast("float64")
    )


def _event_cells(ctx: Context, indicator: Indicator) -> ibis.Table:
    ev = _age_filter(_events(ctx, indicator.denominator.events), "age", indicator)
    keys = ["period", "practice_id", "imd_quintile", "clinician"]
    if indicator.numerator.median_of:
        return (
            ev.filter(ev.lead_days.notnull())
            .group_by([*keys, ev.lead_days.name("measure_value")])
            .agg(numerator=ibis.null("float64"), denominator=_.count().cast("float64"))
        )
    met = ibis.literal(True)
    for condition in indicator.numerator.where:
        met = met & _event_test(ev, condition)
    return ev.group_by(keys).agg(
        numerator=met.cast("int64").sum().cast("float64"),
        denominator=_.count().cast("float64"),
    )


def _event_test(ev, condition: Condition):
    if condition.op == "any":
        test = ibis.literal(False)
        for child in condition.children:
            test = test | _event_test(ev, child)
        return test
    if condition.op == "status":
        return ev.status.isin(list(condition.arg))
    if condition.op == "standard_met":
        return ev.standard_met.fill_null(False)
    return ev.lead_days.notnull() & (ev.lead_days <= condition.arg)


# ---------------------------------------------------------------------------------------------
# Survey responses in each period (anonymous: no patient, age or deprivation)
# ---------------------------------------------------------------------------------------------


def _response_cells(ctx: Context, indicator: Indicator) -> ibis.Table:
    """Responses given in the month at each practice: the denominator's answers, and of them
    those the numerator names. A response has no patient, so no quintile or clinician (the
    inequalities table leaves it out) and no opt-out to apply: it was never linked to one."""
    rows = ctx.inputs.app_feedback
    rows = rows.filter(
        rows.answer.isin(list(indicator.denominator.responses.answers)) & rows.practice_id.notnull()
    )
    rows = rows.mutate(period=months.column(rows.month))
    rows = rows.filter((rows.period >= ctx.period_set.first) & (rows.period <= ctx.period_set.last))
    if ctx.period_set.only is not None:
        rows = rows.filter(rows.period.isin(list(ctx.period_set.only)))
    met = ibis.literal(True)
    for condition in indicator.numerator.where:
        met = met & rows.answer.isin(list(condition.arg))
    return rows.group_by(["period", "practice_id"]).agg(
        numerator=met.cast("int64").sum().cast("float64"),
        denominator=_.count().cast("float64"),
        imd_quintile=ibis.null("int8"),
        clinician=ibis.null("string"),
    )


# ---------------------------------------------------------------------------------------------
# Rates: events over person-time
# ---------------------------------------------------------------------------------------------


def _age_band(age):
    return ibis.least(age // 5, ESP_BANDS - 1).cast("int8")


def _band_filter(expr: ibis.Table, indicator: Indicator) -> ibis.Table:
    """Age limits of a rate, on 5-year bands (the definition checks they fall on bands)."""
    den = indicator.denominator
    if den.min_age is not None:
        expr = expr.filter(expr.age_band >= den.min_age // 5)
    if den.max_age is not None:
        expr = expr.filter(expr.age_band <= den.max_age // 5)
    return expr


def _rate_events(ctx: Context, indicator: Indicator) -> ibis.Table:
    num = indicator.numerator
    ev = _band_filter(_events(ctx, num.events), indicator)
    if num.measure == "excess_bed_days":
        amount = ibis.greatest(ev.stay_days - num.trim_days, 0).cast("float64")
    elif num.measure == "minutes":
        amount = ev.minutes.fill_null(0.0)
    else:
        amount = ibis.literal(1.0)
    ev = ev.mutate(amount=amount, subgroup=_subgroup(ev, indicator))
    keys = ["period", "practice_id", "imd_quintile", "subgroup"]
    if indicator.type == "dsr":
        ev = ev.filter(ev.sex.isin(list(DSR_SEXES)))
        keys += ["age_band", "sex"]
    return ev.group_by(keys).agg(numerator=ev.amount.sum())


def _person_time_cells(ctx: Context) -> ibis.Table:
    """Registered person-days per period, practice, quintile, age band (at the start of the
    period) and sex."""
    periods = ctx.periods
    days = person_days_by_period(ctx.engine, periods.select("period", "start", "end"))
    days = days.filter(~days.opted_out.fill_null(False))
    starts = periods.select("period", period_start="start")
    rows = days.join(starts, "period")
    rows = rows.select(
        *days.columns, age_band=_age_band(age_at(rows.birth_date, rows.period_start))
    )
    people = _people(ctx.engine).select("patient_id", "imd_quintile")
    joined = rows.join(people, "patient_id")
    return joined.group_by(["period", "practice_id", "imd_quintile", "age_band", "sex"]).agg(
        days=joined.days.sum().cast("int64")
    )


def _person_time(ctx: Context, indicator: Indicator) -> ibis.Table:
    rows = _band_filter(ctx.person_time(), indicator)
    keys = ["period", "practice_id", "imd_quintile"]
    if indicator.type == "dsr":
        rows = rows.filter(rows.sex.isin(list(DSR_SEXES)))
        keys += ["age_band", "sex"]
    # Whole days are summed, and divided once: a sum of person-years would depend on the
    # order the engine adds them in, and a month computed alone must equal the same month
    # computed with 35 others (reuse.py), to the last bit.
    return rows.group_by(keys).agg(denominator=rows.days.sum() / DAYS_PER_YEAR)


def esp2013() -> pa.Table:
    """The European Standard Population 2013 (``data/esp2013.csv``): age_band 0-18, weight."""
    text = clinical.package_data_dir().joinpath("esp2013.csv").read_text(encoding="utf-8")
    lines = [line.split(",") for line in text.strip().splitlines()[1:]]
    weights = [float(line[3]) for line in lines]
    if len(weights) != ESP_BANDS or sum(weights) != 100_000:
        raise ValueError("data/esp2013.csv must have 19 bands summing to 100,000")
    return pa.table(
        {
            "age_band": pa.array(range(ESP_BANDS), pa.int8()),
            "weight": pa.array(weights, pa.float64()),
        }
    )
