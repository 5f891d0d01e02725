"""The risk model's feature table at an index date, built over the engine.

One row per patient registered and alive on the index date. The index date is the first day
of the outcome window, so every feature uses only what was recorded **before** it: coded
records and medicines up to the day before (``as_of``), encounters that started before the
index date, and a length of stay cut at the index date (an admission still open on the index
date contributes only the days already spent). Nothing here reads the oracle. Look-backs are
a fixed 12 months, so that a feature means the same thing at every index date, whatever
history the warehouse holds; a longer look-back would mean one thing on the training date
(little history) and another on the scoring date.

Age, sex, registration and deprivation are known on the index date itself, and ethnicity is
carried only to report performance by ethnic group: it is not a model feature.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
from ibis import _

from wraparound import clinical
from wraparound.analytics import frailty
from wraparound.analytics.population import registered_on

LOOKBACK_DAYS = 365
CARE_HOME_CODELIST = "carehome_cod"

UTILISATION = {
    # feature: (encounter kind, statuses counted)
    "emergency_admissions": ("emergency_admission", ("attended",)),
    "ae_attendances": ("ae_attendance", ("attended",)),
    "elective_admissions": ("elective_admission", ("attended",)),
    "outpatient_attendances": ("outpatient", ("attended",)),
    "outpatient_dnas": ("outpatient", ("dna",)),
    "gp_contacts": ("gp_appointment", ("attended",)),
    "gp_dnas": ("gp_appointment", ("dna",)),
    "community_contacts": ("community", ("attended",)),
}

IDENTIFIERS = ("patient_id", "practice_id", "sex", "ethnicity", "opted_out")
"""Columns carried for grouping and governance, never given to a model."""


def register_columns() -> list[str]:
    """``ltc_<register_id>`` for every register in ``data/registers.csv``."""
    return [f"ltc_{r.register_id}" for r in clinical.registers()]


def model_features() -> list[str]:
    """The columns a model may use, in a fixed order (the order is part of a model version)."""
    return [
        "age",
        "female",
        "imd_decile",
        *register_columns(),
        "n_ltc",
        *frailty.deficit_columns(),
        "efi_deficits",
        "n_medicines",
        "care_home",
        *UTILISATION,
        "bed_days",
        "days_since_emergency_admission",
    ]


def feature_table(engine, index_date: dt.date) -> ibis.Table:
    """The feature table at ``index_date`` as an Ibis expression (see the module docstring)."""
    as_of = index_date - dt.timedelta(days=1)
    people = _cohort(engine, index_date)
    table = frailty.efi(engine, people, as_of)
    for part in (
        _registers(engine, as_of),
        frailty.polypharmacy(engine, as_of),
        _care_home(engine, as_of),
        _utilisation(engine, index_date),
    ):
        table = table.left_join(part, "patient_id").drop("patient_id_right")
    regs = {r.register_id: r for r in clinical.registers()}
    ltc = {
        f"ltc_{rid}": ((table[f"ltc_{rid}"].fill_null(0) == 1) & (table.age >= r.min_age)).cast(
            "int8"
        )
        for rid, r in regs.items()
    }
    table = table.mutate(**ltc)
    counts = [*UTILISATION, "bed_days", "n_medicines", "care_home"]
    table = table.mutate(
        n_ltc=sum((table[c].cast("int16") for c in ltc), ibis.literal(0, "int16")),
        **{c: table[c].fill_null(0) for c in counts},
    )
    return table.select(
        *IDENTIFIERS, "index_date", "neighbourhood_id", *model_features(), "efi", "efi_category"
    ).order_by("patient_id")


def features(engine, index_date: dt.date) -> pa.Table:
    """The feature table at ``index_date`` as Arrow, sorted by patient_id."""
    return engine.to_arrow(feature_table(engine, index_date))


def _cohort(engine, index_date: dt.date) -> ibis.Table:
    reg = registered_on(engine, index_date)
    pats = engine.table("patients").select("patient_id", "ethnicity")
    areas = engine.table("areas").select("lsoa", "imd_decile")
    orgs = engine.table("organisations")
    practices = orgs.filter(orgs.kind == "practice").select(
        practice_id="org_id", neighbourhood_id="parent_id"
    )
    return (
        reg.join(pats, "patient_id")
        .left_join(areas, "lsoa")
        .drop("lsoa_right")
        .left_join(practices, "practice_id")
        .drop("practice_id_right")
        .mutate(female=(_.sex == "female").cast("int8"), index_date=ibis.literal(index_date))
    )


def _registers(engine, as_of: dt.date) -> ibis.Table:
    """0/1 per register: a current code (onset on or before, not abated), or for obesity the
    latest BMI in the 12 months up to ``as_of`` at 30 or more."""
    rows = [(code, r.register_id) for r in clinical.registers() for code in r.codes]
    codes = engine.memtable(
        pa.table({"code": [c for c, _r in rows], "register_id": [r for _c, r in rows]})
    )
    cond = engine.table("conditions")
    current = cond.filter(
        (cond.onset_date <= as_of) & (cond.abatement_date.isnull() | (cond.abatement_date > as_of))
    )
    coded = current.join(codes, "code").select("patient_id", "register_id")
    bmi30 = [r.register_id for r in clinical.registers() if r.rule == "bmi30"]
    if bmi30:
        obs = engine.table("observations")
        bmi = obs.filter(
            (obs.code == clinical.observation_codes()["bmi"].code)
            & (obs.date > as_of - dt.timedelta(days=LOOKBACK_DAYS))
            & (obs.date <= as_of)
            & obs.value.notnull()
        )
        latest = bmi.mutate(
            rn=ibis.row_number().over(
                group_by="patient_id", order_by=[ibis.desc("date"), ibis.desc("id")]
            )
        )
        obese = latest.filter((latest.rn == 0) & (latest.value >= 30))
        for rid in bmi30:
            coded = coded.union(obese.select("patient_id", register_id=ibis.literal(rid)))
    return coded.group_by("patient_id").agg(
        **{
            f"ltc_{r.register_id}": (_.register_id == r.register_id).any().cast("int8")
            for r in clinical.registers()
        }
    )


def _care_home(engine, as_of: dt.date) -> ibis.Table:
    """Care-home residence where recorded: the latest record says so. The warehouse has no
    "moved out" code, so a record on or before the date counts."""
    codes = engine.memtable(pa.table({"code": clinical.codelist(CARE_HOME_CODELIST)}))
    cond = engine.table("conditions")
    recorded = cond.filter(
        (cond.onset_date <= as_of) & (cond.abatement_date.isnull() | (cond.abatement_date > as_of))
    )
    return (
        recorded.join(codes, "code")
        .select("patient_id")
        .distinct()
        .mutate(care_home=ibis.literal(1, "int8"))
    )


def _utilisation(engine, index_date: dt.date) -> ibis.Table:
    """Counts of contacts in the 12 months before the index date, bed days of emergency
    admissions in that window (cut at the window's ends), and days since the most recent
    emergency admission in it (null if none)."""
    start = index_date - dt.timedelta(days=LOOKBACK_DAYS)
    enc = engine.table("encounters")
    # Compare instants, not dates: converting every start to a date costs more than the rest
    # of the query. Only the few emergency admissions need dates.
    window = enc.filter((enc.start >= _midnight(start)) & (enc.start < _midnight(index_date)))
    aggs = {
        name: ((window.kind == kind) & window.status.isin(statuses)).sum().cast("int32")
        for name, (kind, statuses) in UTILISATION.items()
    }
    counts = window.group_by("patient_id").agg(**aggs)
    adm = window.filter((window.kind == "emergency_admission") & (window.status == "attended"))
    adm = adm.mutate(day=adm.start.date(), end_day=adm.end.date())
    end = ibis.least(adm.end_day.fill_null(index_date), ibis.literal(index_date))
    stays = adm.group_by("patient_id").agg(
        bed_days=end.delta(adm.day, unit="day").clip(lower=0).sum().cast("int32"),
        days_since_emergency_admission=ibis.literal(index_date)
        .delta(adm.day.max(), unit="day")
        .cast("int32"),
    )
    return counts.left_join(stays, "patient_id").drop("patient_id_right")


def _midnight(day: dt.date):
    return ibis.literal(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
