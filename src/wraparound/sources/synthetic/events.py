"""Turning simulated people into warehouse rows: registrations, coded records, medicines,
observations and every kind of encounter, one chunk of patients at a time.

All draws are vectorised over the chunk; the only Python loops are over years, condition
registers and code lists, never over patients or events.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wraparound import clinical
from wraparound.interventions import Intervention
from wraparound.sources.synthetic.clock import (
    US_PER_DAY,
    US_PER_MINUTE,
    day_number,
    local_to_utc_us,
    weekday,
)
from wraparound.sources.synthetic.organisations import ACUTE_TRUST, COMMUNITY_TRUST, Locality
from wraparound.sources.synthetic.params import parameters, sigmoid, step_by_age
from wraparound.sources.synthetic.people import (
    CAREHOME_LIST,
    NO_DAY,
    Calibration,
    Frame,
    People,
    Year,
    ae_rate_shape,
    bmi_recorded_probability,
    deficit_sources,
    efi_at,
    register_rules,
)

US_PER_HOUR = 60 * US_PER_MINUTE
DATE = pa.date32()


@dataclass
class Chunk:
    """Everything the row builders need about one chunk of patients."""

    index: int
    prefix: str  # id prefix, e.g. "s42-c003"
    people: People
    years: list[Year]  # -1 .. frame.years
    frame: Frame
    locality: Locality
    practice: np.ndarray  # practice index of the first (or only) registration
    pseudonyms: pa.Array
    rng: np.random.Generator
    reg_start: np.ndarray | None = None
    stop: np.ndarray | None = None  # first day with no record (left, died, or end of window)
    death: np.ndarray | None = None
    transfer_day: np.ndarray | None = None  # NO_DAY when no transfer
    practice2: np.ndarray | None = None
    # A stream of its own for draws added after the generator was released (the urgent-request
    # flag), so that adding them left every earlier column of every seed as it was.
    extra_rng: np.random.Generator | None = None
    # Another stream of its own for social-care contacts, added later still: drawing them
    # leaves every earlier row of every table (urgent-request flags included) as it was.
    social_rng: np.random.Generator | None = None
    # A stream of its own for outpatient pathways (which appointments start one, and the
    # follow-ups after each first): every other table's draws are as they were.
    pathway_rng: np.random.Generator | None = None
    # A simulated intervention (``synth --intervention``): None leaves every row as before.
    simulation: Simulation | None = None

    def ids(self, kind: str, n: int) -> pa.Array:
        return pc.binary_join_element_wise(
            f"{self.prefix}-{kind}", pc.cast(pa.array(np.arange(n)), pa.string()), ""
        )

    def patient_ids(self, idx: np.ndarray) -> pa.Array:
        return self.pseudonyms.take(pa.array(idx))

    def practice_at(self, idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        moved = self.transfer_day[idx] <= day
        return np.where(moved, self.practice2[idx], self.practice[idx])


@dataclass
class Simulation:
    """A simulated intervention in one chunk: the emergency-admission hazard of the target
    group at the treated practices is multiplied by ``1 + change`` from each practice's start.

    It is done by thinning: every emergency admission the hazard model gave a group member at
    a treated practice on or after its start is kept with probability ``1 + change`` (a
    Poisson process thinned with probability ``q`` is one with rate ``(1 − q)·λ``, first
    admissions and readmissions alike). The draws come from the chunk's own intervention
    stream, after every other draw for the admission, so the rows that stay are exactly the
    rows a run without the intervention writes. A prevented admission takes its A&E
    attendance and its bed days with it; next year's hazard still sees it (the
    previous-year term is not re-simulated). The group is fixed on the cohort date from
    the record as the evaluation will read it: alive, and eFI severe at 65 or over (the
    deficits recorded by then, polypharmacy from medicines in use) or on a named register.
    """

    intervention: Intervention
    change: float
    start_by_practice: np.ndarray  # day each practice started, NO_DAY if it never did
    group: np.ndarray  # bool per patient
    rng: np.random.Generator
    prevented: list = None  # (patient index, day, practice index) arrays per year

    @classmethod
    def of(cls, intervention: Intervention, chunk: Chunk, rng: np.random.Generator):
        loc, people = chunk.locality, chunk.people
        starts = np.full(loc.practice_codes.size, NO_DAY, dtype=np.int64)
        for i, code in enumerate(loc.practice_codes.tolist()):
            nb = loc.neighbourhood_codes[loc.practice_neighbourhood[i]]
            day = intervention.start_of(code, str(nb))
            if day is not None:
                starts[i] = day_number(day)
        cohort = day_number(intervention.cohort_date)
        alive = np.ones(people.n, dtype=bool)
        for y in chunk.years[1:-1]:
            alive &= y.death_day > cohort
        alive &= people.birth <= cohort
        group = np.zeros(people.n, dtype=bool)
        if intervention.efi_categories:
            deficits = np.round(efi_at(people, cohort) * 36).astype(int)
            category = np.select(
                [deficits <= 4, deficits <= 8, deficits <= 12],
                ["fit", "mild", "moderate"],
                "severe",
            )
            group |= (people.age_at(cohort) >= 65) & np.isin(
                category, list(intervention.efi_categories)
            )
        for register in intervention.registers:
            group |= people.cond_onset[register] <= cohort
        return cls(intervention, intervention.simulated_change, starts, group & alive, rng, [])

    def prevent(self, chunk: Chunk, idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Which of these emergency admissions (patient index, day) the intervention
        prevented; one uniform draw per admission, always, so the stream stays aligned."""
        u = self.rng.uniform(0, 1, idx.size)
        practice = chunk.practice_at(idx, day)
        treated = self.group[idx] & (day >= self.start_by_practice[practice])
        out = treated & (u < -self.change)
        self.prevented.append((idx[out], day[out], practice[out]))
        return out

    def oracle(self, chunk: Chunk) -> pa.Table:
        """One row per prevented admission: who, when, at which practice."""
        parts = self.prevented or [(np.empty(0, np.int64),) * 3]
        idx = np.concatenate([p[0] for p in parts]).astype(np.int64)
        day = np.concatenate([p[1] for p in parts]).astype(np.int64)
        practice = np.concatenate([p[2] for p in parts]).astype(np.int64)
        return pa.table(
            {
                "intervention_id": pa.array(np.full(idx.size, self.intervention.id), pa.string()),
                "patient_id": chunk.patient_ids(idx),
                "practice_id": pa.array(chunk.locality.practice_codes[practice], pa.string()),
                "date": _dates(day),
                "kind": pa.array(np.full(idx.size, "emergency_admission"), pa.string()),
            }
        )


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int64).astype(np.int32), DATE)


def _nullable_dates(days: np.ndarray) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    return pa.array(np.where(days >= NO_DAY, 0, days).astype(np.int32), DATE, mask=days >= NO_DAY)


def _ts(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), pa.timestamp("us", tz="UTC"), mask=mask)


# --- registrations and patients --------------------------------------------------------


def registrations(chunk: Chunk) -> pa.Table:
    """GP registration spells; also fixes each patient's record window on the chunk."""
    p = parameters()["population"]
    rng, people, frame = chunk.rng, chunk.people, chunk.frame
    n = people.n
    death = np.full(n, NO_DAY, dtype=np.int64)
    for y in chunk.years[1:-1]:
        death = np.minimum(death, y.death_day)
    born_in_window = people.birth >= frame.start
    joined = (rng.uniform(0, 1, n) < p["joined_share"]) & ~born_in_window
    before = rng.uniform(0, 1, n) * np.minimum((frame.start - people.birth), 20 * 365.25)
    start = np.where(
        born_in_window, people.birth + rng.integers(7, 43, n), frame.start - before.astype(np.int64)
    )
    start = np.where(joined, frame.start + rng.integers(0, 365 * frame.years, n), start)
    start = np.maximum(start, people.birth)
    leave_p = 1 - np.exp(-p["leave_rate"] * frame.years)
    leaves = rng.uniform(0, 1, n) < leave_p
    leave_day = np.maximum(start, frame.start) + (
        rng.uniform(0, 1, n) * (frame.end - np.maximum(start, frame.start))
    ).astype(np.int64)
    leave_day = np.where(leaves & (leave_day > start + 30), leave_day, NO_DAY)
    end = np.minimum(leave_day, death)
    stop = np.minimum(end, frame.end)
    # Joined after they died or left: they were registered for a while before that instead.
    start = np.where(start >= stop, np.maximum(people.birth, stop - 30), start)
    valid = start < stop
    transfer = valid & (rng.uniform(0, 1, n) < p["transfer_share"])
    t_day = start + (rng.uniform(0.2, 0.8, n) * (stop - np.maximum(start, frame.start))).astype(
        np.int64
    )
    t_day = np.maximum(t_day, np.maximum(start, frame.start) + 1)
    transfer &= t_day < stop
    t_day = np.where(transfer, t_day, NO_DAY)
    n_prac = chunk.locality.practice_sizes.size
    practice2 = np.where(
        transfer & (n_prac > 1),
        (chunk.practice + rng.integers(1, max(n_prac, 2), n)) % max(n_prac, 1),
        chunk.practice,
    )
    t_day = np.where(practice2 != chunk.practice, t_day, NO_DAY)
    chunk.reg_start, chunk.stop, chunk.death = start, np.where(valid, stop, start), death
    chunk.transfer_day, chunk.practice2 = t_day, practice2

    idx = np.flatnonzero(valid)
    moved = idx[t_day[idx] < NO_DAY]
    rows_idx = np.concatenate([idx, moved])
    codes = chunk.locality.practice_codes
    practice = np.concatenate([codes[chunk.practice[idx]], codes[practice2[moved]]])
    starts = np.concatenate([start[idx], t_day[moved]])
    ends = np.concatenate([np.where(t_day[idx] < NO_DAY, t_day[idx], end[idx]), end[moved]])
    ends = np.where(ends >= frame.end, NO_DAY, ends)
    return pa.table(
        {
            "id": chunk.ids("r", rows_idx.size),
            "patient_id": chunk.patient_ids(rows_idx),
            "practice_id": pa.array(practice),
            "start_date": _dates(starts),
            "end_date": _nullable_dates(ends),
        }
    )


def patients(
    chunk: Chunk,
    patient_ids: np.ndarray,
    decile_lsoa: np.ndarray,
    ethnicity: np.ndarray,
    opted_out: np.ndarray,
) -> pa.Table:
    people = chunk.people
    death = np.where(chunk.death < chunk.frame.end, chunk.death, NO_DAY)
    return pa.table(
        {
            "id": pa.array(patient_ids),
            "patient_id": chunk.pseudonyms,
            "birth_date": _dates(people.birth),
            "sex": pa.array(np.where(people.female, "female", "male")),
            "ethnicity": pa.array(ethnicity),
            "lsoa": pa.array(decile_lsoa),
            "death_date": _nullable_dates(death),
            "opted_out": pa.array(opted_out),
            "dq_flags": pa.nulls(people.n, pa.string()),
        }
    )


# --- coded records ---------------------------------------------------------------------


@cache
def _register_codes() -> dict[str, frozenset[str]]:
    return {r.register_id: frozenset(r.codes) for r in clinical.registers()}


@cache
def _weighted_codes(codelists: tuple[str, ...], owner: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the lists with weights favouring short, general terms, the way everyday
    coding in general practice favours "Essential hypertension" over rare subtypes.

    Codes that also sit in another register's list (some refsets overlap, e.g. depression
    with psychosis is in both the depression and the SMI lists) are left out, so a record
    drawn for one condition never lands on another register by accident.
    """
    others = frozenset().union(*(c for r, c in _register_codes().items() if r != owner))
    codes, weights = [], []
    for cl in codelists:
        for entry in clinical.codelist_entries(cl):
            if entry.code in others:
                continue
            codes.append(entry.code)
            weights.append(1.0 / len(entry.term) ** 3)
    w = np.array(weights)
    return np.array(codes), w / w.sum()


def _pick_codes(codelists: tuple[str, ...], n: int, rng, owner: str | None = None) -> np.ndarray:
    codes, w = _weighted_codes(codelists, owner)
    return codes[rng.choice(codes.size, size=n, p=w)]


def conditions(chunk: Chunk) -> pa.Table:
    """Register conditions, frailty findings and care-home residence, as coded records.

    History from before registration comes with the record (GP2GP); nothing is recorded
    after the patient left or died.
    """
    rng, people = chunk.rng, chunk.people
    pats, codes, onsets = [], [], []
    rules = register_rules()

    def add(onset: np.ndarray, lists: tuple[str, ...], owner: str | None = None) -> None:
        idx = np.flatnonzero((onset < NO_DAY) & (onset < chunk.stop))
        pats.append(idx)
        codes.append(_pick_codes(lists, idx.size, rng, owner))
        onsets.append(onset[idx])

    for name, onset in people.cond_onset.items():
        add(onset, rules[name].codelists, name)
    for source in deficit_sources():
        if source.deficit_id in people.deficit_onset:
            add(people.deficit_onset[source.deficit_id], source.finding_lists)
    add(people.carehome_onset, (CAREHOME_LIST,))
    idx = np.concatenate(pats)
    return pa.table(
        {
            "id": chunk.ids("c", idx.size),
            "patient_id": chunk.patient_ids(idx),
            "system": pa.array(np.full(idx.size, "snomed")),
            "code": pa.array(np.concatenate(codes)),
            "onset_date": _dates(np.concatenate(onsets)),
            "abatement_date": pa.nulls(idx.size, DATE),
        }
    )


def medications(chunk: Chunk) -> pa.Table:
    """A yearly repeat authorisation (MedicationRequest) for each medicine in use."""
    people, frame, rng = chunk.people, chunk.frame, chunk.rng
    pats, codes, starts = [], [], []
    for k in range(frame.years):
        y0 = frame.year_start(k)
        begin = np.maximum(np.maximum(people.med_start, y0), chunk.reg_start[people.med_patient])
        begin = begin + rng.integers(0, 30, begin.size)
        ok = (begin < y0 + 365) & (begin < chunk.stop[people.med_patient])
        pats.append(people.med_patient[ok])
        codes.append(people.med_code[ok])
        starts.append(begin[ok])
    idx = np.concatenate(pats)
    start = np.concatenate(starts)
    return pa.table(
        {
            "id": chunk.ids("m", idx.size),
            "patient_id": chunk.patient_ids(idx),
            "system": pa.array(np.full(idx.size, "snomed")),
            "code": pa.array(np.concatenate(codes)),
            "start_date": _dates(start),
            "end_date": _dates(start + 364),
            "kind": pa.array(np.full(idx.size, "request")),
        }
    )


# --- observations ----------------------------------------------------------------------


def _events_in_year(
    chunk: Chunk, year: Year, rate: np.ndarray, weekday_share: float = 0.0, rng=None
):
    """Poisson events at ``rate`` per year over each patient's time at risk in ``year``,
    kept only while the patient is registered and alive.

    A ``weekday_share`` of the events belong to weekday-only services: those falling on a
    Saturday move to the Friday and on a Sunday to the Monday, before the registration check,
    so a moved event never lands outside the patient's record. Returns (patient index, day,
    weekday-only flag). Draws come from ``rng``, the chunk's main stream unless given.
    """
    rng = chunk.rng if rng is None else rng
    start = np.clip((chunk.people.birth - year.day) / 365.0, 0, 1)
    counts = rng.poisson(rate * year.exposure)
    idx = np.repeat(np.arange(counts.size), counts)
    frac = start[idx] + rng.uniform(0, 1, idx.size) * year.exposure[idx]
    day = year.day + (frac * 365).astype(np.int64)
    core = rng.uniform(0, 1, idx.size) < weekday_share
    wd = weekday(day)
    day = np.where(core & (wd == 5), day - 1, np.where(core & (wd == 6), day + 1, day))
    keep = (day >= chunk.reg_start[idx]) & (day < chunk.stop[idx])
    return idx[keep], day[keep], core[keep]


def _over_years(chunk: Chunk, rate_of, weekday_share: float = 0.0):
    """Events over every year of the window: ``rate_of(year, age)`` gives each patient's
    yearly rate from their age at mid-year. Returns (patient index, day, weekday-only flag)
    for all years together."""
    parts = [
        _events_in_year(
            chunk, year, rate_of(year, chunk.people.age_at(year.day + 182)), weekday_share
        )
        for year in chunk.years[1:-1]
    ]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


@cache
def _observation_codes() -> dict[str, tuple[str, str]]:
    return {k: (v.code, v.unit) for k, v in clinical.observation_codes().items()}


def observations(chunk: Chunk) -> pa.Table:
    """BMI and weight, HbA1c, blood pressure, eGFR and cholesterol, measured as often as
    each patient's conditions call for; obesity shows as a BMI of 30 or more."""
    people, rng, _frame = chunk.people, chunk.rng, chunk.frame
    n = people.n
    obs_codes = _observation_codes()
    out_idx, out_day, out_kind, out_val = [], [], [], []

    def has(name, day):
        return people.cond_onset[name] <= day

    height = np.where(people.female, rng.normal(1.62, 0.065, n), rng.normal(1.76, 0.07, n))
    bmi = np.where(
        people.obese, rng.uniform(30.5, 42, n), np.clip(rng.normal(25.3, 2.8, n), 17, 29.7)
    )
    hba1c = rng.normal(58, 12, n)
    sbp = np.where(
        people.cond_onset["hypertension"] < NO_DAY, rng.normal(137, 12, n), rng.normal(123, 11, n)
    )
    chol = rng.normal(4.6, 0.9, n)
    egfr = np.where(
        people.cond_onset["ckd"] < NO_DAY, rng.uniform(18, 59, n), rng.normal(82, 12, n)
    )

    def emit(kind, idx, day, values):
        out_idx.append(idx)
        out_day.append(day)
        out_kind.append(np.full(idx.size, kind))
        out_val.append(np.round(values, 1))

    for year in chunk.years[1:-1]:
        mid = year.day + 182
        age = people.age_at(mid)
        # BMI: the recording probability calibrated for the obesity register.
        rec = bmi_recorded_probability(age)
        idx, day, _ = _events_in_year(chunk, year, -np.log1p(-np.clip(rec, 0, 0.95)))
        first = np.unique(idx, return_index=True)[1]
        idx, day = idx[first], day[first]
        emit(
            "bmi",
            idx,
            day,
            bmi[idx] + rng.normal(0, 0.2, idx.size).clip(-0.4, 0.4) * (np.abs(bmi[idx] - 30) > 0.5),
        )
        emit("weight", idx, day, bmi[idx] * height[idx] ** 2)
        dm = has("diabetes", mid)
        ndh = has("ndh", mid)
        rate = np.where(dm, 2.0, np.where(ndh, 1.0, np.where(age >= 40, 0.12, 0.0)))
        idx, day, _ = _events_in_year(chunk, year, rate)
        val = np.where(
            dm[idx],
            hba1c[idx] + rng.normal(0, 5, idx.size),
            np.where(ndh[idx], rng.uniform(42, 47.9, idx.size), rng.normal(37, 2.5, idx.size)),
        )
        emit("hba1c", idx, day, np.clip(val, 25, 150))
        hyp = has("hypertension", mid)
        rate = np.where(hyp, 2.0, np.where(age >= 40, 0.3, np.where(age >= 18, 0.1, 0.0)))
        idx, day, _ = _events_in_year(chunk, year, rate)
        s = np.clip(sbp[idx] + rng.normal(0, 8, idx.size), 85, 220)
        emit("systolic_bp", idx, day, s)
        emit("diastolic_bp", idx, day, np.clip(s * 0.6 + rng.normal(4, 6, idx.size), 45, 130))
        ckd = has("ckd", mid)
        rate = np.where(ckd, 2.0, np.where(dm | hyp, 1.0, np.where(age >= 50, 0.15, 0.0)))
        idx, day, _ = _events_in_year(chunk, year, rate)
        emit("egfr", idx, day, np.clip(egfr[idx] + rng.normal(0, 4, idx.size), 5, 120))
        cvd = has("chd", mid) | has("stroke", mid) | dm
        rate = np.where(cvd, 1.0, np.where(age >= 40, 0.1, 0.0))
        idx, day, _ = _events_in_year(chunk, year, rate)
        emit(
            "total_cholesterol", idx, day, np.clip(chol[idx] + rng.normal(0, 0.3, idx.size), 2, 10)
        )
    idx = np.concatenate(out_idx)
    kinds = np.concatenate(out_kind)
    code = np.array([obs_codes[k][0] for k in _KINDS])
    unit = np.array([obs_codes[k][1] for k in _KINDS])
    kind_i = np.searchsorted(_KINDS_SORTED, kinds)
    order = _KIND_ORDER[kind_i]
    return pa.table(
        {
            "id": chunk.ids("o", idx.size),
            "patient_id": chunk.patient_ids(idx),
            "system": pa.array(np.full(idx.size, "snomed")),
            "code": pa.array(code[order]),
            "date": _dates(np.concatenate(out_day)),
            "value": pa.array(np.concatenate(out_val).astype(float)),
            "unit": pa.array(unit[order]),
        }
    )


_KINDS = ("bmi", "weight", "hba1c", "systolic_bp", "diastolic_bp", "egfr", "total_cholesterol")
_KINDS_SORTED = np.array(sorted(_KINDS))
_KIND_ORDER = np.array([_KINDS.index(k) for k in _KINDS_SORTED])


# --- encounters ------------------------------------------------------------------------


class _Staff:
    """Practitioner roles by (organisation, role) for vectorised random picks."""

    def __init__(self, locality: Locality, orgs: list[str], roles: list[str]):
        self.orgs = {o: i for i, o in enumerate(orgs)}
        self.roles = {r: i for i, r in enumerate(roles)}
        ids, offset, count = (
            [],
            np.zeros((len(orgs), len(roles)), np.int64),
            np.zeros((len(orgs), len(roles)), np.int64),
        )
        for o, oi in self.orgs.items():
            for r, ri in self.roles.items():
                got = locality.staff.get(o, {}).get(r, np.empty(0, dtype=str))
                offset[oi, ri] = len(ids)
                count[oi, ri] = got.size
                ids.extend(got.tolist())
        self.ids, self.offset, self.count = np.array([*ids, ""]), offset, count

    def pick(self, org_i: np.ndarray, role_i: np.ndarray, rng) -> np.ndarray:
        c = self.count[org_i, role_i]
        pos = self.offset[org_i, role_i] + (rng.uniform(0, 1, org_i.size) * c).astype(np.int64)
        return np.where(c > 0, self.ids[np.minimum(pos, self.ids.size - 1)], None)


def _choice(options: dict, n: int, rng) -> tuple[list, np.ndarray]:
    keys = list(options)
    w = np.array([options[k] for k in keys], dtype=float)
    return keys, rng.choice(len(keys), size=n, p=w / w.sum())


def encounters(chunk: Chunk, calibration: Calibration) -> pa.Table:
    parts = [
        _gp_appointments(chunk),
        *_hospital(chunk, calibration),
        _outpatients(chunk),
        _community(chunk),
        _social_care(chunk),  # last, so every earlier row keeps its id
    ]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n = cols["idx"].size
    return pa.table(
        {
            "id": chunk.ids("e", n),
            "patient_id": chunk.patient_ids(cols["idx"]),
            "kind": pa.array(cols["kind"]),
            "start": _ts(cols["start"]),
            "end": _ts(np.where(cols["end"] < 0, 0, cols["end"]), mask=cols["end"] < 0),
            "booked_at": _ts(
                np.where(cols["booked"] < 0, 0, cols["booked"]), mask=cols["booked"] < 0
            ),
            "status": pa.array(cols["status"]),
            "mode": pa.array(cols["mode"]),
            "org_id": pa.array(cols["org"]),
            "practitioner_role_id": pa.array(cols["role_id"]),
            "specialty": pa.array(cols["specialty"]),
            "urgent_request": pa.array(cols["urgent"] == 1, mask=cols["urgent"] < 0),
            "first_attendance": pa.array(cols["first"] == 1, mask=cols["first"] < 0),
        }
    )


def _part(
    idx, kind, start, end, booked, status, mode, org, role_id, specialty, urgent=None, first=None
) -> dict:
    """One kind of encounter's columns; ``urgent`` (GP appointments) and ``first``
    (outpatients) are bool arrays or None (not recorded)."""
    n = idx.size

    def full(v):
        return np.full(n, v, dtype=object) if not isinstance(v, np.ndarray) else v.astype(object)

    return {
        "idx": idx,
        "kind": full(kind),
        "start": start,
        "end": end,
        "booked": booked,
        "status": full(status),
        "mode": full(mode),
        "org": full(org),
        "role_id": full(role_id),
        "specialty": full(specialty),
        "urgent": np.full(n, -1, np.int8) if urgent is None else urgent.astype(np.int8),
        "first": np.full(n, -1, np.int8) if first is None else first.astype(np.int8),
    }


def _gp_appointments(chunk: Chunk) -> dict:
    g = parameters()["gp"]
    people, rng, loc = chunk.people, chunk.rng, chunk.locality
    n = people.n
    frailty_gp = rng.gamma(g["shape"], 1 / g["shape"], n)

    def rate_of(year: Year, age: np.ndarray) -> np.ndarray:
        rate = step_by_age(g["rate_ages"], g["rate_per_year"], age) * frailty_gp
        rate *= np.where(people.female & (age >= 15) & (age < 45), g["female_15_44"], 1.0)
        return rate * np.exp(g["per_condition"] * year.ncond)

    idx, day, core = _over_years(chunk, rate_of, 1 - g["extended_hours_share"])
    m = idx.size
    # Core hours are weekdays; the rest are evening and weekend appointments at the hub.
    extended = ~core
    wd = weekday(day)
    slot = rng.integers(0, 62, m)  # 08:00-18:20 in 10-minute slots
    minute = 8 * 60 + slot * 10
    minute = np.where(extended & (wd < 5), 18 * 60 + 30 + rng.integers(0, 9, m) * 10, minute)
    minute = np.where(extended & (wd >= 5), 9 * 60 + rng.integers(0, 48, m) * 10, minute)
    start = local_to_utc_us(day, minute)
    practice = chunk.practice_at(idx, day)
    hub = loc.practice_neighbourhood[practice]
    org = np.where(extended, loc.hub_codes[hub], loc.practice_codes[practice])
    roles, role_i = _choice(g["roles"], m, rng)
    role_i = np.where(extended, role_i % 2, role_i)  # hubs: GPs and nurses
    minutes = np.array([g["minutes"][r] for r in roles])[role_i]
    org_i = np.where(extended, loc.practice_codes.size + hub, practice)
    role_id = chunk_staff(chunk, roles).pick(org_i, role_i, rng)
    modes, mode_i = _choice(g["modes"], m, rng)
    statuses, status_i = _choice(g["status"], m, rng)
    same_day = rng.uniform(0, 1, m) < g["same_day_share"]
    lead = np.where(
        same_day,
        rng.uniform(0.5, 5, m) * US_PER_HOUR,
        (1 + rng.exponential(g["lead_days_mean"], m)) * US_PER_DAY,
    )
    booked = (start - lead).astype(np.int64)
    return _part(
        idx,
        "gp_appointment",
        start,
        start + minutes * US_PER_MINUTE,
        booked,
        np.array(statuses)[status_i],
        np.array(modes)[mode_i],
        org,
        role_id,
        None,
        _urgent_requests(chunk, idx, day, start, booked),
    )


def _urgent_requests(
    chunk: Chunk, idx: np.ndarray, day: np.ndarray, start: np.ndarray, booked: np.ndarray
) -> np.ndarray:
    """Whether the patient asked to be seen urgently, for each GP appointment.

    The prior share rises for under-5s and with frailty (eFI in the year of the appointment).
    Booking lead times were drawn before this flag existed and must not change, so the flag is
    drawn given the lead time, by Bayes' rule: with ``w`` the share of all appointments seen
    within two calendar days of booking (as the indicator counts them) and ``s`` the share of
    urgent requests that are, an appointment with prior ``π`` is urgent with probability
    ``π·s/w`` when seen within two days and ``π·(1 − s)/(1 − w)`` otherwise. That keeps the
    share ``π`` and puts ``s`` of urgent requests within 48 hours (where ``π·s > w`` the first
    is capped at 1 and the rest moves to later appointments, keeping ``π``). Draws come from
    ``chunk.extra_rng`` only.
    """
    u = parameters()["gp"]["urgent"]
    m = idx.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    years = chunk.years[1:-1]
    year_i = np.searchsorted(np.array([y.day for y in years]), day, side="right") - 1
    efi = np.stack([y.efi for y in years])[np.clip(year_i, 0, len(years) - 1), idx]
    under5 = (day - chunk.people.birth[idx]) < 5 * 365.25
    prior = sigmoid(
        np.log(u["share"] / (1 - u["share"]))
        + np.where(under5, np.log(u["under5_odds_ratio"]), 0.0)
        + u["efi_log_odds"] * efi
    )
    within = (start // US_PER_DAY - booked // US_PER_DAY) <= 2
    w = within.mean()
    if 0 < w < 1:
        p_within = np.minimum(1.0, prior * u["within_48_hours"] / w)
        p = np.where(within, p_within, (prior - p_within * w) / (1 - w))
    else:
        p = prior
    return chunk.extra_rng.uniform(0, 1, m) < p


def chunk_staff(chunk: Chunk, roles: list[str]) -> _Staff:
    """The staff lookup for these roles, built once per locality."""
    loc = chunk.locality
    cache = loc.__dict__.setdefault("_staff_cache", {})
    if tuple(roles) not in cache:
        orgs = [*loc.practice_codes.tolist(), *loc.hub_codes.tolist(), COMMUNITY_TRUST]
        cache[tuple(roles)] = _Staff(loc, orgs, roles)
    return cache[tuple(roles)]


def _hospital(chunk: Chunk, calibration: Calibration) -> list[dict]:
    """Emergency admissions (from the hazard model), A&E attendances and elective admissions."""
    h, a, el = parameters()["hazard"], parameters()["ae"], parameters()["elective"]
    people, rng = chunk.people, chunk.rng
    parts = []
    for year in chunk.years[1:-1]:
        # Emergency admissions: the simulated counts, placed in the patient's time at risk.
        start_frac = np.clip((people.birth - year.day) / 365.0, 0, 1)
        idx = np.repeat(np.arange(people.n), year.admissions)
        frac = start_frac[idx] + rng.uniform(0, 1, idx.size) * year.exposure[idx]
        day = year.day + (frac * 365).astype(np.int64)
        keep = (day >= chunk.reg_start[idx]) & (day < chunk.stop[idx])
        idx, day = idx[keep], day[keep]
        m = idx.size
        start = local_to_utc_us(day, rng.integers(0, 24 * 60, m))
        age = (day - people.birth[idx]) / 365.25
        median = step_by_age(
            [float(k) for k in h["los_median"]], list(h["los_median"].values()), age
        )
        los = np.maximum(1, np.round(rng.lognormal(np.log(median), h["los_sigma"])))
        same_day = rng.uniform(0, 1, m) < h["same_day_share"]
        end = np.where(
            same_day,
            start + rng.uniform(3, 12, m) * US_PER_HOUR,
            start + los * US_PER_DAY + rng.uniform(-6, 6, m) * US_PER_HOUR,
        )
        died = chunk.death[idx] < NO_DAY
        death_us = chunk.death[idx] * US_PER_DAY + 12 * US_PER_HOUR
        end = np.where(died & (death_us < end) & (death_us > start), death_us, end)
        end = np.where(end >= chunk.frame.end * US_PER_DAY, -1, end).astype(np.int64)
        via = rng.uniform(0, 1, m) < h["via_ae_share"]
        ae_start = (start - rng.uniform(2, 8, m) * US_PER_HOUR).astype(np.int64)
        if chunk.simulation is not None:
            kept = ~chunk.simulation.prevent(chunk, idx, day)
            idx, start, end, via, ae_start = (a[kept] for a in (idx, start, end, via, ae_start))
            m = idx.size
        parts.append(
            _part(
                idx,
                "emergency_admission",
                start,
                end,
                np.full(m, -1),
                "attended",
                None,
                ACUTE_TRUST,
                None,
                None,
            )
        )
        parts.append(
            _part(
                idx[via],
                "ae_attendance",
                ae_start[via],
                start[via],
                np.full(via.sum(), -1),
                "attended",
                None,
                ACUTE_TRUST,
                None,
                None,
            )
        )
        # A&E attendances that did not lead to admission.
        age0 = people.age_at(year.day + 182)
        band = np.clip(
            np.searchsorted(np.asarray(a["target_ages"]), age0, side="right") - 1,
            0,
            len(a["target_ages"]) - 1,
        )
        rate = np.exp(calibration.ae_curve[band]) * ae_rate_shape(people, year)
        idx, day, _ = _events_in_year(chunk, year, rate)
        m = idx.size
        start = local_to_utc_us(day, rng.integers(0, 24 * 60, m))
        parts.append(
            _part(
                idx,
                "ae_attendance",
                start,
                start + (rng.uniform(1, 5, m) * US_PER_HOUR).astype(np.int64),
                np.full(m, -1),
                "attended",
                None,
                ACUTE_TRUST,
                None,
                None,
            )
        )
        # Elective admissions, mostly day cases.
        rate = step_by_age(el["rate_ages"], el["rate_per_year"], age0)
        idx, day, _ = _events_in_year(chunk, year, rate, weekday_share=1.0)
        m = idx.size
        start = local_to_utc_us(day, np.full(m, 8 * 60))
        day_case = rng.uniform(0, 1, m) < el["day_case_share"]
        end = np.where(
            day_case, start + 7 * US_PER_HOUR, start + rng.integers(1, 6, m) * US_PER_DAY
        )
        end = np.where(end >= chunk.frame.end * US_PER_DAY, -1, end).astype(np.int64)
        parts.append(
            _part(
                idx,
                "elective_admission",
                start,
                end,
                np.full(m, -1),
                "attended",
                None,
                ACUTE_TRUST,
                None,
                None,
            )
        )
    return parts


def _outpatients(chunk: Chunk) -> dict:
    o = parameters()["outpatient"]
    people, rng = chunk.people, chunk.rng
    idx, day, _ = _over_years(
        chunk,
        lambda year, age: (
            step_by_age(o["rate_ages"], o["rate_per_year"], age)
            * np.exp(o["per_condition"] * year.ncond)
        ),
        weekday_share=1.0,
    )
    m = idx.size
    codes, pick = _choice(o["general"], m, rng)
    specialty = np.array(codes, dtype=object)[pick]
    # A share goes to the specialty of one of the patient's conditions.
    for name, code in o["by_condition"].items():
        has = people.cond_onset[name][idx] <= day
        specialty = np.where(
            has & (rng.uniform(0, 1, m) < o["condition_share"] / 2), code, specialty
        )
    age = (day - people.birth[idx]) / 365.25
    specialty = np.where(age < o["paediatrics_under"], "420", specialty)
    start = local_to_utc_us(day, 9 * 60 + rng.integers(0, 48, m) * 10)
    status = np.where(rng.uniform(0, 1, m) < 0.92, "attended", "dna")
    idx, day, specialty, start, status = _pathways(chunk, idx, day, specialty, start, status, o)
    return _part(
        idx,
        "outpatient",
        start,
        start + 20 * US_PER_MINUTE,
        np.full(idx.size, -1),
        status,
        "face_to_face",
        ACUTE_TRUST,
        None,
        specialty,
        first=_first_attendances(idx, day, specialty, status == "attended", o["new_pathway_days"]),
    )


def _pathways(chunk: Chunk, idx, day, specialty, start, status, o: dict):
    """Outpatient pathways: each drawn appointment belongs to a pathway with probability
    1 / (1 + R) of being chosen to carry one (R its specialty's mean follow-ups per first,
    ``[outpatient] follow_ups_per_first``); a pathway is a first attendance and Poisson(R)
    follow-ups in the same specialty, ``follow_up_interval_days`` apart on average (at least
    a week), on weekdays, and the drawn appointment is one of its appointments at random (so
    the window opens on follow-ups of pathways that began before it, as a real extract does).
    Appointments outside the window or the patient's registration and life are not kept; a
    pathway cut by the window end or a death loses its later follow-ups, so there are a few
    per cent fewer appointments than were drawn. Repeat visits to one specialty are then the
    norm, as in England (about 1.5 to 2 follow-ups per first); drawing each appointment's
    specialty on its own gave about 0.25. Draws come from ``chunk.pathway_rng`` only: every
    other table is as it was (the ids of rows after the outpatients shift with their count).
    """
    if chunk.pathway_rng is None or idx.size == 0:
        return idx, day, specialty, start, status
    rng = chunk.pathway_rng
    rates = o["follow_ups_per_first"]
    r = np.array([rates.get(str(c), o["follow_ups_default"]) for c in specialty], dtype=float)
    fi = np.flatnonzero(rng.uniform(0, 1, idx.size) < 1 / (1 + r))
    size = rng.poisson(r[fi]) + 1  # appointments in each pathway, the first included
    chain = np.repeat(np.arange(fi.size), size)
    head = np.cumsum(size) - size
    pos = np.arange(chain.size) - head[chain]
    least, shape = 7.0, 2.0
    scale = (o["follow_up_interval_days"] - least) / shape
    gaps = np.where(pos == 0, 0.0, least + rng.gamma(shape, scale, chain.size))
    total = np.cumsum(gaps)
    t = total - total[head][chain]  # days from the pathway's first
    drawn = (rng.uniform(0, 1, fi.size) * size).astype(np.int64)  # the drawn one's place
    offset = np.round(t - t[head + drawn][chain]).astype(np.int64)
    new = pos != drawn[chain]
    parent = fi[chain[new]]
    f_idx = idx[parent]
    f_day = day[parent] + offset[new]
    wd = weekday(f_day)
    f_day = np.where(wd == 5, f_day - 1, np.where(wd == 6, f_day + 1, f_day))
    keep = (
        (f_day >= chunk.years[1].day)
        & (f_day >= chunk.reg_start[f_idx])
        & (f_day < chunk.stop[f_idx])
    )
    parent, f_idx, f_day = parent[keep], f_idx[keep], f_day[keep]
    k = f_idx.size
    f_start = local_to_utc_us(f_day, 9 * 60 + rng.integers(0, 48, k) * 10)
    f_status = np.where(rng.uniform(0, 1, k) < 0.92, "attended", "dna")
    return (
        np.concatenate([idx[fi], f_idx]),
        np.concatenate([day[fi], f_day]),
        np.concatenate([specialty[fi], specialty[parent]]),
        np.concatenate([start[fi], f_start]),
        np.concatenate([status[fi], f_status]),
    )


def _first_attendances(
    idx: np.ndarray, day: np.ndarray, specialty: np.ndarray, attended: np.ndarray, gap: int
) -> np.ndarray:
    """Whether each outpatient appointment is a first attendance: it is a follow-up when the
    patient attended the same specialty in the ``gap`` days before (same day included, in
    start order), else a first (a new pathway; an appointment after a missed first is still a
    first). Drawn from nothing, so every other column and table is as before."""
    n = idx.size
    if n == 0:
        return np.zeros(0, bool)
    codes, code_i = np.unique(specialty.astype(str), return_inverse=True)
    group = idx.astype(np.int64) * len(codes) + code_i.ravel()
    order = np.lexsort((np.arange(n), day, group))
    g, d = group[order], day[order].astype(np.int64)
    base = g * 1_000_000  # days are far below 1,000,000
    # The last attended day (+1) so far in the row's group: a running max over offsets per group.
    seen = np.maximum.accumulate(np.where(attended[order], base + d + 1, base))
    before = np.concatenate([[-1], seen[:-1]])
    same = np.concatenate([[False], g[1:] == g[:-1]])
    last = before - base - 1  # -1: none attended before in the group
    follow_up = same & (last >= 0) & (d - last <= gap)
    first = np.empty(n, bool)
    first[order] = ~follow_up
    return first


def _community(chunk: Chunk) -> dict:
    c = parameters()["community"]
    people, rng = chunk.people, chunk.rng
    need = rng.gamma(c["shape"], 1 / c["shape"], people.n)
    idx, day, _ = _over_years(
        chunk,
        lambda year, age: (
            step_by_age(c["rate_ages"], c["rate_per_year"], age)
            * need
            * np.exp(c["frailty"] * (year.efi - 0.1))
        ),
    )
    m = idx.size
    start = local_to_utc_us(day, 9 * 60 + rng.integers(0, 48, m) * 10)
    staff = chunk_staff(chunk, ["community_nurse"])
    role_id = staff.pick(np.full(m, len(staff.orgs) - 1), np.zeros(m, dtype=np.int64), rng)
    return _part(
        idx,
        "community",
        start,
        start + 30 * US_PER_MINUTE,
        np.full(m, -1),
        "attended",
        "home_visit",
        COMMUNITY_TRUST,
        role_id,
        None,
    )


def _social_care_rate(people: People, year: Year) -> np.ndarray:
    """Each patient's yearly rate of social-care contacts in ``year``: none for most people;
    for frail people aged 65+ (moderate or severe eFI) and for high-needs adults (a high true
    risk of emergency admission, or on the palliative care register) the highest rate that
    applies."""
    s = parameters()["social_care"]
    age = people.age_at(year.day + 182)
    old = age >= 65
    rate = np.zeros(people.n)
    rate = np.where(old & (year.efi > 0.24), s["moderate_frailty_rate"], rate)
    rate = np.where(old & (year.efi > 0.36), s["severe_frailty_rate"], rate)
    high_risk = (age >= s["min_age"]) & (np.nan_to_num(year.true_risk) >= s["high_risk"])
    rate = np.maximum(rate, np.where(high_risk, s["high_risk_rate"], 0.0))
    palliative = (age >= s["min_age"]) & (people.cond_onset["palliative_care"] <= year.day + 182)
    return np.maximum(rate, np.where(palliative, s["palliative_rate"], 0.0))


def _social_care(chunk: Chunk) -> dict:
    """Contacts with adult social care (a social worker's visit, a review, a call), for frail
    and high-needs patients, mostly on weekdays in office hours. The synthetic locality has no
    council among its organisations, so ``org_id`` is null; a real extract names the provider.
    Draws come from ``chunk.social_rng`` only."""
    s = parameters()["social_care"]
    rng = chunk.social_rng
    parts = [
        _events_in_year(
            chunk, year, _social_care_rate(chunk.people, year), s["weekday_share"], rng=rng
        )
        for year in chunk.years[1:-1]
    ]
    idx = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    m = idx.size
    start = local_to_utc_us(day, 9 * 60 + rng.integers(0, 48, m) * 10)
    modes, mode_i = _choice(s["modes"], m, rng)
    statuses, status_i = _choice(s["status"], m, rng)
    return _part(
        idx,
        "social_care",
        start,
        start + s["minutes"] * US_PER_MINUTE,
        np.full(m, -1),
        np.array(statuses, dtype=object)[status_i],
        np.array(modes, dtype=object)[mode_i],
        None,
        None,
        None,
    )
