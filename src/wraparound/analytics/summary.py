"""``wraparound summary``: the headline figures of a warehouse, to check a locality looks
like England (or to see at a glance what a load brought in).

Everything is computed through the engine interface; the reporting date defaults to the
last day with an encounter, and rates use the 12 months up to it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
from ibis import _

from wraparound import clinical
from wraparound.analytics.population import (
    AGE_BANDS,
    age_band,
    age_on,
    person_years,
    registered_on,
)
from wraparound.warehouse.engine import connect


def summarise(warehouse: Path, as_of: dt.date | None = None) -> dict:
    with connect(warehouse) as engine:
        enc = engine.table("encounters")
        if as_of is None:
            last = engine.to_arrow(enc.aggregate(last=enc.start.max())).column("last")[0]
            if not last.is_valid:
                raise ValueError("the warehouse has no encounters to summarise")
            as_of = last.as_py().date()
        window_start = as_of - dt.timedelta(days=365)
        window_end = as_of + dt.timedelta(days=1)
        registered = registered_on(engine, as_of)
        pats = engine.table("patients")
        orgs = engine.table("organisations")
        headline = engine.to_arrow(
            registered.aggregate(registered=_.count(), opted_out=_.opted_out.sum())
        ).to_pylist()[0]
        kinds = engine.to_arrow(orgs.group_by("kind").agg(n=_.count())).to_pylist()
        org_counts = {r["kind"]: r["n"] for r in kinds}
        result = {
            "as_of": as_of.isoformat(),
            "period": {"from": window_start.isoformat(), "to": as_of.isoformat()},
            "patients": int(engine.to_arrow(pats.aggregate(n=_.count())).column("n")[0].as_py()),
            "registered": headline["registered"],
            "opted_out": int(headline["opted_out"] or 0),
            "practices": org_counts.get("practice", 0),
            "neighbourhoods": org_counts.get("neighbourhood", 0),
            "registers": _prevalence(engine, registered, as_of),
        }
        result.update(_hospital_use(engine, window_start, window_end))
        return result


def _prevalence(engine, registered: ibis.Table, as_of: dt.date) -> dict:
    rows = []
    for r in clinical.registers():
        for code in r.codes:
            rows.append({"register_id": r.register_id, "code": code})
    codes = engine.memtable(_arrow(rows, ["register_id", "code"]))
    cond = engine.table("conditions")
    current = cond.filter(
        (cond.onset_date <= as_of) & (cond.abatement_date.isnull() | (cond.abatement_date > as_of))
    )
    coded = current.join(codes, "code").select("patient_id", "register_id").distinct()
    obs = engine.table("observations")
    bmi_code = clinical.observation_codes()["bmi"].code
    bmi = obs.filter(
        (obs.code == bmi_code) & (obs.date > as_of - dt.timedelta(days=365)) & (obs.date <= as_of)
    )
    latest = bmi.mutate(
        rn=ibis.row_number().over(
            group_by="patient_id", order_by=[ibis.desc("date"), ibis.desc("id")]
        )
    )
    obese = latest.filter((latest.rn == 0) & (latest.value >= 30)).select(
        "patient_id", register_id=ibis.literal("obesity")
    )
    on_register = coded.union(obese)
    counts = engine.to_arrow(
        registered.join(on_register, "patient_id")
        .select("register_id", "age")
        .group_by("register_id")
        .agg(**{f"n{r.register_id}": (_.age >= r.min_age).sum() for r in clinical.registers()})
    ).to_pylist()
    by_register = {row["register_id"]: row for row in counts}
    ages = engine.to_arrow(
        registered.aggregate(
            **{f"d{r.register_id}": (_.age >= r.min_age).sum() for r in clinical.registers()}
        )
    ).to_pylist()[0]
    out = {}
    for r in clinical.registers():
        n = int((by_register.get(r.register_id) or {}).get(f"n{r.register_id}") or 0)
        d = int(ages[f"d{r.register_id}"] or 0)
        out[r.register_id] = {
            "name": r.name,
            "count": n,
            "denominator": d,
            "min_age": r.min_age,
            "prevalence_pct": round(100 * n / d, 3) if d else None,
            "reference_pct": r.prevalence_pct,
        }
    return out


def _hospital_use(engine, start: dt.date, end: dt.date) -> dict:
    enc = engine.table("encounters")
    py = person_years(engine, start, end).mutate(band=lambda t: age_band(t.age))
    denominators = {
        r["band"]: r["years"]
        for r in engine.to_arrow(py.group_by("band").agg(years=_.years.sum())).to_pylist()
    }
    total_years = sum(denominators.values())
    in_window = enc.filter(
        (enc.start.date() >= start) & (enc.start.date() < end) & (enc.status == "attended")
    )
    pats = engine.table("patients")
    mid = start + (end - start) / 2
    with_age = in_window.join(pats, "patient_id").mutate(
        band=lambda t: age_band(age_on(t.birth_date, mid))
    )
    counts = engine.to_arrow(with_age.group_by(["kind", "band"]).agg(n=_.count())).to_pylist()
    outpatients = in_window.filter(in_window.kind == "outpatient")
    flags = engine.to_arrow(outpatients.group_by("first_attendance").agg(n=_.count())).to_pylist()
    firsts = sum(r["n"] for r in flags if r["first_attendance"] is True)
    follow_ups = sum(r["n"] for r in flags if r["first_attendance"] is False)

    def total(kind, band=None):
        return sum(
            r["n"] for r in counts if r["kind"] == kind and (band is None or r["band"] == band)
        )

    per_1000 = {
        label: _rate(total("emergency_admission", label), denominators.get(label, 0))
        for _lo, _hi, label in AGE_BANDS
    }
    adm = total("emergency_admission")
    older = sum(total("emergency_admission", b) for b in ("65-74", "75-84", "85+"))
    return {
        "person_years": round(total_years, 1),
        "emergency_admissions": adm,
        "emergency_admissions_per_1000": {
            "overall": _rate(adm, total_years),
            "by_age": per_1000,
        },
        "emergency_admissions_share_65_plus": round(older / adm, 3) if adm else None,
        "ae_attendances": total("ae_attendance"),
        "ae_attendances_per_1000": _rate(total("ae_attendance"), total_years),
        "gp_appointments_per_person_year": (
            round(total("gp_appointment") / total_years, 2) if total_years else None
        ),
        "outpatient_attendances_per_1000": _rate(total("outpatient"), total_years),
        # Attended follow-ups per attended first attendance (England: about 1.5 to 2).
        "outpatient_follow_ups_per_first": round(follow_ups / firsts, 3) if firsts else None,
        "elective_admissions_per_1000": _rate(total("elective_admission"), total_years),
        "community_contacts_per_1000": _rate(total("community"), total_years),
    }


def _rate(count: int, years: float) -> float | None:
    return round(1000 * count / years, 1) if years else None


def _arrow(rows: list[dict], columns: list[str]):
    import pyarrow as pa

    return pa.table({c: [r[c] for r in rows] for c in columns})


def render(summary: dict) -> str:
    """The summary as a short text report."""
    lines = [
        f"As of {summary['as_of']}: {summary['registered']:,} registered patients "
        f"({summary['patients']:,} in the warehouse), {summary['practices']} practices in "
        f"{summary['neighbourhoods']} neighbourhoods; {summary['opted_out']:,} opted out.",
        "",
        f"{'register':<22}{'count':>9}{'prevalence %':>14}{'England %':>11}",
    ]
    for rid, r in summary["registers"].items():
        prev = "-" if r["prevalence_pct"] is None else f"{r['prevalence_pct']:.2f}"
        lines.append(f"{rid:<22}{r['count']:>9,}{prev:>14}{r['reference_pct']:>11.1f}")
    ea = summary["emergency_admissions_per_1000"]
    lines += [
        "",
        f"Emergency admissions per 1,000 a year: {ea['overall']} "
        f"({summary['emergency_admissions_share_65_plus']:.0%} in people aged 65+)"
        if summary["emergency_admissions_share_65_plus"] is not None
        else f"Emergency admissions per 1,000 a year: {ea['overall']}",
        "  by age: " + ", ".join(f"{k} {v}" for k, v in ea["by_age"].items()),
        f"A&E attendances per 1,000 a year: {summary['ae_attendances_per_1000']}",
        f"GP appointments per person a year: {summary['gp_appointments_per_person_year']}",
    ]
    return "\n".join(lines)
