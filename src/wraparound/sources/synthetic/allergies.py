"""Synthetic allergies: each patient's recorded allergies from ``data/allergies.csv`` (the
share of adults and of children recorded with each code: penicillin about 7% of adults, as
UK primary care records show, NSAIDs, sulfonamides, latex, venom, nuts, eggs, seafood), and for
patients with none, a recorded "no known allergy" finding for some (the file's ``no_known``
codes) while the rest have nothing recorded at all: so the record shows all three states.

Cheap on purpose (the generator makes 3-million-patient localities for the benchmarks): one
uniform per patient and code, vectorised, from a random stream of its own, so no other table
changes. Every allergy is ``active`` and ``confirmed``, recorded on a day between birth and
the last day the patient has a record, with the code's typical reaction; onset is not
recorded (null), as most GP records leave it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from wraparound import clinical
from wraparound.sources.synthetic.events import DATE, Chunk

ADULT_AGE = 18


def _column(values: list, pick: np.ndarray) -> pa.Array:
    return pa.array(np.array(values, dtype=object)[pick], pa.string())


def allergies(chunk: Chunk, rng: np.random.Generator) -> pa.Table:
    """The allergies table (without bookkeeping columns) for one chunk; needs the chunk's
    registrations (``chunk.stop``) drawn first."""
    people, frame = chunk.people, chunk.frame
    codes = clinical.allergies()
    drawn = [a for a in codes if not a.no_known]
    none = [a for a in codes if a.no_known]
    n = people.n
    last = np.minimum(chunk.stop, frame.end) - 1  # the last day the patient has a record
    recorded = last >= people.birth
    adult = people.age_at(frame.end - 1) >= ADULT_AGE
    adult_p = np.array([a.adult_percent for a in drawn]) / 100
    child_p = np.array([a.child_percent for a in drawn]) / 100
    has = rng.uniform(0, 1, (n, len(drawn))) < np.where(adult[:, None], adult_p, child_p)
    has &= recorded[:, None]
    pats, which = np.nonzero(has)
    # Those without an allergy: a "no known allergy" code for some, nothing for the rest.
    u = rng.uniform(0, 1, n)
    adult_c = np.cumsum([a.adult_percent for a in none]) / 100
    child_c = np.cumsum([a.child_percent for a in none]) / 100
    pick = np.where(
        adult, np.searchsorted(adult_c, u, side="right"), np.searchsorted(child_c, u, side="right")
    )
    free = recorded & ~has.any(axis=1) & (pick < len(none))
    none_pats = np.flatnonzero(free)
    pats = np.concatenate([pats, none_pats])
    which = np.concatenate([which, len(drawn) + pick[none_pats]])
    rows = drawn + none
    span = np.maximum(last[pats] - people.birth[pats], 0)
    day = people.birth[pats] + (rng.uniform(0, 1, pats.size) * (span + 1)).astype(np.int64)
    day = np.minimum(day, last[pats])
    m = pats.size

    def field(name: str) -> pa.Array:
        return _column([getattr(a, name) or None for a in rows], which)

    return pa.table(
        {
            "id": chunk.ids("al", m),
            "patient_id": chunk.patient_ids(pats),
            "system": pa.array(np.full(m, "snomed")),
            "code": field("code"),
            "display": field("term"),
            "clinical_status": pa.array(np.full(m, "active")),
            "verification_status": pa.array(np.full(m, "confirmed")),
            "type": field("type"),
            "category": field("category"),
            "criticality": field("criticality"),
            "reaction_code": field("reaction_code"),
            "reaction_display": field("reaction_term"),
            "reaction_severity": field("reaction_severity"),
            "onset_date": pa.nulls(m, DATE),
            "recorded_date": pa.array(day.astype(np.int32), DATE),
        }
    )
