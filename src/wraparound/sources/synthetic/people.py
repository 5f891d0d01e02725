"""Who lives in the synthetic locality and what they have: demographics, conditions with
onset dates, frailty deficits, care-home residence, medicines, and the year-by-year hazard
model that decides deaths and emergency admissions.

The model (docs/synthetic.md has the full story):

* Conditions: a logistic model per register by age (piecewise-linear logit), sex,
  deprivation, a shared latent multimorbidity factor and earlier conditions (so conditions
  cluster as they do in real practice). Intercepts are calibrated on a fixed reference
  sample so that prevalence among patients alive and registered at the end date matches the
  England QOF figures in ``data/registers.csv``.
* Emergency admissions: each patient-year has a constant hazard of a first admission
  ``λ = exp(g(age) + conditions + frailty + deprivation + care home + previous-year
  admissions) · U`` (softly capped) with ``U ~ Gamma`` (unmeasured propensity), and a
  competing death hazard ``μ``; after a first admission, readmissions follow at a rate
  raised by frailty. Because the hazards are constant within the year, the true
  probability of at least one admission in the 12 months from a year boundary is exactly
  ``λ/(λ+μ) · (1 − e^{−(λ+μ)})``; that is the oracle risk. ``g`` is calibrated so the
  admission rate by age band matches England's.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from wraparound import clinical
from wraparound.sources.synthetic.params import knots_logit, parameters, sigmoid, step_by_age

DAYS_PER_YEAR = 365.25
REFERENCE_SEED = 20230402


def condition_names() -> list[str]:
    """Conditions in generation order (later ones may depend on earlier ones)."""
    return list(parameters()["conditions"])


@cache
def register_rules() -> dict[str, clinical.Register]:
    return {r.register_id: r for r in clinical.registers()}


@dataclass
class Frame:
    """The time frame: ``years`` whole 365-day years ending on the end date (inclusive)."""

    end: int  # first day after the window, as days since 1970-01-01
    years: int

    @property
    def start(self) -> int:
        return self.end - 365 * self.years

    def year_start(self, k: int) -> int:
        return self.start + 365 * k


@dataclass
class People:
    """Per-patient arrays for one chunk (or the reference sample)."""

    birth: np.ndarray  # day
    female: np.ndarray  # bool
    dep: np.ndarray  # -1 least deprived .. +1 most deprived
    morbidity: np.ndarray  # latent multimorbidity factor
    frailty: np.ndarray  # latent frailty factor
    propensity: np.ndarray  # U, mean 1
    cond_onset: dict[str, np.ndarray] = field(default_factory=dict)  # day, or NO_DAY
    deficit_onset: dict[str, np.ndarray] = field(default_factory=dict)
    carehome_onset: np.ndarray | None = None
    obese: np.ndarray | None = None
    med_patient: np.ndarray | None = None  # one row per medicine a patient takes
    med_code: np.ndarray | None = None
    med_start: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.birth.size

    def age_at(self, day: int | np.ndarray) -> np.ndarray:
        return (day - self.birth) / DAYS_PER_YEAR

    def has(self, name: str, day: int) -> np.ndarray:
        return self.cond_onset[name] <= day


NO_DAY = np.iinfo(np.int64).max // 4


# --- demographics -----------------------------------------------------------------------


def draw_ages(n: int, rng: np.random.Generator, shift: np.ndarray | float = 0.0):
    """Ages (years, at the end date) from England's pyramid, and female flags."""
    p = parameters()["population"]
    bands = np.array(p["age_bands"], dtype=float)
    counts = np.array(p["age_counts"], dtype=float)
    band = rng.choice(bands.size, size=n, p=counts / counts.sum())
    low = bands[band]
    width = np.where(band < bands.size - 1, 5.0, 0.0)
    age = low + rng.uniform(0, 1, n) * width
    top = band == bands.size - 1  # 90+: thinning tail
    age[top] = low[top] + np.minimum(rng.exponential(3.5, top.sum()), p["max_age"] - 90)
    age = np.clip(age + shift * (rng.uniform(0, 1, n) < 0.5), 0, p["max_age"])
    female = rng.uniform(0, 1, n) < np.array(p["female_share"])[band]
    return age, female


def deprivation_score(decile: np.ndarray) -> np.ndarray:
    """IMD decile (1 most deprived) to a score from -1 (least) to +1 (most deprived)."""
    return (5.5 - decile) / 4.5


def new_people(
    age_end: np.ndarray,
    female: np.ndarray,
    decile: np.ndarray,
    frame: Frame,
    rng: np.random.Generator,
) -> People:
    p = parameters()
    n = age_end.size
    birth = frame.end - 1 - np.floor(age_end * DAYS_PER_YEAR).astype(np.int64)
    morbidity = rng.normal(0, p["population"]["morbidity_sd"], n)
    frailty = (
        rng.normal(0, p["frailty"]["latent_sd"], n) + p["frailty"]["morbidity_loading"] * morbidity
    )
    shape = p["hazard"]["propensity_shape"]
    return People(
        birth=birth,
        female=female,
        dep=deprivation_score(decile),
        morbidity=morbidity,
        frailty=frailty,
        propensity=rng.gamma(shape, 1.0 / shape, n),
    )


# --- conditions, deficits, medicines ---------------------------------------------------


def condition_logits(people: People, name: str, age: np.ndarray, present: dict) -> np.ndarray:
    c = parameters()["conditions"][name]
    x = (
        knots_logit(c["knots"], age)
        + c.get("sex", 0) * people.female
        + c.get("deprivation", 0) * people.dep
        + c.get("latent", 0) * people.morbidity
    )
    for other, effect in c.get("after", {}).items():
        x = x + effect * present[other]
    return x


def _onsets(
    has: np.ndarray, people: People, name: str, frame: Frame, rng: np.random.Generator
) -> np.ndarray:
    c = parameters()["conditions"][name]
    onset = np.full(people.n, NO_DAY, dtype=np.int64)
    if c.get("onset_at_birth"):
        onset[has] = people.birth[has]
        return onset
    since = rng.exponential(c["years"] * DAYS_PER_YEAR, has.sum()).astype(np.int64)
    onset[has] = np.maximum(frame.end - 1 - since, people.birth[has])
    return onset


def systematic_draw(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Who has a condition: each patient with probability ``p`` (as a Bernoulli draw), but
    by systematic sampling along the chunk from one random start ``u[0]``, so the count in
    the chunk, and in any run of consecutive patients (a practice), is the sum of ``p`` to
    within one. Independent draws let a rare register (learning disability, 0.5%) miss
    England's prevalence by 20% in a 50k locality by chance; this cannot. ``u`` is the
    draw the Bernoulli version used (one per patient), so the stream stays aligned."""
    if p.size == 0:
        return np.zeros(0, dtype=bool)
    steps = np.floor(np.cumsum(p) + u[0])
    return np.diff(steps, prepend=np.floor(u[0])) > 0


def draw_conditions(
    people: People,
    frame: Frame,
    rng: np.random.Generator,
    intercepts: dict[str, float],
    expected: dict[str, float] | None = None,
) -> None:
    """Conditions present by the end date, with onset dates (obesity is a state, not coded).

    With ``expected`` (the calibration's mean probability of each condition among the
    register's age group), each intercept is shifted for this chunk so its mean probability
    is that: a locality whose practices happen to be younger or less deprived than England
    still has England's register sizes overall, while practices within it still differ."""
    age = people.age_at(frame.end - 1)
    present: dict[str, np.ndarray] = {}
    rules = register_rules()
    for name in condition_names():
        x = intercepts[name] + condition_logits(people, name, age, present)
        if expected is not None:
            x = x + _shift_to_mean(x[age >= rules[name].min_age], expected[name])
        present[name] = systematic_draw(sigmoid(x), rng.uniform(0, 1, people.n))
        if name == "obesity":
            people.obese = present[name]
            continue
        people.cond_onset[name] = _onsets(present[name], people, name, frame, rng)


def _shift_to_mean(x: np.ndarray, target: float) -> float:
    """The shift ``d`` with mean(sigmoid(x + d)) equal to ``target`` (Newton's method)."""
    if x.size == 0:
        return 0.0
    d = 0.0
    for _ in range(8):
        p = sigmoid(x + d)
        slope = float(np.mean(p * (1 - p)))
        if slope <= 0:
            break
        d -= (float(np.mean(p)) - target) / slope
    return d


def deficit_offset(deficit_id: str) -> float:
    """A fixed log-odds offset per deficit, so deficits differ in how common they are
    (drawn from the deficit's name, hence the same in every run)."""
    spread = parameters()["frailty"]["deficit_spread"]
    g = np.random.default_rng(zlib.crc32(deficit_id.encode()))
    return float(g.normal(0, spread))


@dataclass(frozen=True)
class DeficitSource:
    """How the generator makes one eFI deficit appear in a record."""

    deficit_id: str
    finding_lists: tuple[str, ...]  # own code lists: recorded as coded findings
    conditions: tuple[str, ...]  # register conditions that also satisfy it
    carehome: bool  # care-home residence satisfies it
    rule: str  # e.g. "polypharmacy"


@cache
def deficit_sources() -> list[DeficitSource]:
    by_list = {cl: r.register_id for r in clinical.registers() for cl in r.codelists}
    out = []
    for d in clinical.efi_deficits():
        out.append(
            DeficitSource(
                d.deficit_id,
                tuple(cl for cl in d.codelists if cl not in by_list and cl != CAREHOME_LIST),
                tuple(by_list[cl] for cl in d.codelists if cl in by_list),
                CAREHOME_LIST in d.codelists,
                d.rule or "",
            )
        )
    return out


CAREHOME_LIST = "carehome_cod"


def draw_frailty(people: People, frame: Frame, rng: np.random.Generator) -> None:
    f = parameters()["frailty"]
    age = people.age_at(frame.end - 1)
    base = knots_logit(f["knots"], age) + people.frailty
    for source in deficit_sources():
        if not source.finding_lists:
            continue
        deficit_id = source.deficit_id
        has = rng.uniform(0, 1, people.n) < sigmoid(base + deficit_offset(deficit_id))
        onset = np.full(people.n, NO_DAY, dtype=np.int64)
        since = rng.exponential(f["years"] * DAYS_PER_YEAR, has.sum()).astype(np.int64)
        onset[has] = np.maximum(frame.end - 1 - since, people.birth[has])
        people.deficit_onset[deficit_id] = onset
    ch = f["carehome"]
    dementia = people.cond_onset["dementia"] < NO_DAY
    x = knots_logit(ch["knots"], age) + ch["frailty"] * people.frailty + ch["dementia"] * dementia
    has = rng.uniform(0, 1, people.n) < sigmoid(x)
    onset = np.full(people.n, NO_DAY, dtype=np.int64)
    since = rng.exponential(2 * DAYS_PER_YEAR, has.sum()).astype(np.int64)
    onset[has] = np.maximum(frame.end - 1 - since, people.birth[has])
    people.carehome_onset = onset


@cache
def _medicines_by_indication() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in clinical.medications():
        out.setdefault(m.indication, []).append(m.code)
    return out


def draw_medicines(people: People, frame: Frame, rng: np.random.Generator) -> None:
    """One to three medicines per treated condition from its onset, plus general medicines
    (analgesics, PPIs, ...) more often with age and multimorbidity."""
    meds = _medicines_by_indication()
    pats, codes, starts = [], [], []
    ncond = np.zeros(people.n)
    for name, onset in people.cond_onset.items():
        has = onset < NO_DAY
        ncond += has
        options = meds.get(name)
        if not options:
            continue
        idx = np.flatnonzero(has)
        k = rng.choice([0, 1, 2, 3], size=idx.size, p=[0.1, 0.45, 0.35, 0.1])
        k = np.minimum(k, len(options))
        # k distinct medicines per patient: the first k of a random ordering of the options.
        order = rng.uniform(0, 1, (idx.size, len(options))).argsort(axis=1)[:, :3]
        take = np.arange(order.shape[1])[None, :] < k[:, None]
        rows = np.broadcast_to(idx[:, None], order.shape)[take]
        offset = order[take]
        pats.append(rows)
        codes.append(np.asarray(options)[offset])
        starts.append(onset[rows] + rng.integers(0, 60, rows.size))
    general = meds.get("general", [])
    if general:
        age = people.age_at(frame.end - 1)
        lam = 0.15 + 0.25 * ncond + 0.02 * np.maximum(age - 40, 0)
        k = np.minimum(rng.poisson(lam), len(general))
        rows = np.repeat(np.arange(people.n), k)
        offset = rng.integers(0, len(general), rows.size)
        pats.append(rows)
        codes.append(np.asarray(general)[offset])
        since = rng.exponential(3 * DAYS_PER_YEAR, rows.size).astype(np.int64)
        starts.append(np.maximum(frame.end - 1 - since, people.birth[rows]))
    people.med_patient = np.concatenate(pats) if pats else np.empty(0, dtype=np.int64)
    people.med_code = np.concatenate(codes) if codes else np.empty(0, dtype=object)
    people.med_start = np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)
    # One row per distinct medicine per patient.
    key = (
        people.med_patient.astype(np.int64) * 100_000
        + np.unique(people.med_code, return_inverse=True)[1]
    )
    _, first = np.unique(key, return_index=True)
    people.med_patient = people.med_patient[first]
    people.med_code = people.med_code[first]
    people.med_start = people.med_start[first]


# --- state at a date, hazards ----------------------------------------------------------


def efi_at(people: People, day: int) -> np.ndarray:
    """Electronic Frailty Index (deficits / 36) the record would show on ``day``."""
    nmeds = np.zeros(people.n, dtype=np.int64)
    if people.med_patient is not None and people.med_patient.size:
        active = people.med_start <= day
        nmeds = np.bincount(people.med_patient[active], minlength=people.n)
    count = np.zeros(people.n)
    for source in deficit_sources():
        present = np.zeros(people.n, dtype=bool)
        if source.deficit_id in people.deficit_onset:
            present |= people.deficit_onset[source.deficit_id] <= day
        for c in source.conditions:
            present |= people.cond_onset[c] <= day
        if source.carehome and people.carehome_onset is not None:
            present |= people.carehome_onset <= day
        if source.rule == "polypharmacy":
            present |= nmeds >= 5
        count += present
    return count / 36.0


def mortality(people: People, day: int, efi: np.ndarray) -> np.ndarray:
    m = parameters()["mortality"]
    age = people.age_at(day)
    base = np.where(
        age < 1, m["infant"], m["at_20"] * 2 ** ((np.maximum(age, 5) - 20) / m["doubling_years"])
    )
    x = m["frailty"] * efi
    for name, effect in m["conditions"].items():
        x = x + effect * (people.cond_onset[name] <= day)
    return base * np.exp(x)


def admission_log_hazard(people: People, day: int, efi: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Everything in log λ except the calibrated age curve."""
    h = parameters()["hazard"]
    x = h["frailty"] * efi + h["deprivation"] * people.dep + h["previous_year"] * np.log1p(prev)
    x = x + h["carehome"] * (people.carehome_onset <= day)
    for name, effect in h["conditions"].items():
        x = x + effect * (people.cond_onset[name] <= day)
    return x + np.log(people.propensity)


@dataclass
class Year:
    """One simulated year for every patient: hazards, death and emergency admissions."""

    day: int
    alive: np.ndarray
    efi: np.ndarray
    ncond: np.ndarray
    lam: np.ndarray  # first emergency admission hazard (per year)
    lam_known: np.ndarray  # the same with the unmeasured propensity at its mean (U = 1)
    mu: np.ndarray  # death hazard (per year)
    death_day: np.ndarray  # NO_DAY if survives the year
    exposure: np.ndarray  # years at risk within this year (0..1)
    admissions: np.ndarray  # count

    @property
    def true_risk(self) -> np.ndarray:
        """P(at least one emergency admission in the 12 months from ``day``)."""
        total = self.lam + self.mu
        return np.where(self.alive, self.lam / total * -np.expm1(-total), np.nan)


def simulate_years(
    people: People,
    frame: Frame,
    rng: np.random.Generator,
    age_curve: np.ndarray,
    last: int | None = None,
) -> list[Year]:
    """Years -1 (burn-in, before the data window) to ``last`` (default: the year after the
    window, whose outcome is unknown but whose oracle risk is still defined)."""
    h = parameters()["hazard"]
    last = frame.years if last is None else last
    dead_by = np.full(people.n, NO_DAY, dtype=np.int64)
    prev = np.zeros(people.n)
    years: list[Year] = []
    for k in range(-1, last + 1):
        day = frame.year_start(k)
        alive = (dead_by > day) & (people.birth <= day)
        efi = efi_at(people, day)
        ncond = sum((o <= day).astype(np.int8) for o in people.cond_onset.values())
        age = people.age_at(day)
        g = step_by_age(h["target_ages"], age_curve, age)
        # A soft ceiling: even the sickest patients are not certain to be admitted in a year.
        known = np.exp(g + admission_log_hazard(people, day, efi, prev) - np.log(people.propensity))
        raw = known * people.propensity
        lam = raw / (1 + raw / h["hazard_ceiling"])
        mu = mortality(people, day, efi)
        t_death = rng.exponential(1.0, people.n) / mu
        # Born during the year: at risk from birth.
        start = np.clip((people.birth - day) / 365.0, 0, 1)
        dies = alive & (start + t_death < 1) if k >= 0 else np.zeros(people.n, dtype=bool)
        death_day = np.where(dies, day + ((start + t_death) * 365).astype(np.int64), NO_DAY)
        exposure = np.where(
            alive | (people.birth < day + 365), np.minimum(1, start + t_death) - start, 0
        )
        exposure = np.clip(exposure, 0, 1)
        # The first admission arrives at rate λ (this is what the oracle's probability is
        # about); readmissions follow at their own rate for the rest of the year, higher
        # with frailty, so repeat admissions cluster in frail people as they do in life.
        first = rng.exponential(1.0, people.n) / lam
        admitted = first < exposure
        readmit = h["readmissions_per_year"] * np.exp(h["readmission_frailty"] * efi)
        extra = rng.poisson(readmit * np.clip(exposure - first, 0, 1))
        admissions = np.where(admitted, 1 + extra, 0)
        dead_by = np.minimum(dead_by, death_day)
        lam_known = known / (1 + known / h["hazard_ceiling"])
        years.append(
            Year(day, alive, efi, ncond, lam, lam_known, mu, death_day, exposure, admissions)
        )
        prev = admissions
    return years


# --- calibration -----------------------------------------------------------------------


@dataclass
class Calibration:
    intercepts: dict[str, float]
    admission_curve: np.ndarray  # log rate per hazard.target_ages band
    ae_curve: np.ndarray
    # Mean probability of each condition among its register's age group in the calibrated
    # reference sample (draw_conditions pins each chunk to it).
    expected: dict[str, float] | None = None


def _solve(logits: np.ndarray, weights: np.ndarray, target: float) -> float:
    """Intercept b with weighted mean of sigmoid(logits + b) equal to target (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if np.average(sigmoid(logits + mid), weights=weights) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def bmi_recorded_probability(age: np.ndarray) -> np.ndarray:
    o = parameters()["observations"]
    return np.where(age >= 18, o["bmi_recorded_12m"] + o["bmi_recorded_ltc"] * (age >= 45), 0.0)


def reference_people(frame: Frame) -> tuple[People, np.random.Generator]:
    """The calibration sample: England's age pyramid and an even spread of deprivation."""
    rng = np.random.default_rng(REFERENCE_SEED)
    n = parameters()["reference_sample"]
    age, female = draw_ages(n, rng)
    decile = rng.integers(1, 11, n)
    return new_people(age, female, decile, frame, rng), rng


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


@cache
def calibrate(end: int, years: int) -> Calibration:
    """Fit condition intercepts and the admission and A&E age curves on the reference sample.

    A first guess solves each intercept for the target prevalence in everyone; then a few
    rounds of the full simulation (conditions, frailty, medicines, deaths, admissions, with
    the same random numbers each round) correct the intercepts for who survives to the end
    date, as registers count only the living, and the admission age curve for the effect of
    conditions and previous admissions.
    """
    frame = Frame(end, years)
    base, _ = reference_people(frame)
    age = base.age_at(frame.end - 1)
    rules = register_rules()
    intercepts: dict[str, float] = {}
    present: dict[str, np.ndarray] = {}
    guess = np.random.default_rng(REFERENCE_SEED + 1)
    for name in condition_names():
        eligible = age >= rules[name].min_age
        x = condition_logits(base, name, age, present)
        target = rules[name].prevalence_pct / 100
        if name == "obesity":
            target = target / max(bmi_recorded_probability(age)[eligible].mean(), 1e-6)
        intercepts[name] = _solve(x[eligible], np.ones(eligible.sum()), target)
        present[name] = guess.uniform(0, 1, base.n) < sigmoid(x + intercepts[name])

    h = parameters()["hazard"]
    target_curve = np.log(np.array(h["target_per_1000"]) / 1000)
    curve = target_curve.copy()
    for _ in range(5):
        people = People(
            base.birth, base.female, base.dep, base.morbidity, base.frailty, base.propensity
        )
        rng = np.random.default_rng(REFERENCE_SEED + 2)
        draw_conditions(people, frame, rng, intercepts)
        draw_frailty(people, frame, rng)
        draw_medicines(people, frame, rng)
        ys = simulate_years(people, frame, rng, curve, last=years - 1)
        died = np.zeros(people.n, dtype=bool)
        for y in ys[1:]:
            died |= y.death_day < NO_DAY
        for name in condition_names():
            counted = ~died & (age >= rules[name].min_age)
            if name == "obesity":
                has = people.obese * bmi_recorded_probability(age)
            else:
                has = people.cond_onset[name] < NO_DAY
            achieved = float(np.mean(has[counted]))
            intercepts[name] += _logit(rules[name].prevalence_pct / 100) - _logit(achieved)
        rate, _ = _rates_by_band(ys[1:], people, h["target_ages"])
        curve = curve + target_curve - np.log(rate)

    ae = parameters()["ae"]
    ae_target = np.log(np.array(ae["target_per_1000"]) / 1000)
    ae_curve = ae_target.copy()
    lam = np.concatenate([ae_rate_shape(people, y) for y in ys[1:]])
    ages = np.concatenate([people.age_at(y.day) for y in ys[1:]])
    exposure = np.concatenate([y.exposure for y in ys[1:]])
    band = np.searchsorted(np.asarray(ae["target_ages"]), ages, side="right") - 1
    for b in range(len(ae_curve)):
        sel = band == b
        mean = np.average(lam[sel], weights=exposure[sel] + 1e-12)
        ae_curve[b] = ae_target[b] - np.log(mean)
    expected: dict[str, float] = {}
    drawn: dict[str, np.ndarray] = {}
    for name in condition_names():
        x = intercepts[name] + condition_logits(people, name, age, drawn)
        expected[name] = float(np.mean(sigmoid(x[age >= rules[name].min_age])))
        drawn[name] = people.obese if name == "obesity" else people.cond_onset[name] < NO_DAY
    return Calibration(intercepts, curve, ae_curve, expected)


def _rates_by_band(years: list[Year], people: People, ages: list[float]):
    counts = np.zeros(len(ages))
    expo = np.zeros(len(ages))
    for y in years:
        band = np.searchsorted(np.asarray(ages), people.age_at(y.day), side="right") - 1
        band = np.clip(band, 0, len(ages) - 1)
        counts += np.bincount(band, weights=y.admissions, minlength=len(ages))
        expo += np.bincount(band, weights=y.exposure, minlength=len(ages))
    return counts / np.maximum(expo, 1e-9), expo


def ae_rate_shape(people: People, year: Year) -> np.ndarray:
    """A&E (non-admitted) hazard without its calibrated age curve."""
    a = parameters()["ae"]
    return np.exp(
        a["deprivation"] * people.dep
        + a["per_condition"] * year.ncond
        + a["propensity_power"] * np.log(people.propensity)
    )
